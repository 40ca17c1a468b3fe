"""Outbound on a real Odoo with two worker processes.

- The send decision: parallel ``POST /domains/{name}/outbound/increment``
  calls never exceed the daily limit and never lose a count. The domain is
  marked verified in SQL: verification is the providers' business, not
  this test's.
- The provider work after the commit: a tenant's ``POST /domains/`` answers
  at once while Mailgun is slow, and the polling cron (a cron process of its
  own, woken by the create's trigger) sets the domains up at Mailgun.

Installs the suite on a throwaway database, starts Odoo ``--workers=2`` on
``EMBOUX_LIVE_OUTBOUND_PORT`` (default 8311; a free port when taken) with
``HOURLY_FRACTION=1`` (so only the daily limit binds) and the fake Mailgun
of emboux_outbound's tests as its Mailgun (the default provider).
"""

from concurrent.futures import ThreadPoolExecutor
import os
from pathlib import Path
import secrets
import signal
import subprocess
import sys
import time

from live_odoo import PYTHON, TOP, LiveOdoo, free_port, odoo_command, suite_addons
import psycopg2
import pytest
import requests

# the fake Mailgun of emboux_outbound's tests: plain stdlib, no Odoo import
sys.path.insert(0, str(Path(TOP, "emboux_outbound", "tests")))
from fake_mailgun import FakeMailgun

DB = f"{os.environ.get('EMBOUX_LIVE_DB_PREFIX', 'emboux_live')}_outbound_{os.getpid()}"
TOKEN = "live-" + secrets.token_urlsafe(24)
PORT = int(os.environ.get("EMBOUX_LIVE_OUTBOUND_PORT", "8311"))
# the suite, installed once per session as a template (tests/conftest.py)
LIVE_TEMPLATES = (suite_addons(),)
TIMEOUT = 60
THREADS = 8
MAILGUN_KEY = "key-live-" + secrets.token_hex(8)
SLOW = 4.0  # seconds the fake Mailgun takes to answer a verification


@pytest.fixture(scope="module")
def mailgun():
    fake = FakeMailgun(api_key=MAILGUN_KEY, port=free_port()).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def odoo(tmp_path_factory, mailgun):
    if not PYTHON.exists():
        pytest.skip("no virtualenv: run `make setup` first")
    server = LiveOdoo(
        tmp_path_factory.mktemp("emboux-outbound"),
        db=DB,
        token=TOKEN,
        port=PORT,
        extra_env={
            "HOURLY_FRACTION": "1",
            "MAILGUN_API_KEY": MAILGUN_KEY,
            "MAILGUN_BASE_URL": mailgun.url,
            "EMBOUX_PROVIDER_TIMEOUT": "10",
        },
    )
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        server.drop()


def call(odoo, method, path, token=TOKEN, **kwargs):
    response = requests.request(
        method,
        odoo.url(path),
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
        **kwargs,
    )
    assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
    return response


def parallel_increments(odoo, name, total):
    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(
            pool.map(
                lambda _i: call(odoo, "POST", f"/domains/{name}/outbound/increment", json={}),
                range(total),
            )
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.json() for r in responses]


def test_parallel_increments(odoo):
    name = "race.example.org"
    assert call(odoo, "POST", "/domains/", json={"name": name}).status_code == 201
    with psycopg2.connect(dbname=DB) as conn, conn.cursor() as cr:
        cr.execute(
            "UPDATE emboux_domain SET verification_status = 'verified', warmup_profile = NULL"
            " WHERE name = %s",
            [name],
        )
    conn.close()
    body = call(
        odoo,
        "PUT",
        f"/domains/{name}/outbound",
        json={"outbound_tier": "starter", "daily_limit": 25},
    ).json()
    assert (body["daily_limit"], body["hourly_limit"]) == (25, 25)

    answers = parallel_increments(odoo, name, 60)
    allowed = [a for a in answers if a["allowed"]]
    assert len(allowed) == 25
    assert sorted(a["sent_today"] for a in allowed) == list(range(1, 26))
    assert {a["reason"] for a in answers if not a["allowed"]} == {"daily_limit"}
    outbound = call(odoo, "GET", f"/domains/{name}/outbound").json()
    assert (outbound["sent_today"], outbound["sent_this_month"]) == (25, 25)

    # enforcement off: everything counts, nothing is lost
    call(odoo, "PUT", f"/domains/{name}/outbound", json={"outbound_enforcement": "off"})
    answers = parallel_increments(odoo, name, 60)
    assert all(a["allowed"] for a in answers)
    assert sorted(a["sent_today"] for a in answers) == list(range(26, 86))
    outbound = call(odoo, "GET", f"/domains/{name}/outbound").json()
    assert (outbound["sent_today"], outbound["sent_this_month"]) == (85, 85)

    assert call(odoo, "POST", "/outbound/reset-daily").json() == {"domains_reset": 1}
    assert call(odoo, "GET", f"/domains/{name}/outbound").json()["sent_today"] == 0


