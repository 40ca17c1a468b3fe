"""The send decision on a real Odoo with two worker processes: parallel
``POST /domains/{name}/outbound/increment`` calls never exceed the daily
limit and never lose a count.

Installs the suite on a throwaway database, starts Odoo ``--workers=2`` on
``EMBOUX_LIVE_OUTBOUND_PORT`` (default 8311; a free port when taken) with
``HOURLY_FRACTION=1`` (so only the daily limit binds), and hits one domain
from 8 client threads. The domain is marked verified in SQL: verification
is the providers' business, not this test's.
"""

from concurrent.futures import ThreadPoolExecutor
import os
import secrets

from live_odoo import PYTHON, LiveOdoo
import psycopg2
import pytest
import requests

DB = f"{os.environ.get('EMBOUX_LIVE_DB_PREFIX', 'emboux_live')}_outbound_{os.getpid()}"
TOKEN = "live-" + secrets.token_urlsafe(24)
PORT = int(os.environ.get("EMBOUX_LIVE_OUTBOUND_PORT", "8311"))
TIMEOUT = 60
THREADS = 8


@pytest.fixture(scope="module")
def odoo(tmp_path_factory):
    if not PYTHON.exists():
        pytest.skip("no virtualenv: run `make setup` first")
    server = LiveOdoo(
        tmp_path_factory.mktemp("emboux-outbound"),
        db=DB,
        token=TOKEN,
        port=PORT,
        extra_env={"HOURLY_FRACTION": "1"},
    )
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        server.drop()


def call(odoo, method, path, **kwargs):
    response = requests.request(
        method,
        odoo.url(path),
        headers={"Authorization": f"Bearer {TOKEN}"},
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
