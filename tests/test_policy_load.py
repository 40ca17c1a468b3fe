"""The send decision stays exact under load, whoever asks: the policy
service (talking to PostgreSQL as its own role) and the REST API (Odoo,
two workers) at once, and when either is killed with ``kill -9`` mid-load.

Exactness, not speed: ``make bench`` prints the figures. Every allowed
answer a client received is counted, every count was answered (or was in
flight when its server died), and no limit is exceeded.
"""

from concurrent.futures import ThreadPoolExecutor
import os
from pathlib import Path
import secrets
import threading
import time

from live_odoo import PYTHON, TOP, LiveOdoo, free_port, suite_addons
import policy_load
import psycopg2
import pytest
import requests

DB = f"{os.environ.get('EMBOUX_LIVE_DB_PREFIX', 'emboux_live')}_policyload_{os.getpid()}"
TOKEN = "live-" + secrets.token_urlsafe(24)
ROLE = f"emboux_policyd_load_{os.getpid()}"
ROLE_PASSWORD = secrets.token_urlsafe(24)
PORT = int(os.environ.get("EMBOUX_LIVE_POLICYLOAD_PORT", "8331"))
# the suite, installed once per session as a template (tests/conftest.py)
LIVE_TEMPLATES = (suite_addons(),)
SCRIPT = TOP / "mailserver" / "policyd" / "emboux_policyd.py"
# seconds of the 100-domain run (the 20 s; shorter for a quick try)
SECONDS = float(os.environ.get("EMBOUX_POLICY_LOAD_SECONDS", "20"))
DAILY = 100


def sql(query, params=()):
    with psycopg2.connect(dbname=DB) as conn, conn.cursor() as cr:
        cr.execute(query, params)
        rows = cr.fetchall() if cr.description else None
    conn.close()
    return rows


@pytest.fixture(scope="module")
def odoo(tmp_path_factory):
    if not PYTHON.exists():
        pytest.skip("no virtualenv: run `make setup` first")
    server = LiveOdoo(
        tmp_path_factory.mktemp("emboux-policyload"),
        db=DB,
        token=TOKEN,
        port=PORT,
        # only the daily limit binds; the suite makes the policy role
        extra_env={
            "HOURLY_FRACTION": "1",
            "EMBOUX_POLICYD_DB_ROLE": ROLE,
            "EMBOUX_POLICYD_DB_PASSWORD": ROLE_PASSWORD,
        },
    )
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        server.drop()
        sql_postgres(f'DROP ROLE IF EXISTS "{ROLE}"')


def sql_postgres(query):
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(query)
    conn.close()


@pytest.fixture(scope="module")
def policyd(odoo, tmp_path_factory):
    service = policy_load.PolicyService(
        tmp_path_factory.mktemp("emboux-policyd"),
        dsn=f"host=127.0.0.1 port=5432 dbname={DB} user={ROLE} password={ROLE_PASSWORD}",
        port=free_port(),
        python=PYTHON,
        script=SCRIPT,
        pool_size=8,
    )
    service.start()
    yield service
    service.stop()


def call(odoo, method, path, **kwargs):
    return requests.request(
        method, odoo.url(path), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60, **kwargs
    )


def make_domains(odoo, names, enforcement="hard"):
    """Domains created through the REST API, verified, without warm-up, on
    a tier whose daily limit is capped at DAILY (the domain's own cap)."""
    for name in names:
        response = call(odoo, "POST", "/domains/", json={"name": name})
        assert response.status_code == 201, response.text
    sql(
        "UPDATE emboux_domain SET verification_status = 'verified', warmup_profile = NULL,"
        " outbound_enforcement = %s, outbound_daily_cap = %s,"
        " outbound_tier_id = (SELECT id FROM emboux_outbound_tier WHERE code = 'starter')"
        " WHERE name = ANY(%s)",
        (enforcement, DAILY, list(names)),
    )


def sent_today(names):
    rows = sql(
        "SELECT d.name, c.sent_today FROM emboux_outbound_counter c"
        " JOIN emboux_domain d ON d.id = c.domain_id WHERE d.name = ANY(%s)",
        (list(names),),
    )
    return dict(rows)


def rest_increments(odoo, name, total, threads=8):
    """``total`` REST increments of one message; the JSON answers, and
    the number of requests that got no answer (a broken connection)."""

    def one(_index):
        try:
            response = call(odoo, "POST", f"/domains/{name}/outbound/increment", json={})
        except requests.ConnectionError:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(one, range(total)))
    return [a for a in answers if a is not None], answers.count(None)


