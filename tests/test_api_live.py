"""The REST API on a real Odoo, driven like an outside client.

Installs the suite through Odoo's command line on a throwaway database,
starts Odoo with ``--workers=2`` on its own port with ``EMBOUX_MASTER_TOKEN``
set, and walks the API with ``requests``. The last test restarts the server
with another ``EMBOUX_API_PREFIX`` and checks that the API moved there.

A customer flow follows: the master makes API keys, a customer creates a
domain and a mailbox it owns, a second tenant cannot see or touch them, and
two parallel creates for a tenant's last free domain slot answer one 201
and one 403 (on two worker processes).

Environment: ``EMBOUX_LIVE_PORT`` (default 8213; a free port is used when it
is taken), ``EMBOUX_LIVE_ADDONS`` (default: every addon of the repository),
``EMBOUX_LIVE_DB_PREFIX`` (default ``emboux_live``; the database is
``<prefix>_<pid>``), ``EMBOUX_LIVE_KEEP_DB=1`` keeps the database for a
post-mortem.
"""

import os
import re
import secrets
import threading

from live_odoo import PYTHON, LiveOdoo, suite_addons
import pytest
import requests

DB = f"{os.environ.get('EMBOUX_LIVE_DB_PREFIX', 'emboux_live')}_{os.getpid()}"
TOKEN = "live-" + secrets.token_urlsafe(24)
TIMEOUT = 30
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
PORT = int(os.environ.get("EMBOUX_LIVE_PORT", "8213"))
# the suite, installed once per session as a template (tests/conftest.py)
LIVE_TEMPLATES = (suite_addons(),)


@pytest.fixture(scope="module")
def odoo(tmp_path_factory):
    if not PYTHON.exists():
        pytest.skip("no virtualenv: run `make setup` first")
    server = LiveOdoo(tmp_path_factory.mktemp("emboux-live"), db=DB, token=TOKEN, port=PORT)
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        server.drop()
        print(
            f"\nlive Odoo on :{server.port}, timings (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in server.timings.items())
        )


class Client:
    """A REST client of the API with the master token."""

    def __init__(self, odoo, token=TOKEN, header="bearer"):
        self.odoo = odoo
        self.session = requests.Session()
        if header == "bearer":
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif header == "x-api-key":
            self.session.headers["X-API-Key"] = token

    def __getattr__(self, method):
        def call(path, **kwargs):
            kwargs.setdefault("timeout", TIMEOUT)
            kwargs.setdefault("allow_redirects", False)
            response = self.session.request(method.upper(), self.odoo.url(path), **kwargs)
            assert response.status_code < 500, (
                f"{method} {path}: {response.status_code} {response.text}"
            )
            return response

        return call


@pytest.fixture
def api(odoo):
    return Client(odoo)


def expect(response, code, detail=None):
    assert response.status_code == code, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    if detail is not None:
        assert response.json() == {"detail": detail}
    return response.json() if response.content else None


