"""Every door Odoo's JSON-RPC opens on the suite's models, tried as an attacker.

``/web/dataset/call_kw`` lets any logged-in user, portal customers
included, call every public method of every model. This test finds those
methods by introspection of the registry (a method added later is tried
too) and calls each through ``odoo.service.model.call_kw``, the function
behind that route, as five users: a portal customer of tenant A, tenant
A's technical API user, an internal user without Emboux groups, an Emboux
user and an Emboux manager. It also tries the standard ORM methods
(create, write of every stored field, unlink, copy, read, search_read) on
every model the suite defines.

Each call runs in a savepoint that is rolled back, between two snapshots
of every table the suite writes. What each role may change:

- the customers (portal user and technical user of A): only A's rows, and
  in them nothing that the API contract reserves to the master;
- the internal user without Emboux groups: nothing;
- the Emboux user (staff, not manager): mailboxes and aliases only;
- the Emboux manager: anything (the master's rights), but a call fails
  only with a user-facing error (never a crash, a 500 over HTTP).

Nothing a non-staff role gets back names tenant B.
"""

import contextlib
import inspect
import itertools
import logging

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.service.model import call_kw, get_public_method
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL, mute_logger

from .provider_common import ProviderServersMixin
from .sending_common import SendingCase

_logger = logging.getLogger(__name__)

SUITE = ("emboux_core", "emboux_saas", "emboux_outbound", "emboux_api")
ORM_METHODS = ("create", "write", "unlink", "copy", "read", "search_read")
CUSTOMERS = ("portal", "tenant_api")
# tables outside the suite that its methods write
EXTRA_TABLES = ("res_users", "res_partner", "ir_mail_server", "ir_config_parameter")
# what the Emboux user may change (it manages mailboxes and aliases)
STAFF_USER_TABLES = {"emboux_mailbox", "emboux_alias", "emboux_deletion_log"}
# rows of its own a customer may create or delete (the C routes)
CUSTOMER_ROW_TABLES = {
    "emboux_domain",
    "emboux_mailbox",
    "emboux_alias",
    "emboux_api_key",
    "emboux_deletion_log",
    "emboux_outbound_counter",
    "emboux_domain_provider_record",
    "res_users",  # none expected: listed so that a domain's cascade is judged by its table
}
HISTORY_TABLES = {"emboux_outbound_daily", "emboux_outbound_monthly"}
# columns of its own rows a customer may not change (the API contract: master only),
# "*" for all; a value -> the one value it may not bring in itself
MASTER_ONLY = {
    "emboux_domain": {
        "tenant_id",
        "parent_id",
        "is_wildcard",
        "outbound_tier_id",
        "outbound_enforcement",
        "outbound_status",
        "warmup_profile",
        "warmup_started_on",
        "spike_max_multiplier",
        "reputation_since",
        "retention_days",
        "monthly_transfer_limit_mb",
        "transfer_used_mb",
        ("verification_status", "verified"),
        ("dkim_status", "verified"),
    },
    "emboux_mailbox": {"domain_id", "email"},
    "emboux_alias": {"domain_id"},
    "emboux_tenant": {
        "partner_id",
        "partner_ref",
        "user_id",
        "max_domains",
        "max_mailboxes_per_domain",
        "max_aliases_per_mailbox",
    },
    "emboux_api_key": {"tenant_id", "key_hash", "prefix", "expires_at"},
    "emboux_outbound_counter": "*",
    "emboux_outbound_daily": "*",
    "emboux_outbound_monthly": "*",
}
META_COLUMNS = {"id", "create_uid", "create_date", "write_uid", "write_date", "__owner"}


class Rollback(Exception):
    """Ends the savepoint of one call."""


