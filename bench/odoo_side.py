"""The in-database half of the benchmarks, run inside Odoo (its registry,
the suite's models) by ``bench/run.py`` as a subprocess:

    python bench/odoo_side.py DB seed-api CUSTOMER_REF DOMAINS CUSTOMER_DOMAINS
    python bench/odoo_side.py DB scale TENANTS DOMAINS MAILBOXES_PER_DOMAIN

Rows are inserted with set-based SQL for speed, every column filled as the
models fill it: the models' own defaults (``default_get``), the stored
computed and related columns (``local_part``, ``catch_all``, ``partner_id``)
as their computes set them, a real SHA512-CRYPT hash from the suite's
``hash_password``. Then the models' own methods and the mail servers' real
queries (``mailserver/``) are timed. The answer is one JSON line on stdout,
after the marker ``BENCH-JSON``.
"""

import datetime
import json
import os
from pathlib import Path
import statistics
import sys
import time

TOP = Path(__file__).resolve().parents[1]
MARKER = "BENCH-JSON "
# the queries Postfix and Dovecot send (mailserver/postfix/*.cf,
# mailserver/dovecot/dovecot-sql.conf.ext), %s = the key looked up
LOOKUPS = {
    "emboux_postfix_domains": "SELECT 1 FROM emboux_postfix_domains WHERE domain = %s",
    "emboux_postfix_mailboxes": "SELECT maildir FROM emboux_postfix_mailboxes WHERE email = %s",
    "emboux_postfix_aliases": "SELECT destination FROM emboux_postfix_aliases WHERE source = %s",
    "emboux_postfix_recipient_access": (
        "SELECT action FROM emboux_postfix_recipient_access WHERE key = %s"
    ),
    "emboux_dovecot_users (passdb)": (
        "SELECT email AS user, password FROM emboux_dovecot_users"
        " WHERE email = %s AND login_allowed"
    ),
    "emboux_dovecot_users (userdb)": (
        "SELECT '/var/vmail/' || maildir AS home, 'maildir:/var/vmail/' || maildir AS mail,"
        " quota_rule FROM emboux_dovecot_users WHERE email = %s"
    ),
}
BENCH_PASSWORD = "bench password 1"


def open_env(db):
    """An Odoo environment (superuser) on ``db``, as ``odoo shell`` makes it."""
    import odoo  # noqa: F401  (the venv's Odoo)
    from odoo import api
    from odoo.modules.registry import Registry
    from odoo.service import server
    from odoo.tools import config

    config.parse_config(
        [f"--addons-path={TOP}", "-d", db, "--log-level=warn", "--no-http"],
        setup_logging=True,
    )
    server.start(preload=[], stop=True)
    registry = Registry(db)
    cr = registry.cursor()
    return api.Environment(cr, api.SUPERUSER_ID, {})


# ---------------------------------------------------------------------------
# set-based inserts
# ---------------------------------------------------------------------------
def _literal(cr, value):
    return cr.mogrify("%s", [value]).decode()


def insert_select(env, model, exprs, from_sql, params=()):
    """``INSERT INTO <model table> (...) SELECT ... <from_sql>``: ``exprs``
    (column -> SQL expression) first, then the model's defaults for every
    other stored column, then the log columns; a required column left
    without a value is an error here, not a NULL in the table. Answers the
    row count."""
    Model = env[model]
    cr = env.cr
    stored = [
        name
        for name, field in Model._fields.items()
        if field.store and field.column_type and name != "id"
    ]
    defaults = Model.default_get(stored)
    columns, values = [], []
    for name in stored:
        field = Model._fields[name]
        if name in exprs:
            expr = exprs[name]
        elif name in ("create_uid", "write_uid"):
            expr = str(env.uid)
        elif name in ("create_date", "write_date"):
            expr = "(now() AT TIME ZONE 'UTC')"
        elif name in defaults:
            value = defaults[name]
            if field.type == "many2one" and isinstance(value, tuple | list):
                value = value[0]
            if value is False and field.type != "boolean":
                value = None  # the ORM's "no value" is NULL in the table
            expr = _literal(cr, value)
        elif field.required:
            raise ValueError(f"{model}.{name} is required and has no value")
        else:
            continue
        columns.append(name)
        values.append(f"{expr} AS {name}")
    cr.execute(
        f"INSERT INTO {Model._table} ({', '.join(columns)}) SELECT {', '.join(values)} {from_sql}",
        tuple(params),  # always formatted: every % of the SQL is written %%
    )
    return cr.rowcount