def committed(query, params=()):
    with psycopg2.connect(dbname=DB) as conn, conn.cursor() as cr:
        cr.execute(query, params)
        rows = cr.fetchall() if cr.description else None
    conn.close()
    return rows


def start_cron_runner(odoo):
    """An Odoo process running only the scheduled actions (no HTTP), as a
    deployment's cron worker; every other cron is switched off first."""
    committed(
        "UPDATE ir_cron SET active = (id = (SELECT res_id FROM ir_model_data"
        " WHERE module = 'emboux_outbound' AND name = 'ir_cron_emboux_provider_poll'))"
    )
    log = open(odoo.workdir / "cron.log", "w")  # noqa: SIM115 -- closed with the process
    proc = subprocess.Popen(
        [
            *odoo_command(),
            f"--addons-path={TOP}",
            "-d",
            DB,
            "--no-http",
            "--workers=0",
            "--max-cron-threads=1",
            f"--data-dir={odoo.workdir / 'data'}",
            "--log-level=info",
        ],
        env=odoo.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=odoo.workdir,
        start_new_session=True,
    )
    # its cron thread listens for the wake-up of a trigger: wait for it,
    # else the first create's would come before (and the cron sleeps 60 s)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (odoo.workdir / "cron.log").read_text()[-3000:]
        listening = committed(
            "SELECT 1 FROM pg_stat_activity WHERE datname = 'postgres'"
            " AND application_name = %s AND query IN ('LISTEN cron_trigger', 'COMMIT')",
            [f"odoo-{proc.pid}"],
        )
        if listening:
            return proc, log
        time.sleep(0.2)
    raise AssertionError("the cron process does not listen")


def test_provider_work_after_the_commit(odoo, mailgun):
    key = call(odoo, "POST", "/api-keys/", json={"partner_ref": "live-provider", "name": "k"})
    token = key.json()["token"]
    mailgun.slow = {"/verify": SLOW}
    proc, log = start_cron_runner(odoo)
    try:
        started = time.monotonic()
        body = call(odoo, "POST", "/domains/", token=token, json={"name": "first.live.test"})
        first = time.monotonic() - started
        assert body.status_code == 201, body.text
        assert (body.json()["provider"], body.json()["verification_status"]) == (
            "mailgun",
            "pending",
        )
        # the cron, woken by the create, is now waiting for Mailgun...
        assert mailgun.waiting.wait(60), f"the cron never called Mailgun:\n{log.name}"
        # ...and the tenant's next create goes through meanwhile
        started = time.monotonic()
        body = call(odoo, "POST", "/domains/", token=token, json={"name": "second.live.test"})
        second = time.monotonic() - started
        assert body.status_code == 201, body.text
        assert mailgun.waiting.is_set()
        assert max(first, second) < SLOW / 2, (first, second)
        # the cron sets both up at Mailgun
        deadline = time.monotonic() + 90
        query = (
            "SELECT name, provider_identity, provider_setup_pending FROM emboux_domain"
            " WHERE name LIKE %s ORDER BY name"
        )
        while time.monotonic() < deadline:
            rows = committed(query, ["%.live.test"])
            if all(identity == "own" for _name, identity, _pending in rows):
                break
            time.sleep(0.5)
        assert rows == [("first.live.test", "own", False), ("second.live.test", "own", False)]
        assert {"first.live.test", "second.live.test"} <= set(mailgun.domains)
        assert call(odoo, "GET", "/tenants/live-provider").json()["domains_used"] == 2
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