@tagged("post_install", "-at_install")
class TestRpcSurface(ProviderServersMixin, SendingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        portal = cls.make_portal_user(cls.tenant_a, "rpc_portal")
        internal = new_test_user(cls.env, login="rpc_internal", groups="base.group_user")
        cls.roles = {
            "portal": portal,
            "tenant_api": cls.tenant_a.user_id,
            "internal": internal,
            "emboux_user": cls.emboux_user,
            "manager": cls.emboux_manager,
        }
        cls.sub_b = cls.Domain.create({"name": "mail.globex.test", "tenant_id": cls.tenant_b.id})
        cls.domain_b.write({"is_wildcard": True})
        cls.Suppression.create({"email": "gone@globex.test", "reason": "manual"})
        cls.add_history(cls, cls.domain_b, 2, 40)
        cls.add_history(cls, cls.domain_a, 2, 40)
        cls.env["emboux.outbound.monthly"].create(
            {"domain_id": cls.domain_b.id, "month": fields.Date.today().replace(day=1), "sent": 9}
        )
        cls.set_counters(cls, cls.domain_a, sent_today=3, sent_this_month=30)
        cls.set_counters(cls, cls.domain_b, sent_today=4, sent_this_month=40)
        cls.own = {  # model -> (A's record, B's record)
            "emboux.domain": (cls.domain_a, cls.domain_b),
            "emboux.mailbox": (cls.mailbox_a, cls.mailbox_b),
            "emboux.alias": (cls.alias_a, cls.alias_b),
            "emboux.tenant": (cls.tenant_a, cls.tenant_b),
            "emboux.api.key": (cls.key_a, cls.key_b),
        }
        cls.markers_b = ("globex", cls.key_b.prefix)
        cls.tables = cls._snapshot_tables()
        cls.live = cls._live_rows()

    def setUp(self):
        super().setUp()
        self.set_default_provider("mailgun")

    # ------------------------------------------------------------------
    # what there is to call
    # ------------------------------------------------------------------
    @classmethod
    def suite_models(cls):
        """Models the suite defines or extends: name -> defined here."""
        models_ = {}
        for name in cls.env.registry:
            model_cls = type(cls.env[name])
            modules = {getattr(k, "_module", None) for k in model_cls.__mro__}
            if modules & set(SUITE):
                models_[name] = model_cls._original_module in SUITE
        return models_

    @classmethod
    def public_methods(cls, model_name):
        """Public methods the suite's classes define on the model (its
        overrides of Odoo's included), as ``call_kw`` lets them through."""
        Model = cls.env[model_name]
        names = set()
        for klass in type(Model).__mro__:
            if getattr(klass, "_module", None) not in SUITE:
                continue
            for name, value in vars(klass).items():
                if name.startswith("_") or not callable(value):
                    continue
                try:
                    get_public_method(Model, name)
                except AccessError:  # private: not a door
                    continue
                names.add(name)
        return sorted(names)

    @classmethod
    def _snapshot_tables(cls):
        """Each table the suite's models store, with the SQL of the tenant
        owning a row (NULL: global)."""
        tables = {}
        for name, defined in cls.suite_models().items():
            Model = cls.env[name]
            if defined and Model._auto and not Model._abstract and not Model._transient:
                tables[Model._table] = None
        for table in EXTRA_TABLES:
            tables[table] = None
        for table in tables:
            columns = {
                row[0]
                for row in cls.env.execute_query(
                    SQL(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                        table,
                    )
                )
            }
            if table == "emboux_tenant":
                owner = SQL("t.id")
            elif "tenant_id" in columns:
                owner = SQL("t.tenant_id")
            elif "domain_id" in columns:
                owner = SQL("(SELECT d.tenant_id FROM emboux_domain d WHERE d.id = t.domain_id)")
            else:
                owner = SQL("NULL::int")
            tables[table] = owner
        return tables

    @classmethod
    def _live_rows(cls):
        """Per table, the ids of its rows now and the highest: a call's
        new rows come above it. Snapshots read only these by index, not
        the dead rows that earlier tests' rolled-back bulk inserts leave
        in the tables until autovacuum passes."""
        cls.env.flush_all()
        live = {}
        for table in cls.tables:
            ids = [
                row[0]
                for row in cls.env.execute_query(
                    SQL("SELECT id FROM %s ORDER BY id", SQL.identifier(table))
                )
            ]
            live[table] = (ids, max(ids, default=0))
        return live

    def snapshot(self):
        self.env.flush_all()
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        snap = {}
        for table, owner in self.tables.items():
            ids, top = self.live[table]
            rows = self.env.execute_query_dict(
                SQL(
                    "SELECT t.*, %s AS __owner FROM %s t WHERE t.id = ANY(%s) OR t.id > %s",
                    owner,
                    SQL.identifier(table),
                    ids,
                    top,
                )
            )
            snap[table] = {row["id"]: row for row in rows}
        return snap

    # ------------------------------------------------------------------
    # what a role may change
    # ------------------------------------------------------------------
    def violations(self, role, before, after):
        tenant_a = self.tenant_a.id
        found = []
        for table in self.tables:
            old, new = before[table], after[table]
            for row_id in old.keys() | new.keys():
                a, b = old.get(row_id), new.get(row_id)
                if a == b or role == "manager":
                    continue
                if role == "emboux_user" and table in STAFF_USER_TABLES:
                    continue
                owner = (a or b)["__owner"]
                if role in CUSTOMERS and owner == tenant_a:
                    bad = self._master_only_changes(table, a, b)
                    if bad:
                        found.append(f"{table} {row_id} of tenant A: {bad}")
                    continue
                what = "created" if a is None else "deleted" if b is None else "changed"
                columns = (
                    sorted(k for k in a if a[k] != b[k] and k not in META_COLUMNS)
                    if a and b
                    else []
                )
                found.append(f"{table} {row_id} (tenant {owner}) {what} {columns}")
        return found

    @staticmethod
    def _master_only_changes(table, before, after):
        if before is None:
            return None if table in CUSTOMER_ROW_TABLES else "row created"
        if after is None:  # a deleted domain takes its history along
            return None if table in CUSTOMER_ROW_TABLES | HISTORY_TABLES else "row deleted"
        protected = MASTER_ONLY.get(table, ())
        changed = []
        for column in before:
            if column in META_COLUMNS or before[column] == after[column]:
                continue
            for rule in ("*",) if protected == "*" else protected:
                if rule == "*" or rule == column:
                    changed.append(column)
                elif isinstance(rule, tuple) and rule[0] == column and after[column] == rule[1]:
                    changed.append(f"{column}={rule[1]}")
        return changed

    # ------------------------------------------------------------------
    # arguments: by parameter name (a new parameter needs a line here)
    # ------------------------------------------------------------------
    def argument_values(self):
        pro = self.pro
        return {
            "source": [f"x@{self.domain_b.name}", "y@acme.test"],
            "destination": ["bob@globex.test"],
            "days": [3],
            "mb": [5],
            "pw": ["a long enough password"],
            "tier": [pro.code],
            "enforcement": ["off"],
            "status": ["paused"],
            "values": [
                {"daily_limit": 1},
                {"outbound_tier": pro.code, "outbound_status": "active"},
                {"warmup_profile": "fast", "spike_max_multiplier": 100.0},
            ],
            "count": [5],
            "recipients": [["x@example.org"]],
            "size_bytes": [10],
            "email": ["bob@globex.test", "gone@globex.test"],
            "tenant": [self.tenant_b.partner_ref, self.tenant_b.id],
            "name": ["rpc key"],
            "expires_at": [None],
            "parent": [self.domain_b.name, None],
            "wildcard": [True],
            "quotas": [{"max_domains": 99}],
            "provider": ["ses", "smtp"],
            "default": [None],
            # mail.thread's doors on the audited models
            "partner_ids": [[self.env.ref("base.partner_admin").id]],
            "new_thread": [self.domain_b],
            "kwargs": [{"body": "rpc notify"}],
            "vals_list": None,  # create: see create_values
            "vals": None,  # write: see write_values
        }

    def create_values(self, model_name):
        partner = self.env["res.partner"].create({"name": "RPC Co", "is_company": True})
        return {
            "emboux.domain": [
                {"name": "new.globex.test"},
                {"name": "rpc-fresh.test", "tenant_id": self.tenant_b.id},
                {"name": "rpc-ref.test", "partner_ref": self.tenant_b.partner_ref},
                {"name": "rpc-tier.test", "outbound_tier_id": self.pro.id},
            ],
            "emboux.mailbox": [
                {"email": "x@globex.test", "password": "a long enough password"},
                {"email": "x@acme.test", "password": "a long enough password", "quota_mb": 9},
            ],
            "emboux.alias": [
                {"source": "x@globex.test", "destination": "ann@acme.test"},
                {"source": "@globex.test", "destination": "ann@acme.test"},
            ],
            "emboux.tenant": [{"partner_id": partner.id, "partner_ref": "rpc-tenant"}],
            "emboux.api.key": [
                {"tenant_id": self.tenant_b.id, "name": "x"},
                {"tenant_id": self.tenant_a.id, "name": "y"},
            ],
            "emboux.suppression": [{"email": "z@example.org", "reason": "manual"}],
            "emboux.outbound.tier": [{"code": "rpc", "name": "RPC", "daily_limit": 1}],
            "emboux.api.key.generate": [{"tenant_id": self.tenant_b.id, "name": "wizard"}],
        }.get(model_name)

    def write_values(self, Model, record):
        """One ``{field: value}`` per stored field a form could send: an
        attacker's value (another tenant's record, another selection)."""
        b_records = {model: pair[1] for model, pair in self.own.items()}
        for fname, field in sorted(Model._fields.items()):
            if not field.store or field.compute or fname in META_COLUMNS | {"display_name"}:
                continue
            current = record[fname] if record else None
            if field.type == "many2one":
                target = b_records.get(field.comodel_name)
                if target is None:
                    target = self.env[field.comodel_name].sudo().search([], limit=1)
                value = target.id
            elif field.type in ("integer", "monetary"):
                value = 7
            elif field.type == "float":
                value = 3.0
            elif field.type == "boolean":
                value = not current
            elif field.type in ("char", "text", "html"):
                value = "rpc@acme.test" if "email" in fname or fname == "source" else "rpc.test"
            elif field.type == "selection":
                options = [
                    key for key, _label in field._description_selection(self.env) if key != current
                ]
                if not options:
                    continue
                value = options[0]
            elif field.type in ("date", "datetime"):
                value = fields.Date.today() if field.type == "date" else fields.Datetime.now()
            elif field.type == "many2many":
                value = [Command.clear()]
            else:
                continue
            yield {fname: value}

    def calls(self, model_name):
        """``(label, method, args, kwargs)`` for the model: its public
        methods on A's and B's records (or on the model), and the ORM."""
        Model = self.env[model_name]
        stored = Model._auto and not Model._abstract
        pair = self.own.get(model_name)
        if pair is None and Model._transient:
            first = Model.sudo().create((self.create_values(model_name) or [{}])[0])
            pair = (first, first)
        elif pair is None:
            first = Model.sudo().search([], limit=1) if stored else Model.browse()
            pair = (first, first)
        targets = {"A": pair[0], "B": pair[1]}
        methods = set(self.public_methods(model_name))
        if self.suite_models()[model_name] and stored:
            methods |= set(ORM_METHODS)
        for name in sorted(methods):
            if name in ORM_METHODS:
                yield from self.orm_calls(Model, name, targets)
            else:
                yield from self.method_calls(Model, name, targets)

    def orm_calls(self, Model, name, targets):
        if name == "create":
            for vals in self.create_values(Model._name) or []:
                yield f"create({vals})", name, [[vals]], {}
        elif name == "write":
            for side, record in targets.items():
                for vals in self.write_values(Model, record) if record else ():
                    yield f"write({side}, {vals})", name, [record.ids, vals], {}
        elif name in ("read", "search_read"):
            yield "search_read([])", "search_read", [[]], {}
            for side, record in targets.items():
                yield f"read({side})", "read", [record.ids], {}
        else:  # unlink, copy
            for side, record in targets.items():
                if record:
                    yield f"{name}({side})", name, [record.ids], {}

    def method_calls(self, Model, name, targets):
        method = getattr(type(Model), name)
        values = self.argument_values()
        variants = []
        for param in inspect.signature(method).parameters.values():
            if param.name == "self":
                continue
            if param.kind is param.VAR_KEYWORD:
                variants.append([("**", v) for v in values[param.name]])
            elif values.get(param.name) is not None:
                variants.append([(param.name, v) for v in values[param.name]])
            elif param.default is param.empty:
                self.fail(
                    f"{Model._name}.{name}: no test value for parameter '{param.name}'; "
                    "add it to argument_values()"
                )
        is_model_method = getattr(method, "_api_model", False)
        sides = {"model": Model.browse()} if is_model_method else targets
        if not is_model_method and not targets["A"]:
            return  # no record to call it on
        for side, record in sides.items():
            for combo in list(itertools.product(*variants))[:4]:
                kwargs = {}
                for key, value in combo:
                    kwargs.update(value if key == "**" else {key: value})
                args = [] if is_model_method else [record.ids]
                yield f"{name}({side}, {kwargs})", name, args, kwargs

    # ------------------------------------------------------------------
    # the test
    # ------------------------------------------------------------------
    def call_as(self, user, model_name, name, args, kwargs):
        """``(result, exception)`` of the call as ``user``, and the
        snapshots around it; everything rolled back after."""
        before = self.snapshot()
        result = error = after = None
        with contextlib.suppress(Rollback), self.env.cr.savepoint():
            try:
                # a failed call is rolled back, as its request would be
                with self.env.cr.savepoint():
                    result = call_kw(self.env(user=user)[model_name], name, args, kwargs)
            except Exception as exc:  # noqa: BLE001 judged below
                error = exc
            after = self.snapshot()
            raise Rollback
        self.env.cr.postcommit.clear()
        self.env.invalidate_all()
        return result, error, before, after

    @mute_logger(
        "odoo.sql_db",
        "odoo.addons.emboux_outbound.models.emboux_domain_provider",
        "odoo.addons.emboux_outbound.models.emboux_domain_provider_sync",
        "odoo.addons.emboux_outbound.models.emboux_domain_provider_change",
        "odoo.addons.emboux_outbound.providers.mailgun",
        "odoo.models.unlink",
        "odoo.addons.base.models.ir_rule",
        "odoo.addons.base.models.ir_model",
    )
    def test_every_door(self):
        suite_models = self.suite_models()
        self.assertIn("emboux.outbound.counter", suite_models)
        problems = []
        count = 0
        refused = 0
        for model_name in sorted(suite_models):
            for label, name, args, kwargs in self.calls(model_name):
                for role, user in self.roles.items():
                    result, error, before, after = self.call_as(
                        user, model_name, name, args, kwargs
                    )
                    count += 1
                    where = f"{role}: {model_name}.{label}"
                    if isinstance(error, IntegrityError):
                        error = UserError(str(error))  # Odoo's retrying() says it so
                    if error is not None and not isinstance(error, UserError):
                        problems.append(f"{where} crashed: {type(error).__name__}: {error}")
                        continue
                    refused += error is not None
                    for change in self.violations(role, before, after):
                        problems.append(f"{where} changed {change}")
                    if role not in ("emboux_user", "manager") and error is None:
                        text = repr(result)
                        leaked = [m for m in self.markers_b if m and m in text]
                        if leaked:
                            problems.append(f"{where} returned tenant B's data: {text[:200]}")
        _logger.info(
            "RPC surface: %s calls, %s refused, %s problems", count, refused, len(problems)
        )
        self.assertGreater(count, 1000)
        self.assertFalse(problems, "\n".join(problems[:80]))