def create_tenants(env, count, prefix="bench-t-"):
    """``count`` tenants: their partners through the ORM (a batch create),
    the tenants by SQL (no technical API user: none of them calls the API).
    ``domains_used`` starts at 0 for the reconciliation to correct."""
    partners = env["res.partner"].create(
        [{"name": f"Bench customer {i}", "is_company": True} for i in range(count)]
    )
    env.flush_all()
    return insert_select(
        env,
        "emboux.tenant",
        {
            "partner_id": "p.id",
            "partner_ref": f"'{prefix}' || lpad(p.n::text, 4, '0')",
            "max_domains": "0",
            "domains_used": "0",
        },
        "FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n"
        "        FROM res_partner WHERE id IN %s) p",
        (tuple(partners.ids),),
    )


def insert_domains(env, names_sql, params=(), extra=None):
    """Domains from ``names_sql``: a FROM clause with columns ``name``,
    ``tenant_id`` (may be NULL), ``status``, ``parent_id``, ``is_wildcard``."""
    exprs = {
        "name": "s.name",
        "status": "s.status",
        "tenant_id": "s.tenant_id",
        "partner_id": "(SELECT t.partner_id FROM emboux_tenant t WHERE t.id = s.tenant_id)",
        "parent_id": "s.parent_id",
        "is_wildcard": "s.is_wildcard",
        **(extra or {}),
    }
    return insert_select(env, "emboux.domain", exprs, names_sql, params)


def insert_mailboxes(env, domain_where, per_domain, params=()):
    """``per_domain`` mailboxes ``u<j>@<domain>`` on the domains of
    ``domain_where``, with a real SHA512-CRYPT hash (one for all)."""
    from odoo.addons.emboux_core.tools import hash_password

    password_hash = hash_password(BENCH_PASSWORD)
    return insert_select(
        env,
        "emboux.mailbox",
        {
            "email": "'u' || j || '@' || d.name",
            "local_part": "'u' || j",
            "domain_id": "d.id",
            "partner_id": "d.partner_id",
            "name": "'Bench user ' || j",
            "password_hash": _literal(env.cr, password_hash),
            # one inactive mailbox every ~97 domains
            "active": "NOT (j = 2 AND d.id %% 97 = 0)",
            "used_mb_reported": "false",
        },
        f"FROM emboux_domain d CROSS JOIN generate_series(1, {int(per_domain)}) j "
        f"WHERE {domain_where}",
        params,
    )


def insert_aliases(env, domain_where, params=()):
    """One alias per domain of ``domain_where``: ``info@`` to ``u1@``, and
    every tenth domain a catch-all ``@domain`` to ``u1@`` instead."""
    return insert_select(
        env,
        "emboux.alias",
        {
            "source": "CASE WHEN d.id %% 10 = 0 THEN '@' ELSE 'info@' END || d.name",
            "destination": "'u1@' || d.name",
            "domain_id": "d.id",
            "partner_id": "d.partner_id",
            "catch_all": "d.id %% 10 = 0",
        },
        f"FROM emboux_domain d WHERE {domain_where}",
        params,
    )


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def seed_api(env, customer_ref, domains, customer_domains):
    """``domains`` domains for the REST benchmark: the first
    ``customer_domains`` owned by the tenant ``customer_ref`` (made through
    the API), the rest by nobody (the master's)."""
    tenant = env["emboux.tenant"]._find_by_ref(customer_ref)
    assert tenant, customer_ref
    start = time.perf_counter()
    n = insert_domains(
        env,
        "FROM (SELECT 'seed-' || lpad(g::text, 5, '0') || '.bench.example' AS name,"
        "             CASE WHEN g <= %s THEN %s END AS tenant_id,"
        "             'active' AS status, NULL::int AS parent_id, false AS is_wildcard"
        "        FROM generate_series(1, %s) g) s",
        (customer_domains, tenant.id, domains),
    )
    env.flush_all()
    env["emboux.tenant"]._reconcile_domains_used()
    env.cr.commit()
    return {"domains": n, "seconds": time.perf_counter() - start}


