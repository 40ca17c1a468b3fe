from datetime import timedelta

from odoo.tests import tagged

from ..dependencies import ROLE_CUSTOMER, customer_caller
from .common import TenancyCase
from .test_openapi import MASTER

MASTER_BODY = "Master token required"


def _sample(path, name="acme.test", email="ann@acme.test", source="info@acme.test"):
    return (
        path.replace("{name}", name)
        .replace("{email}", email)
        .replace("{source}", source)
        .replace("{key_id}", "1")
        .replace("{partner_ref}", "acme")
        .replace("{token}", "emb_x")
    )


@tagged("post_install", "-at_install")
class TestCustomerAuth(TenancyCase):
    def _operations(self, master):
        schema = self.api("GET", "/openapi.json", token=None).json()
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                if path != "/health" and (operation.get("x-required-role") == "master") == master:
                    yield method.upper(), path

    def test_customer_caller(self):
        caller = customer_caller(self.token_a, self.env(user=self.api_user))
        self.assertEqual(caller.role, ROLE_CUSTOMER)
        self.assertEqual(caller.env.user, self.tenant_a.user_id)
        self.assertFalse(caller.env.su)
        self.assertEqual(
            caller.env.context["authenticated_partner_id"], self.tenant_a.partner_id.id
        )
        self.assertEqual(caller.partner, self.tenant_a.partner_id)
        self.assertIsNone(customer_caller("emb_unknown", self.env(user=self.api_user)))
        self.assertIsNone(customer_caller(None, self.env(user=self.api_user)))

    def test_customer_key_headers(self):
        for headers in (
            {"Authorization": f"Bearer {self.token_a}"},
            {"X-API-Key": self.token_a},
        ):
            with self.subTest(headers=headers):
                response = self.api("GET", "/domains/", token=None, headers=headers)
                self.assertEqual(
                    [d["name"] for d in self.assertStatus(response, 200)], ["acme.test"]
                )

    def test_expired_revoked_unknown_keys_401(self):
        key_exp, token_exp = self.Key.generate(
            self.tenant_a, "soon", expires_at="2999-01-01T00:00:00Z"
        )
        key_rev, token_rev = self.Key.generate(self.tenant_a, "revoked")
        self.assertStatus(self.api("GET", "/domains/", token=token_exp), 200)
        # PostgreSQL's now() is the start of the (test) transaction
        key_exp.sudo().expires_at = self.env.cr.now() - timedelta(minutes=1)
        key_rev.action_revoke()
        self.env.flush_all()
        before = self.snapshot()
        for token in (
            token_exp,
            token_rev,
            "emb_" + "x" * 43,
            self.token_a + "x",
            self.token_a[:-1],
        ):
            for method, path in [
                ("GET", "/domains/"),
                ("POST", "/domains/"),
                ("DELETE", "/domains/acme.test"),
                ("GET", f"/api-keys/{token}/usage"),
                ("GET", "/api-keys/"),
                ("PUT", "/tenants/acme"),
            ]:
                with self.subTest(token=token[:8], method=method, path=path):
                    response = self.api(method, path, token=token, json={"name": "new.test"})
                    self.assertStatus(response, 401, "Not authenticated")
        self.assertEqual(self.snapshot(), before)

    def test_customer_on_master_routes_403(self):
        operations = list(self._operations(master=True))
        self.assertEqual(len(operations), len(MASTER), operations)
        before = self.snapshot()
        for method, path in operations:
            for name in ("acme.test", "globex.test", "nowhere.test"):
                with self.subTest(method=method, path=path, name=name):
                    response = self.api(
                        method,
                        _sample(path, name=name),
                        token=self.token_a,
                        json={
                            "partner_ref": "acme",
                            "name": "k",
                            "parent": None,
                            "wildcard": True,
                            "retention_days": 5,
                            "provider": "ses",
                            "monthly_transfer_limit_mb": 5,
                            "max_domains": 0,
                        },
                    )
                    self.assertStatus(response, 403, MASTER_BODY)
        self.assertEqual(self.snapshot(), before)

    def test_master_path_unchanged(self):
        names = [d["name"] for d in self.assertStatus(self.api("GET", "/domains/"), 200)]
        self.assertEqual(names, ["acme.test", "example.com", "globex.test"])


