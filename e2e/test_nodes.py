"""Two Odoo nodes on one database share the work and do nothing twice.

e2e/conftest.py starts two prefork Odoo servers (``--workers=2``, one cron
worker each, ``proxy_mode``) on the same database and the same
``data_dir``, on their own ports. The live tests of tests/ run across both
(``cluster.Balanced`` sends each request to the next node in turn, so two
requests made at once land on two nodes):

- parallel creates for a tenant's last free domain slot: one 201, one 403
  (tests/test_api_live.py);
- 400 policy-service and 100 REST send decisions at once on one domain
  under a daily limit of 100: exactly 100 allowed and counted
  (tests/test_policy_load.py; the policy service asks PostgreSQL, the REST
  increments go to both nodes);
- a revoked API key answers 401 at once on every worker of both nodes.

Then: a cron triggered while both nodes' cron workers wait runs once per
trigger (Odoo's cron locking: ``FOR NO KEY UPDATE SKIP LOCKED``), and a
portal login made on one node is a session on the other. Printed only:
REST send decisions per second with both nodes and with one.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
import re
import secrets
import threading
import time

from cluster import POLICY_PASSWORD, POLICY_ROLE, TIMEOUT, Balanced
from live_odoo import PYTHON, TOP, free_port
import policy_load
import psycopg2
import pytest
import requests
import test_api_live
from test_api_live import Client, RpcSession, expect
import test_policy_load

CRON_NAME = "e2e: once per trigger"
# the job takes a second: the other node's worker wakes up meanwhile
CRON_CODE = """
time.sleep(1)
env["ir.logging"].sudo().create({
    "name": "e2e-cron", "type": "server", "level": "INFO", "message": "ran",
    "path": "e2e", "func": "cron", "line": "0",
})
"""
TRIGGERS = 6


@pytest.fixture
def balanced(cluster):
    return Balanced(cluster.nodes)


def served_by_both(balanced):
    return set(balanced.served) == {node.port for node in balanced.nodes}


def test_both_nodes_serve_the_one_database(cluster):
    a, b = cluster.nodes
    expect(cluster.api(a, "POST", "/domains/", json={"name": "nodes-e2e.example"}), 201)
    body = expect(cluster.api(b, "GET", "/domains/nodes-e2e.example"), 200)
    assert body["name"] == "nodes-e2e.example"
    expect(cluster.api(b, "DELETE", "/domains/nodes-e2e.example"), 204)
    expect(cluster.api(a, "GET", "/domains/nodes-e2e.example"), 404)


def test_parallel_creates_across_nodes(balanced):
    api = Client(balanced)
    test_api_live.test_parallel_creates_of_one_domain(balanced, api)
    test_api_live.test_parallel_creates_for_the_last_free_slot(balanced, api)
    assert served_by_both(balanced), balanced.served


def test_customer_flow_across_nodes(balanced):
    """API keys, tenants, isolation; a revoked key is refused at once on
    both nodes (four requests in turn: every worker of both)."""
    test_api_live.test_customer_flow(balanced, Client(balanced))
    assert served_by_both(balanced), balanced.served


def test_sends_under_a_limit_across_nodes(cluster, balanced, monkeypatch, tmp_path):
    # the live test's own database and master token are this cluster's
    monkeypatch.setattr(test_policy_load, "DB", cluster.db)
    monkeypatch.setattr(test_policy_load, "TOKEN", cluster.token)
    policyd = policy_load.PolicyService(
        tmp_path,
        dsn=f"host=127.0.0.1 port=5432 dbname={cluster.db} user={POLICY_ROLE} "
        f"password={POLICY_PASSWORD}",
        port=free_port(),
        python=PYTHON,
        script=TOP / "mailserver" / "policyd" / "emboux_policyd.py",
        pool_size=8,
    ).start()
    try:
        test_policy_load.test_500_at_once_on_one_domain_daemon_and_rest_mixed(balanced, policyd)
    finally:
        policyd.stop()
    assert served_by_both(balanced), balanced.served


def increments(paths, nodes, token, seconds):
    """One client per path in ``paths`` sending REST send decisions (one
    message each) for ``seconds``, client ``i`` to ``nodes[i % len(nodes)]``:
    the latencies of the answers."""
    deadline = time.monotonic() + seconds
    latencies, lock = [], threading.Lock()

    def client(i):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = nodes[i % len(nodes)].url(paths[i])
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = session.post(url, json={}, timeout=TIMEOUT)
            assert response.status_code == 200 and response.json()["allowed"], response.text
            with lock:
                latencies.append(time.perf_counter() - started)

    with ThreadPoolExecutor(len(paths)) as pool:
        list(pool.map(client, range(len(paths))))
    return sorted(latencies)


def test_send_decisions_per_second_on_two_nodes_and_one(cluster, figures):
    """Figures only (the nodes share the machine's two cores): 16 clients,
    each on a domain of its own (one hot domain is the race tests' case:
    its decisions queue on one row, and Odoo retries the transactions that
    meet a concurrent update); every answered decision counted once."""
    names = [f"rate{i:02d}.nodes.example" for i in range(16)]
    for name in names:
        expect(cluster.api(cluster.nodes[0], "POST", "/domains/", json={"name": name}), 201)
    cluster.sql(
        "UPDATE emboux_domain SET verification_status = 'verified', warmup_profile = NULL,"
        " outbound_enforcement = 'off' WHERE name = ANY(%s)",
        (names,),
    )
    paths = [f"/domains/{name}/outbound/increment" for name in names]
    total = 0
    for label, nodes in (("two nodes", cluster.nodes), ("one node", cluster.nodes[:1])):
        started = time.monotonic()
        latencies = increments(paths, nodes, cluster.token, 8)
        elapsed = time.monotonic() - started
        total += len(latencies)
        p50, p99 = (latencies[int(len(latencies) * q)] * 1000 for q in (0.5, 0.99))
        figures(
            f"REST send decisions, 16 clients on 16 domains, {label}: "
            f"{len(latencies) / elapsed:.0f}/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        )
    counted = cluster.sql(
        "SELECT sum(c.sent_today) FROM emboux_outbound_counter c"
        " JOIN emboux_domain d ON d.id = c.domain_id WHERE d.name = ANY(%s)",
        (names,),
    )[0][0]
    assert counted == total


def trigger(db, cron_id):
    """What ``ir.cron._trigger()`` does: a trigger row due now, and the
    notification that wakes every cron worker at once."""
    with psycopg2.connect(dbname=db) as conn, conn.cursor() as cr:
        cr.execute(
            "INSERT INTO ir_cron_trigger (cron_id, call_at) VALUES (%s, now() AT TIME ZONE 'UTC')",
            [cron_id],
        )
    conn.close()
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("SELECT pg_notify('cron_trigger', %s)", [db])
    conn.close()


def test_a_cron_runs_once_per_trigger_not_once_per_node(cluster, figures):
    for node in cluster.nodes:
        assert re.search(r"Worker WorkerCron \(\d+\) alive", node.log()), node.log()[-3000:]
    admin = RpcSession(cluster.nodes[0], "admin", "admin")
    [model] = admin.call_kw(
        "ir.model", "search_read", [("model", "=", "ir.logging")], fields=["id"]
    )["result"]
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    cron_id = admin.call_kw(
        "ir.cron",
        "create",
        {
            "name": CRON_NAME,
            "model_id": model["id"],
            "state": "code",
            "code": CRON_CODE,
            "interval_number": 1,
            "interval_type": "days",
            # only the triggers run it
            "nextcall": tomorrow.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )["result"]
    assert isinstance(cron_id, int), cron_id

    def runs():
        return cluster.sql("SELECT count(*) FROM ir_logging WHERE name = 'e2e-cron'")[0][0]

    for count in range(1, TRIGGERS + 1):
        trigger(cluster.db, cron_id)
        deadline = time.monotonic() + 60
        while runs() < count:
            assert time.monotonic() < deadline, f"trigger {count} did not run"
            time.sleep(0.1)
    time.sleep(3)  # a second run would have started by now
    assert runs() == TRIGGERS
    started = re.compile(rf"Job '{re.escape(CRON_NAME)}' \({cron_id}\) starting")
    per_node = {node.port: len(started.findall(node.log())) for node in cluster.nodes}
    assert sum(per_node.values()) == TRIGGERS, per_node
    figures(f"cron: {TRIGGERS} triggers, {runs()} runs; runs by node port {per_node}")


def make_portal_user(admin, ref, login, password):
    """A portal login of tenant ``ref``, made by staff as in the backend
    (as tests/test_api_live.py's portal test)."""
    [tenant] = admin.call_kw(
        "emboux.tenant", "search_read", [("partner_ref", "=", ref)], fields=["partner_id"]
    )["result"]
    contact = admin.call_kw(
        "res.partner", "create", {"name": "Nodes portal user", "parent_id": tenant["partner_id"][0]}
    )["result"]
    [portal_group] = admin.call_kw(
        "ir.model.data",
        "search_read",
        [("module", "=", "base"), ("name", "=", "group_portal")],
        fields=["res_id"],
    )["result"]
    return admin.call_kw(
        "res.users",
        "create",
        {
            "login": login,
            "password": password,
            "partner_id": contact,
            "group_ids": [(6, 0, [portal_group["res_id"]])],
        },
    )["result"]


def test_a_portal_login_on_one_node_is_a_session_on_the_other(cluster):
    a, b = cluster.nodes
    ref = "nodes-portal"
    token = expect(
        cluster.api(a, "POST", "/api-keys/", json={"partner_ref": ref, "name": "k"}), 201
    )["token"]
    expect(
        cluster.api(a, "POST", "/domains/", token=token, json={"name": "nodes-portal.test"}), 201
    )
    password = "portal-" + secrets.token_urlsafe(12)
    uid = make_portal_user(RpcSession(a, "admin", "admin"), ref, "nodes-portal", password)

    portal = RpcSession(a, "nodes-portal", password)  # logged in on node a
    portal.odoo = b  # the same cookie, node b
    info = portal.call("/web/session/get_session_info")["result"]
    assert (info["uid"], info["username"]) == (uid, "nodes-portal")
    own = portal.call_kw("emboux.domain", "search_read", [], fields=["name"])["result"]
    assert [d["name"] for d in own] == ["nodes-portal.test"]
    page = portal.session.get(f"{b.base()}/my", timeout=TIMEOUT, allow_redirects=False)
    assert page.status_code == 200 and "Nodes portal user" in page.text, page.status_code

    # logged out on node b: no session on node a either
    portal.call("/web/session/destroy")
    page = portal.session.get(f"{a.base()}/my", timeout=TIMEOUT, allow_redirects=False)
    assert page.status_code in (302, 303) and "/web/login" in page.headers["Location"]