def test_500_at_once_on_one_domain_daemon_and_rest_mixed(odoo, policyd):
    name = "race-mixed.example.org"
    make_domains(odoo, [name])
    rest = {}
    thread = threading.Thread(
        target=lambda: rest.update(answers=rest_increments(odoo, name, 100)[0])
    )
    thread.start()
    result = policy_load.run(policyd.port, [f"news@{name}"], connections=50, total=400)
    thread.join()
    assert result.broken == 0
    assert len(result.answers) == 400
    assert len(rest["answers"]) == 100
    daemon_allowed = result.allowed()
    rest_allowed = sum(1 for a in rest["answers"] if a["allowed"])
    assert daemon_allowed + rest_allowed == DAILY, (daemon_allowed, rest_allowed)
    refusals = {action for _sender, action in result.answers if action != "DUNNO"}
    assert refusals == {f"451 4.7.1 daily sending limit reached for {name}"}
    assert {a["reason"] for a in rest["answers"] if not a["allowed"]} <= {"daily_limit"}
    assert sent_today([name]) == {name: DAILY}


def test_100_domains_50_connections_every_answer_counted(odoo, policyd):
    names = [f"load{i:03d}.example.org" for i in range(100)]
    make_domains(odoo, names)
    result = policy_load.run(
        policyd.port, [f"news@{n}" for n in names], connections=50, seconds=SECONDS
    )
    assert result.broken == 0
    counted = sent_today(names)
    assert sum(counted.values()) == result.allowed()
    for name in names:
        assert counted[name] == result.allowed(f"news@{name}") <= DAILY
    print(
        f"\n{len(result.answers)} decisions in {result.seconds:.1f} s "
        f"({result.rate():.0f}/s, p50 {result.percentile(0.5) * 1000:.1f} ms, "
        f"p99 {result.percentile(0.99) * 1000:.1f} ms), {result.allowed()} allowed"
    )


def wait_for_no_session(role, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,))
        if rows[0][0] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"sessions of {role} outlived the policy service")


def load_in_background(port, sender, seconds):
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(
            result=policy_load.run(port, [sender], connections=20, seconds=seconds)
        )
    )
    thread.start()
    return thread, box


def test_kill_9_of_the_policy_service_loses_no_count(odoo, policyd):
    name = "kill-daemon.example.org"
    make_domains(odoo, [name], enforcement="off")
    thread, box = load_in_background(policyd.port, f"news@{name}", seconds=4)
    time.sleep(1.5)
    policyd.kill()
    thread.join()
    result = box["result"]
    assert result.broken > 0, "the kill broke the connections"
    # a statement the daemon sent before dying still runs to its commit
    wait_for_no_session(ROLE)
    counted = sent_today([name])[name]
    # every allowed answer Postfix got is counted; what was in flight may
    # be counted too (committed before the answer could be written)
    assert result.allowed() > 0
    assert result.allowed() <= counted <= result.allowed() + result.unanswered
    policyd.start()
    assert policy_load.ask(policyd.port, policy_load.end_of_message(f"news@{name}")) == "DUNNO"
    assert sent_today([name])[name] == counted + 1


def http_workers(master_pid):
    """The pids of Odoo's HTTP workers (children of the prefork master,
    not its gevent worker)."""
    proc = Path("/proc")
    children = (proc / str(master_pid) / "task" / str(master_pid) / "children").read_text()
    workers = []
    for pid in children.split():
        cmdline = (proc / pid / "cmdline").read_bytes().split(b"\0")
        if b"gevent" not in cmdline:
            workers.append(int(pid))
    return workers


def test_kill_9_of_an_odoo_worker_loses_no_count(odoo, policyd):
    name = "kill-odoo.example.org"
    make_domains(odoo, [name], enforcement="off")
    workers = http_workers(odoo.proc.pid)
    assert workers, "Odoo runs prefork workers"
    box = {}
    thread = threading.Thread(target=lambda: box.update(out=rest_increments(odoo, name, 600)))
    thread.start()
    time.sleep(1.0)
    os.kill(workers[0], 9)
    thread.join()
    answers, unanswered = box["out"]
    allowed = sum(1 for a in answers if a["allowed"])
    counted = sent_today([name])[name]
    assert allowed > 0
    assert allowed <= counted <= allowed + unanswered
    # the daemon, meanwhile, never depended on Odoo
    assert policy_load.ask(policyd.port, policy_load.end_of_message(f"news@{name}")) == "DUNNO"