def prepare_send(env, first, count):
    """Let the seeded domains ``seed-<first>`` .. send: verified, no warm-up,
    enforcement ``off`` (every decision is computed and counted, none
    refused), for the send-decision cases."""
    names = [f"seed-{n:05}.bench.example" for n in range(first, first + count)]
    domains = env["emboux.domain"].search([("name", "in", names)])
    domains.write({"warmup_profile": False, "outbound_enforcement": "off"})
    for domain in domains:
        domain._set_verification("verified")
    env.cr.commit()
    return {"domains": len(domains)}


def _timed(fn, repeat=1):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def _plan_nodes(node, out):
    out.append(node)
    for child in node.get("Plans", []):
        _plan_nodes(child, out)
    return out


def explain(cr, query, params, repeat=50):
    """EXPLAIN ANALYZE of ``query`` and its plain run ``repeat`` times."""
    cr.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params)
    plan = cr.fetchone()[0][0]
    nodes = _plan_nodes(plan["Plan"], [])
    scans = sorted(
        {
            f"{n['Node Type']} on {n.get('Relation Name')}"
            + (f" ({n['Index Name']})" if n.get("Index Name") else "")
            for n in nodes
            if "Scan" in n["Node Type"] and n.get("Relation Name")
        }
    )
    seq = sorted(
        {
            f"{n['Relation Name']} ({int(n.get('Actual Rows', 0) * n.get('Actual Loops', 1))}"
            f" rows read out of {n.get('Plan Rows')} planned, filter: {n.get('Filter', '-')})"
            for n in nodes
            if n["Node Type"] == "Seq Scan" and n.get("Relation Name", "").startswith("emboux_")
        }
    )
    rows = None

    def run():
        cr.execute(query, params)
        return cr.fetchall()

    rows, times = _timed(run, repeat)
    return {
        "planning_ms": plan["Planning Time"],
        "execution_ms": plan["Execution Time"],
        "median_ms": statistics.median(times) * 1000,
        "rows": len(rows),
        "scans": scans,
        "seq_scans": seq,
        "shared_read": plan["Plan"].get("Shared Read Blocks", 0),
        "shared_hit": plan["Plan"].get("Shared Hit Blocks", 0),
    }


def null_pattern_check(env):
    """Columns an ORM-made row (the REST benchmark's) fills but a seeded row
    leaves NULL: should be none."""
    gaps = {}
    for model, seeded_where in (
        ("emboux.domain", "name LIKE 'd%%.bench.example'"),
        ("emboux.mailbox", "email LIKE 'u1@d%%.bench.example'"),
        ("emboux.alias", "source LIKE 'info@d%%.bench.example'"),
    ):
        table = env[model]._table
        cr = env.cr
        cr.execute(f"SELECT * FROM {table} WHERE {seeded_where} LIMIT 1")
        seeded = cr.dictfetchone()
        cr.execute(f"SELECT * FROM {table} WHERE create_uid <> 1 ORDER BY id DESC LIMIT 1")
        orm = cr.dictfetchone()
        if seeded and orm:
            missing = [c for c, v in orm.items() if v is not None and seeded.get(c) is None]
            missing = [c for c in missing if c not in ("suspended_by_id", "activated_by_id")]
            if missing:
                gaps[table] = missing
    return gaps