@tagged("post_install", "-at_install")
class TestOwnerCustomer(TenancyCase):
    """Every C route as the owning customer."""

    def a(self, method, path, **kwargs):
        return self.api(method, path, token=self.token_a, **kwargs)

    def test_domains(self):
        # partner_ref is ignored for a customer: it owns what it creates
        body = self.assertStatus(
            self.a("POST", "/domains/", json={"name": "New.Acme.Example", "partner_ref": "globex"}),
            201,
        )
        self.assertEqual((body["name"], body["partner_ref"]), ("new.acme.example", "acme"))
        self.assertEqual(self.tenant_a.domains_used, 2)
        self.assertEqual(self.tenant_b.domains_used, 1)
        names = [d["name"] for d in self.assertStatus(self.a("GET", "/domains/"), 200)]
        self.assertEqual(names, ["acme.test", "new.acme.example"])
        body = self.assertStatus(self.a("GET", "/domains/ACME.test"), 200)
        self.assertEqual(
            {
                k: body[k]
                for k in ("partner_ref", "parent", "wildcard", "mailbox_count", "alias_count")
            },
            {
                "partner_ref": "acme",
                "parent": None,
                "wildcard": False,
                "mailbox_count": 1,
                "alias_count": 1,
            },
        )
        self.assertEqual(
            self.assertStatus(self.a("GET", "/domains/acme.test/retention"), 200),
            {"retention_days": None, "last_purge_at": None, "last_purge_error": None},
        )
        self.assertEqual(
            self.assertStatus(self.a("GET", "/domains/acme.test/transfer"), 200),
            {"monthly_transfer_limit_mb": 0, "transfer_used_mb": 0},
        )
        # suspends and re-activates its own domain
        self.assertEqual(
            self.assertStatus(self.a("PUT", "/domains/acme.test/suspend"), 200)["status"],
            "suspended",
        )
        self.assertEqual(
            self.assertStatus(self.a("PUT", "/domains/acme.test/activate"), 200)["status"], "active"
        )
        self.assertStatus(self.a("DELETE", "/domains/new.acme.example"), 204)
        self.assertEqual(self.tenant_a.domains_used, 1)
        self.assertFalse(self.Domain.search([("name", "=", "new.acme.example")]))

    def test_master_suspended_only_master_activates(self):
        self.assertStatus(self.api("PUT", "/domains/acme.test/suspend"), 200)
        self.assertStatus(self.a("PUT", "/domains/acme.test/activate"), 403, MASTER_BODY)
        self.assertEqual(self.domain_a.status, "suspended")
        # suspending again as the customer does not make it the customer's
        self.assertStatus(self.a("PUT", "/domains/acme.test/suspend"), 200)
        self.assertStatus(self.a("PUT", "/domains/acme.test/activate"), 403, MASTER_BODY)
        self.assertEqual(
            self.assertStatus(self.api("PUT", "/domains/acme.test/activate"), 200)["status"],
            "active",
        )
        # what the customer suspended it may activate; the master too
        self.assertStatus(self.a("PUT", "/domains/acme.test/suspend"), 200)
        self.assertEqual(self.domain_a.suspended_by_id, self.tenant_a.user_id)
        self.assertStatus(self.a("PUT", "/domains/acme.test/activate"), 200)
        self.assertStatus(self.a("PUT", "/domains/acme.test/suspend"), 200)
        self.assertStatus(self.api("PUT", "/domains/acme.test/activate"), 200)
        self.assertEqual(self.domain_a.status, "active")

    def test_users_and_aliases(self):
        body = self.assertStatus(
            self.a(
                "POST",
                "/users/",
                json={"email": "Carl@acme.test", "password": "long enough pw", "catch_all": True},
            ),
            201,
        )
        self.assertEqual((body["email"], body["catch_all"]), ("carl@acme.test", True))
        emails = [u["email"] for u in self.assertStatus(self.a("GET", "/users/"), 200)]
        self.assertEqual(emails, ["ann@acme.test", "carl@acme.test"])
        self.assertStatus(self.a("GET", "/users/carl@acme.test"), 200)
        body = self.assertStatus(
            self.a(
                "PUT", "/users/carl@acme.test", json={"name": "Carl", "password": "another long pw"}
            ),
            200,
        )
        self.assertEqual(body["name"], "Carl")
        self.assertEqual(
            self.assertStatus(
                self.a("PUT", "/users/carl@acme.test/quota", json={"quota_mb": 10}), 200
            ),
            {"quota_mb": 10, "used_mb": None},
        )
        self.assertStatus(self.a("GET", "/users/carl@acme.test/quota"), 200)
        alias = {"source": "sales@acme.test", "destination": "carl@acme.test"}
        self.assertStatus(self.a("POST", "/aliases/", json=alias), 201)
        self.assertStatus(self.a("POST", "/aliases/", json=alias), 200)
        sources = [a["source"] for a in self.assertStatus(self.a("GET", "/aliases/"), 200)]
        self.assertEqual(sources, ["@acme.test", "info@acme.test", "sales@acme.test"])
        self.assertStatus(self.a("DELETE", "/aliases/sales@acme.test"), 204)
        self.assertStatus(self.a("DELETE", "/users/carl@acme.test"), 204)
        self.assertFalse(self.Mailbox.search([("email", "=", "carl@acme.test")]))
        self.assertEqual(self.Alias.search([("domain_id", "=", self.domain_a.id)]), self.alias_a)

    def test_own_usage(self):
        body = self.assertStatus(self.a("GET", f"/api-keys/{self.token_a}/usage"), 200)
        self.assertEqual(body["partner_ref"], "acme")
        self.assertEqual(body["usage"], {"domains_used": 1, "mailboxes": 1, "aliases": 1})
        self.assertNotIn("changes", body)