def test_health_docs_and_schema(odoo):
    anonymous = Client(odoo, header=None)
    for path in ("/health", "/health/"):
        body = expect(anonymous.get(path), 200)
        assert (body["status"], body["database"]) == ("ok", "ok")
        assert body["version"]
    schema = expect(anonymous.get("/openapi.json"), 200)
    roles = {
        (method, path): op.get("x-required-role")
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    assert roles.pop(("get", "/health")) is None
    assert set(roles.values()) == {None, "master"}
    assert roles[("post", "/api-keys/")] == roles[("put", "/domains/{name}/owner")] == "master"
    assert roles[("post", "/domains/")] is None  # master or the owning customer
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_authentication(odoo):
    for client in (
        Client(odoo, header=None),
        Client(odoo, token="wrong"),
        Client(odoo, token="wrong", header="x-api-key"),
        Client(odoo, token=TOKEN[:-1]),
    ):
        for method, path in (
            ("get", "/domains/"),
            ("post", "/domains"),
            ("delete", "/users/a@b.org"),
        ):
            response = getattr(client, method)(path, json={"name": "nope.org"})
            expect(response, 401, "Not authenticated")
            assert response.headers["WWW-Authenticate"] == "Bearer"
    expect(Client(odoo, header="x-api-key").get("/domains/"), 200)
    expect(Client(odoo).get("/domains"), 200)


def test_walkthrough(api):
    # a domain, any case in, lower-case out
    body = expect(api.post("/domains/", json={"name": "Live-Example.ORG"}), 201)
    assert body["name"] == "live-example.org" and body["status"] == "active"
    assert UTC_TIME.match(body["created_at"]) and UTC_TIME.match(body["updated_at"])
    assert (body["parent"], body["wildcard"], body["verification_status"]) == (
        None,
        False,
        "not_started",
    )
    expect(
        api.post("/domains", json={"name": "LIVE-example.org"}),
        409,
        "name: the domain 'live-example.org' already exists",
    )
    detail = expect(api.post("/domains/", json={"name": "not a domain"}), 422)["detail"]
    assert detail.startswith("name:")

    # a mailbox with the catch-all, an alias (upsert)
    body = expect(
        api.post(
            "/users/",
            json={
                "email": "Boss@Live-Example.org",
                "password": "correct horse battery",
                "name": "Boss",
                "catch_all": True,
            },
        ),
        201,
    )
    assert body == {
        **body,
        "email": "boss@live-example.org",
        "domain": "live-example.org",
        "catch_all": True,
        "quota_mb": 1024,
        "active": True,
    }
    assert "password" not in body
    expect(
        api.post("/users", json={"email": "boss@LIVE-example.org", "password": "another password"}),
        409,
        "email: the mailbox 'boss@live-example.org' already exists",
    )
    assert expect(
        api.post("/users/", json={"email": "x@live-example.org", "password": "short"}), 422
    )["detail"].startswith("password:")
    assert expect(
        api.post("/users/", json={"email": "x@unknown-domain.org", "password": "long enough pw"}),
        422,
    )["detail"].startswith("email:")
    alias = {"source": "info@live-example.org", "destination": "boss@live-example.org"}
    expect(api.post("/aliases/", json=alias), 201)
    assert expect(api.post("/aliases", json={k: v.upper() for k, v in alias.items()}), 200) == {
        **alias,
        "domain": "live-example.org",
        "catch_all": False,
    }

    # lists
    assert [d["name"] for d in expect(api.get("/domains/"), 200)] == ["live-example.org"]
    assert [u["email"] for u in expect(api.get("/users/?domain=live-example.org"), 200)] == [
        "boss@live-example.org"
    ]
    assert [
        (a["source"], a["catch_all"])
        for a in expect(api.get("/aliases?domain=live-example.org"), 200)
    ] == [("@live-example.org", True), ("info@live-example.org", False)]
    body = expect(api.get("/domains/live-example.org"), 200)
    assert (body["mailbox_count"], body["alias_count"]) == (1, 2)

    # settings, numbers
    assert expect(api.put("/users/boss@live-example.org/quota", json={"quota_mb": 4096}), 200) == {
        "quota_mb": 4096,
        "used_mb": None,
    }
    expect(api.put("/users/boss@live-example.org/quota", json={"quota_mb": -1}), 422)
    assert expect(
        api.put("/domains/live-example.org/retention", json={"retention_days": 90}), 200
    ) == {"retention_days": 90, "last_purge_at": None, "last_purge_error": None}
    expect(
        api.put("/domains/live-example.org/transfer", json={"monthly_transfer_limit_mb": -5}), 422
    )
    assert expect(api.get("/domains/live-example.org/transfer/"), 200) == {
        "monthly_transfer_limit_mb": 0,
        "transfer_used_mb": 0,
    }
    assert expect(api.get("/users/?limit=1001"), 422)

    # suspend, activate
    assert expect(api.put("/domains/live-example.org/suspend"), 200)["status"] == "suspended"
    assert expect(api.get("/domains/live-example.org"), 200)["status"] == "suspended"
    assert expect(api.put("/domains/live-example.org/activate/"), 200)["status"] == "active"

    # a refused change leaves everything as it was
    expect(
        api.put("/users/boss@live-example.org", json={"name": "Changed", "password": "short"}), 422
    )
    assert expect(api.get("/users/boss@live-example.org"), 200)["name"] == "Boss"

    # delete
    response = api.delete("/aliases/info@live-example.org?destination=boss@live-example.org")
    assert response.status_code == 204 and response.content == b""
    expect(api.delete("/aliases/info@live-example.org"), 404, "Alias not found")
    expect(api.delete("/users/BOSS@live-example.org"), 204)
    expect(api.get("/users/boss@live-example.org"), 404, "Mailbox not found")
    # its catch-all went with it
    assert expect(api.get("/aliases/"), 200) == []
    expect(api.delete("/domains/live-example.org"), 204)
    expect(api.get("/domains/live-example.org"), 404, "Domain not found")
    expect(api.put("/domains/live-example.org/suspend"), 404, "Domain not found")
    assert expect(api.get("/domains/"), 200) == []


def _parallel(odoo, calls, token=TOKEN):
    """Run ``calls`` (method, path, json) at the same instant, each in its
    own thread and connection; answer the responses in order."""
    barrier = threading.Barrier(len(calls))
    responses = [None] * len(calls)

    def run(i, method, path, payload):
        client = Client(odoo, token=token)
        barrier.wait()
        responses[i] = getattr(client, method)(path, json=payload)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    return responses


def test_parallel_creates_of_one_domain(odoo, api):
    for i in range(5):
        name = f"race-{i}.example"
        responses = _parallel(
            odoo,
            [
                ("post", "/domains/", {"name": name}),
                ("post", "/domains/", {"name": name.upper()}),
            ],
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 409], [(r.status_code, r.text) for r in responses]
        conflict = next(r for r in responses if r.status_code == 409)
        assert conflict.json() == {"detail": f"name: the domain '{name}' already exists"}
        assert [d["name"] for d in expect(api.get("/domains/?limit=1000"), 200)].count(name) == 1
    # mailboxes too; and an alias upsert answers one 201 and one 200
    expect(
        api.post("/users/", json={"email": "a@race-0.example", "password": "long enough pw"}), 201
    )
    responses = _parallel(
        odoo,
        [
            ("post", "/users/", {"email": "same@race-0.example", "password": "long enough pw"}),
            ("post", "/users/", {"email": "SAME@race-0.example", "password": "long enough pw"}),
        ],
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    responses = _parallel(
        odoo,
        [
            (
                "post",
                "/aliases/",
                {"source": "info@race-0.example", "destination": "a@race-0.example"},
            ),
            (
                "post",
                "/aliases/",
                {"source": "info@race-0.example", "destination": "a@race-0.example"},
            ),
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert len(expect(api.get("/aliases/?domain=race-0.example"), 200)) == 1


def test_customer_flow(odoo, api):
    master_body = "Master token required"
    key = expect(api.post("/api-keys/", json={"partner_ref": "live-acme", "name": "app"}), 201)
    assert set(key) == {"id", "partner_ref", "name", "prefix", "expires_at", "token"}
    other = expect(api.post("/api-keys", json={"partner_ref": "live-globex", "name": "app"}), 201)
    acme = Client(odoo, token=key["token"])
    globex = Client(odoo, token=other["token"], header="x-api-key")
    # the list never shows a token
    listing = api.get("/api-keys/?partner_ref=live-acme")
    assert [k["id"] for k in expect(listing, 200)] == [key["id"]]
    assert key["token"] not in listing.text

    # the customer creates; it owns what it creates, whatever partner_ref says
    body = expect(
        acme.post("/domains/", json={"name": "Acme-Live.test", "partner_ref": "live-globex"}), 201
    )
    assert (body["name"], body["partner_ref"]) == ("acme-live.test", "live-acme")
    body = expect(
        acme.post(
            "/users/",
            json={"email": "ann@acme-live.test", "password": "long enough pw", "catch_all": True},
        ),
        201,
    )
    assert body["catch_all"] is True
    expect(
        acme.post(
            "/aliases/", json={"source": "info@acme-live.test", "destination": "ann@acme-live.test"}
        ),
        201,
    )
    assert [d["name"] for d in expect(acme.get("/domains/"), 200)] == ["acme-live.test"]
    assert expect(api.get("/tenants/live-acme"), 200)["domains_used"] == 1

    # the second tenant sees nothing of it and changes nothing
    assert expect(globex.get("/domains/"), 200) == []
    assert expect(globex.get("/users/?domain=acme-live.test"), 200) == []
    assert expect(globex.get("/aliases/"), 200) == []
    for method, path in (
        ("get", "/domains/acme-live.test"),
        ("delete", "/domains/acme-live.test"),
        ("put", "/domains/acme-live.test/suspend"),
        ("get", "/users/ann@acme-live.test"),
        ("put", "/users/ann@acme-live.test"),
        ("delete", "/users/ann@acme-live.test"),
        ("delete", "/aliases/info@acme-live.test"),
        ("get", f"/api-keys/{key['token']}/usage"),
    ):
        expect(getattr(globex, method)(path, json={"name": "Hacked"}), 404)
    expect(
        globex.post("/users/", json={"email": "eve@acme-live.test", "password": "long enough pw"}),
        422,
    )
    body = expect(acme.get("/domains/acme-live.test"), 200)
    assert (body["status"], body["mailbox_count"], body["alias_count"]) == ("active", 1, 2)
    assert expect(acme.get("/users/ann@acme-live.test"), 200)["name"] is None

    # master-only routes: exactly this 403 for a customer
    for method, path in (
        ("post", "/api-keys/"),
        ("get", "/tenants/live-acme"),
        ("put", "/domains/acme-live.test/owner"),
    ):
        expect(getattr(acme, method)(path, json={"partner_ref": "live-acme"}), 403, master_body)
    # a domain the master suspended only the master re-activates
    expect(api.put("/domains/acme-live.test/suspend"), 200)
    expect(acme.put("/domains/acme-live.test/activate"), 403, master_body)
    expect(api.put("/domains/acme-live.test/activate"), 200)

    # usage and delta sync
    usage = expect(acme.get(f"/api-keys/{key['token']}/usage"), 200)
    assert usage["usage"] == {"domains_used": 1, "mailboxes": 1, "aliases": 2}
    since = usage["server_time"]
    expect(acme.delete("/aliases/info@acme-live.test"), 204)
    changes = expect(acme.get(f"/api-keys/{key['token']}/usage", params={"since": since}), 200)[
        "changes"
    ]
    assert [(d["type"], d["key"]) for d in changes["deleted"]] == [("alias", "info@acme-live.test")]

    # a revoked key answers 401 at once, on every worker
    expect(api.delete(f"/api-keys/{key['id']}"), 204)
    for _ in range(4):
        expect(acme.get("/domains/"), 401, "Not authenticated")


def test_parallel_creates_for_the_last_free_slot(odoo, api):
    for i in range(3):
        ref = f"live-race-{i}"
        token = expect(api.post("/api-keys/", json={"partner_ref": ref, "name": "race"}), 201)[
            "token"
        ]
        expect(api.put(f"/tenants/{ref}", json={"max_domains": 2}), 200)
        customer = Client(odoo, token=token)
        expect(customer.post("/domains/", json={"name": f"first.{ref}.test"}), 201)
        responses = _parallel(
            odoo,
            [
                ("post", "/domains/", {"name": f"a.{ref}.example"}),
                ("post", "/domains/", {"name": f"b.{ref}.example"}),
            ],
            token=token,
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 403], [(r.status_code, r.text) for r in responses]
        refused = next(r for r in responses if r.status_code == 403)
        assert refused.json()["detail"].startswith("max_domains:"), refused.text
        assert len(expect(customer.get("/domains/"), 200)) == 2
        assert expect(api.get(f"/tenants/{ref}"), 200)["domains_used"] == 2


class RpcSession:
    """A browser's session on Odoo's own JSON-RPC (``/web/...``)."""

    def __init__(self, odoo, login, password):
        self.odoo = odoo
        self.session = requests.Session()
        result = self.call("/web/session/authenticate", db=odoo.db, login=login, password=password)
        assert result.get("result", {}).get("uid"), result

    def call(self, path, **params):
        response = self.session.post(
            f"http://127.0.0.1:{self.odoo.port}{path}",
            json={"jsonrpc": "2.0", "method": "call", "params": params, "id": 1},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def call_kw(self, model, method, *args, **kwargs):
        return self.call(
            f"/web/dataset/call_kw/{model}/{method}",
            model=model,
            method=method,
            args=list(args),
            kwargs=kwargs,
        )


def test_portal_rpc_cannot_reset_or_count(odoo, api):
    """A portal customer logged in at /web/login reaches every public model
    method through /web/dataset/call_kw: the resets and another tenant's
    send decision refuse it and change nothing."""
    tokens = {}
    for ref in ("rpc-a", "rpc-b"):
        tokens[ref] = expect(api.post("/api-keys/", json={"partner_ref": ref, "name": "k"}), 201)[
            "token"
        ]
        expect(Client(odoo, token=tokens[ref]).post("/domains/", json={"name": f"{ref}.test"}), 201)
    admin = RpcSession(odoo, "admin", "admin")
    domain_ids = {}
    for ref in ("rpc-a", "rpc-b"):
        [domain] = admin.call_kw(
            "emboux.domain", "search_read", [("name", "=", f"{ref}.test")], fields=["id"]
        )["result"]
        domain_ids[ref] = domain["id"]
        assert admin.call_kw(
            "emboux.domain", "write", [domain["id"]], {"verification_status": "verified"}
        )["result"]
        sent = expect(api.post(f"/domains/{ref}.test/outbound/increment", json={"count": 3}), 200)
        assert sent["allowed"] and sent["sent_today"] == 3, sent
    # a portal login of tenant rpc-a, made by staff as in the backend
    [tenant] = admin.call_kw(
        "emboux.tenant", "search_read", [("partner_ref", "=", "rpc-a")], fields=["partner_id"]
    )["result"]
    contact = admin.call_kw(
        "res.partner", "create", {"name": "Rpc A user", "parent_id": tenant["partner_id"][0]}
    )["result"]
    [portal_group] = admin.call_kw(
        "ir.model.data",
        "search_read",
        [("module", "=", "base"), ("name", "=", "group_portal")],
        fields=["res_id"],
    )["result"]
    password = "portal-" + secrets.token_urlsafe(12)
    admin.call_kw(
        "res.users",
        "create",
        {
            "login": "rpc-a-portal",
            "password": password,
            "partner_id": contact,
            "group_ids": [(6, 0, [portal_group["res_id"]])],
        },
    )
    portal = RpcSession(odoo, "rpc-a-portal", password)

    attempts = [
        portal.call_kw("emboux.outbound.counter", "reset_daily"),
        portal.call_kw("emboux.outbound.counter", "reset_monthly"),
        portal.call_kw("emboux.domain", "outbound_send_decision", [domain_ids["rpc-b"]], count=5),
        portal.call_kw("emboux.domain", "outbound_send_decision", [domain_ids["rpc-a"]], count=5),
    ]
    for answer in attempts:
        assert "result" not in answer, answer
        assert answer["error"]["data"]["name"] == "odoo.exceptions.AccessError", answer
    for ref in ("rpc-a", "rpc-b"):
        outbound = expect(api.get(f"/domains/{ref}.test/outbound"), 200)
        assert (outbound["sent_today"], outbound["sent_this_month"]) == (3, 3), outbound
    # what the portal customer may do, it still does: read its own domain only
    own = portal.call_kw("emboux.domain", "search_read", [], fields=["name"])["result"]
    assert [d["name"] for d in own] == ["rpc-a.test"]


def test_no_database_manager(odoo):
    """Odoo's database manager would back up (download) or drop the whole
    database for anyone who knows Odoo's default master password."""
    base = f"http://127.0.0.1:{odoo.port}"
    backup = requests.post(
        f"{base}/web/database/backup",
        data={"master_pwd": "admin", "name": odoo.db, "backup_format": "dump"},
        timeout=TIMEOUT,
    )
    assert backup.headers.get("Content-Type", "").startswith("text/html"), backup.headers
    assert "Access Denied" in backup.text or backup.status_code in (403, 404), backup.text[:300]
    listing = requests.post(
        f"{base}/web/database/list",
        json={"jsonrpc": "2.0", "method": "call", "params": {}},
        timeout=TIMEOUT,
    )
    assert "result" not in listing.json(), listing.text
    expect(Client(odoo).get("/health"), 200)  # the one database is still served


def test_no_server_error_logged(odoo):
    log = odoo.log()
    assert "Exception during request handling" not in log, log[-5000:]
    assert " 500 " not in "\n".join(line for line in log.splitlines() if "werkzeug" in line)


def test_no_secret_in_the_request_log(odoo):
    """The customer flow asked GET /api-keys/{token}/usage: the request log
    shows the token's prefix only, and never the master token."""
    log = odoo.log()
    assert re.search(r"GET /api/api-keys/emb_[A-Za-z0-9_-]{8}…/usage", log), log[-3000:]
    assert not re.search(r"emb_[A-Za-z0-9_-]{43}", log)
    assert TOKEN not in log


def test_prefix_follows_the_environment_on_restart(odoo):
    """Last: the server restarts with EMBOUX_API_PREFIX and serves there."""
    odoo.stop()
    odoo.start(prefix="/mail-api/v1")
    client = Client(odoo)
    expect(client.get("/health"), 200)
    expect(client.get("/domains/"), 200)
    schema = expect(client.get("/openapi.json"), 200)
    assert schema["info"]["title"] == "Emboux API"
    docs = client.get("/docs")
    assert "/mail-api/v1/openapi.json" in docs.text
    old = requests.get(odoo.url("/health", prefix="/api"), timeout=TIMEOUT)
    assert old.status_code == 404
    # and back to the default when the variable goes away
    odoo.stop()
    odoo.start()
    expect(Client(odoo).get("/health"), 200)
    assert (
        requests.get(odoo.url("/health", prefix="/mail-api/v1"), timeout=TIMEOUT).status_code == 404
    )