def scale(env, tenants, domains, per_domain):
    cr = env.cr
    out = {"seed": {}, "timings": {}, "lookups": {}}

    # -- seed -----------------------------------------------------------
    start = time.perf_counter()
    out["seed"]["tenants"] = create_tenants(env, tenants)
    # tenant k: row number k (0-based) of the bench tenants
    tenant_rows = (
        "(SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM emboux_tenant"
        " WHERE partner_ref LIKE 'bench-t-%%')"
    )
    plain = domains - 4 * tenants
    n = insert_domains(
        env,
        "FROM (SELECT 'd' || lpad(g::text, 6, '0') || '.bench.example' AS name,"
        "             t.id AS tenant_id,"
        "             CASE WHEN g %% 100 = 0 THEN 'suspended' ELSE 'active' END AS status,"
        "             NULL::int AS parent_id, false AS is_wildcard"
        f"        FROM generate_series(1, %s) g JOIN {tenant_rows} t ON t.k = g %% %s) s",
        (plain, tenants),
    )
    # per tenant a chain: w<k> (wildcard) <- a.w<k> (wildcard) <- x.a.w<k>,
    # and b.w<k> <- w<k>
    n += insert_domains(
        env,
        "FROM (SELECT 'w' || lpad(t.k::text, 4, '0') || '.bench.example' AS name,"
        "             t.id AS tenant_id, 'active' AS status, NULL::int AS parent_id,"
        f"             true AS is_wildcard FROM {tenant_rows} t) s",
    )
    for child, parent, wildcard in (("a.", "", "true"), ("b.", "", "false"), ("x.", "a.", "false")):
        n += insert_domains(
            env,
            f"FROM (SELECT '{child}' || p.name AS name, p.tenant_id, 'active' AS status,"
            f"             p.id AS parent_id, {wildcard} AS is_wildcard"
            "        FROM emboux_domain p"
            f"       WHERE p.name LIKE '{parent}w____.bench.example' AND p.is_wildcard) s",
        )
    out["seed"]["domains"] = n
    bench_domains = "d.partner_id IN (SELECT partner_id FROM emboux_tenant"
    bench_domains += " WHERE partner_ref LIKE 'bench-t-%%')"
    out["seed"]["mailboxes"] = insert_mailboxes(env, bench_domains, per_domain)
    out["seed"]["aliases"] = insert_aliases(env, bench_domains)
    cr.commit()
    out["seed"]["insert_s"] = time.perf_counter() - start
    start = time.perf_counter()
    cr.execute("ANALYZE emboux_tenant, emboux_domain, emboux_mailbox, emboux_alias, res_partner")
    out["seed"]["analyze_s"] = time.perf_counter() - start
    out["seed"]["null_gaps"] = null_pattern_check(env)
    cr.execute("SELECT count(*) FROM emboux_domain")
    out["seed"]["domains_total"] = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM emboux_mailbox")
    out["seed"]["mailboxes_total"] = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM emboux_alias")
    out["seed"]["aliases_total"] = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM emboux_tenant")
    out["seed"]["tenants_total"] = cr.fetchone()[0]
    env.invalidate_all()

    # -- the models' own set-based methods -----------------------------
    Tenant = env["emboux.tenant"]

    def reconcile():
        n = Tenant._reconcile_domains_used()
        cr.commit()
        return n

    drifted, times = _timed(reconcile)
    out["timings"]["reconcile_drift"] = {"s": times[0], "changed": drifted}
    drifted, times = _timed(reconcile, repeat=3)
    out["timings"]["reconcile_clean"] = {"s": statistics.median(times), "changed": drifted}
    cr.execute(
        "SELECT count(*) FROM emboux_tenant t WHERE domains_used <>"
        " (SELECT count(*) FROM emboux_domain d WHERE d.tenant_id = t.id)"
    )
    out["timings"]["reconcile_wrong_after"] = cr.fetchone()[0]

    # -- the mail servers' lookups ----------------------------------------
    mid = plain // 2 // 100 * 100
    hit, suspended = f"d{mid + 45:06}.bench.example", f"d{mid:06}.bench.example"
    cr.execute(
        "SELECT source FROM emboux_alias WHERE catch_all AND source LIKE '@d%%' ORDER BY source"
        " OFFSET %s LIMIT 1",
        (plain // 20,),
    )
    (catch_all,) = cr.fetchone()
    keys = {
        "emboux_postfix_domains": [("hit", hit), ("miss", "no.example")],
        "emboux_postfix_mailboxes": [("hit", "u1@" + hit), ("miss", "nobody@" + hit)],
        "emboux_postfix_aliases": [
            ("hit", "info@" + hit),
            ("catch-all", catch_all),
            ("miss", "nobody@" + hit),
        ],
        "emboux_postfix_recipient_access": [("suspended", suspended), ("miss", hit)],
        "emboux_dovecot_users (passdb)": [("hit", "u1@" + hit)],
        "emboux_dovecot_users (userdb)": [("hit", "u2@" + hit)],
    }
    for view, query in LOOKUPS.items():
        for label, key in keys[view]:
            out["lookups"][f"{view} [{label}]"] = explain(cr, query, (key,))

    # -- effective outbound of one domain ---------------------------------
    deep = f"x.a.w{tenants // 2:04}.bench.example"
    cr.execute("SELECT id, name FROM emboux_domain WHERE name = %s", (deep,))
    deep_id, deep_name = cr.fetchone()
    cr.execute("SELECT id FROM emboux_domain WHERE name = %s", (hit,))
    (plain_id,) = cr.fetchone()
    view_query = "SELECT * FROM emboux_domain_effective_outbound WHERE domain_id = %s"
    out["lookups"]["emboux_domain_effective_outbound [2 parents]"] = explain(
        cr, view_query, (deep_id,)
    )
    out["lookups"]["emboux_domain_effective_outbound [no parent]"] = explain(
        cr, view_query, (plain_id,)
    )
    Domain = env["emboux.domain"]
    # the limits the send decision reads: one domain (and two) by index
    today = datetime.date.today()
    for label, ids in (("1 domain", [plain_id]), ("2 domains", [plain_id, deep_id])):
        limits = Domain._outbound_limits_sql(ids, today)
        out["lookups"][f"send decision limits [{label}]"] = explain(cr, limits.code, limits.params)

    def read_sql():
        env.invalidate_all()
        return Domain.browse(deep_id)._read_effective_outbound_sql()

    result, times = _timed(read_sql, repeat=20)
    out["timings"]["read_effective_outbound_sql_1"] = {
        "s": statistics.median(times),
        "inherited_from": result[deep_id]["inherited_from"],
    }
    tenant_domains = Domain.search([("tenant_id.partner_ref", "=", f"bench-t-{tenants // 2:04}")])

    def read_sql_tenant():
        env.invalidate_all()
        return tenant_domains._read_effective_outbound_sql()

    result, times = _timed(read_sql_tenant, repeat=5)
    out["timings"]["read_effective_outbound_sql_tenant"] = {
        "s": statistics.median(times),
        "domains": len(result),
    }
    cr.execute("SELECT count(*) FROM emboux_domain_effective_outbound")
    start = time.perf_counter()
    cr.execute("SELECT count(*) FROM emboux_domain_effective_outbound")
    out["timings"]["effective_outbound_all"] = {
        "s": time.perf_counter() - start,
        "rows": cr.fetchone()[0],
    }
    out["deep_domain"] = deep_name

    # -- the daily and monthly resets, set-based ---------------------------
    Counter = env["emboux.outbound.counter"]
    Counter._ensure_rows()
    cr.execute(
        "UPDATE emboux_outbound_counter SET sent_today = 3, sent_this_month = 9,"
        " transfer_bytes = 100"
    )
    for name in ("reset_daily", "reset_monthly"):
        start = time.perf_counter()
        reset = getattr(Counter, name)()
        out["timings"][name] = {"s": time.perf_counter() - start, "domains": reset}
    cr.rollback()
    return out


def main(argv):
    db, command, *args = argv
    env = open_env(db)
    try:
        if command == "seed-api":
            result = seed_api(env, args[0], int(args[1]), int(args[2]))
        elif command == "prepare-send":
            result = prepare_send(env, int(args[0]), int(args[1]))
        elif command == "scale":
            result = scale(env, int(args[0]), int(args[1]), int(args[2]))
        else:
            raise SystemExit(f"unknown command {command}")
    finally:
        env.cr.rollback()
        env.cr.close()
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