@tagged("post_install", "-at_install")
class TestSecondTenant(TenancyCase):
    """Every C route as globex (B) on acme's (A) objects: 404 or invisible,
    and nothing changes."""

    def b(self, method, path, **kwargs):
        return self.api(method, path, token=self.token_b, **kwargs)

    def test_reads_are_confined(self):
        self.assertEqual(
            [d["name"] for d in self.assertStatus(self.b("GET", "/domains/"), 200)], ["globex.test"]
        )
        self.assertEqual(
            [u["email"] for u in self.assertStatus(self.b("GET", "/users/?limit=1000"), 200)],
            ["bob@globex.test"],
        )
        self.assertEqual(self.assertStatus(self.b("GET", "/users/?domain=acme.test"), 200), [])
        self.assertEqual(
            [a["source"] for a in self.assertStatus(self.b("GET", "/aliases/"), 200)],
            ["info@globex.test"],
        )
        self.assertEqual(self.assertStatus(self.b("GET", "/aliases/?domain=acme.test"), 200), [])
        # the operator's own domain is not a customer's either
        self.assertStatus(self.b("GET", "/domains/example.com"), 404, "Domain not found")

    def test_every_route_on_another_tenants_objects(self):
        before = self.snapshot()
        calls = [
            ("GET", "/domains/acme.test", None, 404),
            ("DELETE", "/domains/acme.test", None, 404),
            ("PUT", "/domains/acme.test/suspend", None, 404),
            ("PUT", "/domains/acme.test/activate", None, 404),
            ("GET", "/domains/acme.test/retention", None, 404),
            ("GET", "/domains/acme.test/transfer", None, 404),
            ("GET", "/users/ann@acme.test", None, 404),
            ("PUT", "/users/ann@acme.test", {"name": "Hacked", "password": "hacked password"}, 404),
            ("DELETE", "/users/ann@acme.test", None, 404),
            ("GET", "/users/ann@acme.test/quota", None, 404),
            ("PUT", "/users/ann@acme.test/quota", {"quota_mb": 1}, 404),
            ("DELETE", "/aliases/info@acme.test", None, 404),
            ("DELETE", "/aliases/info@acme.test?destination=ann@acme.test", None, 404),
            ("GET", f"/api-keys/{self.token_a}/usage", None, 404),
            # creating on another tenant's domain: it is unknown to this caller
            ("POST", "/users/", {"email": "eve@acme.test", "password": "long enough pw"}, 422),
            ("POST", "/aliases/", {"source": "eve@acme.test", "destination": "x@globex.test"}, 422),
            ("POST", "/aliases/", {"source": "@acme.test", "destination": "bob@globex.test"}, 422),
            # a subdomain of another tenant's domain
            ("POST", "/domains/", {"name": "sub.acme.test"}, 409),
        ]
        for method, path, body, code in calls:
            with self.subTest(method=method, path=path):
                response = self.b(method, path, json=body)
                self.assertStatus(response, code)
        self.assertEqual(self.snapshot(), before)

    def test_a_customer_cannot_take_over_a_domain(self):
        before = self.snapshot()
        self.assertStatus(self.b("POST", "/domains/", json={"name": "acme.test"}), 409)
        self.assertEqual(self.snapshot(), before)
