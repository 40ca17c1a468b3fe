from datetime import timedelta

from odoo.tests import tagged

from .common import TenancyCase
from .test_openapi import MASTER as MASTER_OPERATIONS

MASTER_BODY = "Master token required"


@tagged("post_install", "-at_install")
class TestOpenApiRoles(TenancyCase):
    def test_x_required_role_exactly_on_master_routes(self):
        schema = self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)
        marked = {
            (method, path)
            for path, item in schema["paths"].items()
            for method, operation in item.items()
            if operation.get("x-required-role") == "master"
        }
        self.assertEqual(marked, MASTER_OPERATIONS)
        for method, path in [("get", "/api-keys/{token}/usage"), ("post", "/domains/")]:
            operation = schema["paths"][path][method]
            self.assertNotIn("x-required-role", operation)
            self.assertIn("401", operation["responses"])
        usage = schema["paths"]["/api-keys/{token}/usage"]["get"]
        self.assertIn("own token only", usage["description"])
        self.assertIn("Tenancy", schema["info"]["description"])


@tagged("post_install", "-at_install")
class TestApiKeys(TenancyCase):
    def test_create_list_revoke(self):
        body = self.assertStatus(
            self.api("POST", "/api-keys/", json={"partner_ref": "initech", "name": "billing"}), 201
        )
        self.assertEqual(set(body), {"id", "partner_ref", "name", "prefix", "expires_at", "token"})
        self.assertEqual(
            (body["partner_ref"], body["name"], body["expires_at"]), ("initech", "billing", None)
        )
        token = body["token"]
        self.assertTrue(token.startswith(body["prefix"]))
        tenant = self.Tenant._find_by_ref("initech")
        self.assertTrue(tenant and tenant.user_id)
        # the new key works at once, and owns what it creates
        created = self.assertStatus(
            self.api("POST", "/domains/", token=token, json={"name": "initech.test"}), 201
        )
        self.assertEqual(created["partner_ref"], "initech")
        # a second key of an existing tenant
        body2 = self.assertStatus(
            self.api(
                "POST",
                "/api-keys",
                json={
                    "partner_ref": "initech",
                    "name": "ops",
                    "expires_at": "2999-01-01T00:00:00Z",
                },
            ),
            201,
        )
        self.assertEqual(body2["expires_at"], "2999-01-01T00:00:00Z")
        self.assertEqual(self.Tenant.search_count([("partner_ref", "=", "initech")]), 1)
        # the list never holds a token
        response = self.api("GET", "/api-keys/?partner_ref=initech")
        keys = self.assertStatus(response, 200)
        self.assertEqual([k["name"] for k in keys], ["billing", "ops"])
        self.assertNotIn(token, response.text)
        self.assertNotIn(body2["token"], response.text)
        self.assertTrue(all("token" not in k for k in keys))
        self.assertEqual({k["state"] for k in keys}, {"active"})
        every = self.assertStatus(self.api("GET", "/api-keys/"), 200)
        self.assertEqual(
            sorted(k["partner_ref"] for k in every), ["acme", "globex", "initech", "initech"]
        )
        # revoke: 204, then 401, listed as revoked; again: 204
        self.assertStatus(self.api("DELETE", f"/api-keys/{body['id']}"), 204)
        self.assertStatus(self.api("GET", "/domains/", token=token), 401, "Not authenticated")
        self.assertStatus(self.api("GET", "/domains/", token=body2["token"]), 200)
        self.assertStatus(self.api("DELETE", f"/api-keys/{body['id']}/"), 204)
        keys = self.assertStatus(self.api("GET", "/api-keys/?partner_ref=initech"), 200)
        self.assertEqual([k["state"] for k in keys], ["revoked", "active"])
        self.assertStatus(self.api("DELETE", "/api-keys/999999"), 404, "API key not found")
        self.assertStatus(self.api("DELETE", "/api-keys/abc"), 422)

    def test_create_refuses_bad_input(self):
        before = self.snapshot()
        for body, field in [
            ({"partner_ref": "bad ref!", "name": "x"}, "partner_ref"),
            ({"partner_ref": "ok", "name": "  "}, "name"),
            ({"partner_ref": "ok"}, "name"),
            (
                {"partner_ref": "ok", "name": "x", "expires_at": "2000-01-01T00:00:00Z"},
                "expires_at",
            ),
            ({"partner_ref": "ok", "name": "x", "expires_at": "soon"}, "expires_at"),
        ]:
            with self.subTest(body=body):
                self.assertDetailNames(self.api("POST", "/api-keys/", json=body), 422, field)
        self.assertEqual(self.snapshot(), before)
        self.assertFalse(self.Tenant._find_by_ref("ok"))


@tagged("post_install", "-at_install")
class TestTenants(TenancyCase):
    def test_get_put(self):
        body = self.assertStatus(self.api("GET", "/tenants/acme"), 200)
        self.assertEqual(
            body,
            {
                "partner_ref": "acme",
                "name": "acme",
                "max_domains": 10,
                "max_mailboxes_per_domain": 50,
                "max_aliases_per_mailbox": 20,
                "domains_used": 1,
            },
        )
        body = self.assertStatus(
            self.api(
                "PUT",
                "/tenants/acme/",
                json={
                    "max_domains": 3,
                    "max_aliases_per_mailbox": 0,
                    "name": "Acme Corp",
                    "domains_used": 99,
                    "partner_ref": "other",
                },
            ),
            200,
        )
        self.assertEqual(
            body,
            {
                "partner_ref": "acme",
                "name": "Acme Corp",
                "max_domains": 3,
                "max_mailboxes_per_domain": 50,
                "max_aliases_per_mailbox": 0,
                "domains_used": 1,
            },
        )
        self.assertEqual(self.tenant_a.max_domains, 3)
        self.assertDetailNames(
            self.api("PUT", "/tenants/acme", json={"max_domains": -1}), 422, "max_domains"
        )
        self.assertDetailNames(
            self.api("PUT", "/tenants/acme", json={"max_domains": "x"}), 422, "max_domains"
        )
        self.assertEqual(self.tenant_a.max_domains, 3)
        self.assertStatus(self.api("GET", "/tenants/nobody"), 404, "Tenant not found")
        self.assertStatus(self.api("PUT", "/tenants/nobody", json={"max_domains": 1}), 404)
        # case matters
        self.assertStatus(self.api("GET", "/tenants/ACME"), 404)


@tagged("post_install", "-at_install")
class TestOwnership(TenancyCase):
    def test_master_creates_for_a_tenant(self):
        body = self.assertStatus(
            self.api("POST", "/domains/", json={"name": "for-b.test", "partner_ref": "globex"}), 201
        )
        self.assertEqual(body["partner_ref"], "globex")
        self.assertEqual(self.tenant_b.domains_used, 2)
        # globex sees it, acme does not
        self.assertStatus(self.api("GET", "/domains/for-b.test", token=self.token_b), 200)
        self.assertStatus(self.api("GET", "/domains/for-b.test", token=self.token_a), 404)
        # without partner_ref: the operator's own domain
        body = self.assertStatus(self.api("POST", "/domains/", json={"name": "ops.test"}), 201)
        self.assertIsNone(body["partner_ref"])
        # an unknown tenant: 422 naming partner_ref, nothing made
        self.assertDetailNames(
            self.api("POST", "/domains/", json={"name": "x.test", "partner_ref": "nobody"}),
            422,
            "partner_ref",
        )
        self.assertFalse(self.Domain.search([("name", "=", "x.test")]))

    def test_quotas_403_naming_the_quota(self):
        self.tenant_a.set_quotas(
            max_domains=2, max_mailboxes_per_domain=2, max_aliases_per_mailbox=2
        )
        a = self.token_a
        self.assertStatus(self.api("POST", "/domains/", token=a, json={"name": "two.test"}), 201)
        before = self.snapshot()
        response = self.api("POST", "/domains/", token=a, json={"name": "three.test"})
        self.assertDetailNames(response, 403, "max_domains")
        # the master creating for the tenant is held to the same quota
        response = self.api("POST", "/domains/", json={"name": "three.test", "partner_ref": "acme"})
        self.assertDetailNames(response, 403, "max_domains")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.tenant_a.domains_used, 2)
        # mailboxes per domain
        pw = "long enough pw"
        self.assertStatus(
            self.api("POST", "/users/", token=a, json={"email": "b@acme.test", "password": pw}), 201
        )
        response = self.api(
            "POST", "/users/", token=a, json={"email": "c@acme.test", "password": pw}
        )
        self.assertDetailNames(response, 403, "max_mailboxes_per_domain")
        self.assertFalse(self.Mailbox.search([("email", "=", "c@acme.test")]))
        # aliases per mailbox (info@ -> ann@ exists)
        self.assertStatus(
            self.api(
                "POST",
                "/aliases/",
                token=a,
                json={"source": "x@acme.test", "destination": "ann@acme.test"},
            ),
            201,
        )
        response = self.api(
            "POST",
            "/aliases/",
            token=a,
            json={"source": "y@acme.test", "destination": "ann@acme.test"},
        )
        self.assertDetailNames(response, 403, "max_aliases_per_mailbox")
        self.assertFalse(self.Alias.search([("source", "=", "y@acme.test")]))
        # a freed slot can be taken again
        self.assertStatus(self.api("DELETE", "/domains/two.test", token=a), 204)
        self.assertStatus(self.api("POST", "/domains/", token=a, json={"name": "three.test"}), 201)


@tagged("post_install", "-at_install")
class TestOwnerTransfer(TenancyCase):
    def test_transfer(self):
        body = self.assertStatus(
            self.api("PUT", "/domains/acme.test/owner", json={"partner_ref": "globex"}), 200
        )
        self.assertEqual(body["partner_ref"], "globex")
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (0, 2))
        # the mailboxes and aliases moved with it
        b = self.token_b
        self.assertStatus(self.api("GET", "/users/ann@acme.test", token=b), 200)
        self.assertStatus(self.api("GET", "/users/ann@acme.test", token=self.token_a), 404)
        self.assertStatus(self.api("GET", "/domains/acme.test", token=self.token_a), 404)
        sources = [
            a["source"] for a in self.assertStatus(self.api("GET", "/aliases/", token=b), 200)
        ]
        self.assertEqual(sources, ["info@acme.test", "info@globex.test"])
        self.assertEqual(
            self.assertStatus(self.api("GET", "/aliases/", token=self.token_a), 200), []
        )

    def test_refusals_change_nothing(self):
        lonely, _token = self.make_tenant("lonely")
        lonely.api_key_ids.action_revoke()
        full, _token = self.make_tenant("full", max_domains=1)
        self.Domain.create({"name": "full.test", "tenant_id": full.id})
        before = self.snapshot()
        response = self.api("PUT", "/domains/acme.test/owner", json={"partner_ref": "lonely"})
        self.assertDetailNames(response, 409, "partner_ref")
        response = self.api("PUT", "/domains/acme.test/owner", json={"partner_ref": "full"})
        self.assertDetailNames(response, 403, "max_domains")
        response = self.api("PUT", "/domains/acme.test/owner", json={"partner_ref": "nobody"})
        self.assertDetailNames(response, 422, "partner_ref")
        self.assertDetailNames(
            self.api("PUT", "/domains/acme.test/owner", json={}), 422, "partner_ref"
        )
        self.assertStatus(
            self.api("PUT", "/domains/nowhere.test/owner", json={"partner_ref": "globex"}), 404
        )
        self.assertStatus(
            self.api(
                "PUT",
                "/domains/acme.test/owner",
                token=self.token_a,
                json={"partner_ref": "globex"},
            ),
            403,
            MASTER_BODY,
        )
        self.assertEqual(self.snapshot(), before)


@tagged("post_install", "-at_install")
class TestParent(TenancyCase):
    def test_wildcard_parent(self):
        body = self.assertStatus(
            self.api("PUT", "/domains/acme.test/parent", json={"parent": None, "wildcard": True}),
            200,
        )
        self.assertEqual((body["parent"], body["wildcard"]), (None, True))
        # a subdomain created by the owner links itself
        body = self.assertStatus(
            self.api("POST", "/domains/", token=self.token_a, json={"name": "eu.acme.test"}), 201
        )
        self.assertEqual((body["parent"], body["partner_ref"]), ("acme.test", "acme"))
        # unlink it, keep the wildcard flag (not sent: unchanged)
        body = self.assertStatus(
            self.api("PUT", "/domains/eu.acme.test/parent", json={"parent": None}), 200
        )
        self.assertIsNone(body["parent"])
        body = self.assertStatus(
            self.api("PUT", "/domains/eu.acme.test/parent", json={"parent": "ACME.test"}), 200
        )
        self.assertEqual(body["parent"], "acme.test")
        body = self.assertStatus(self.api("PUT", "/domains/eu.acme.test/parent", json={}), 200)
        self.assertEqual((body["parent"], body["wildcard"]), ("acme.test", False))
        for parent in ("nowhere.test", "globex.test", "eu.acme.test"):
            with self.subTest(parent=parent):
                response = self.api("PUT", "/domains/eu.acme.test/parent", json={"parent": parent})
                self.assertDetailNames(response, 422, "parent")
        self.assertEqual(self.Domain._find_by_name("eu.acme.test").parent_id, self.domain_a)

    def test_parent_of_another_tenant_is_not_named(self):
        self.Domain.create({"name": "globex-sub.acme.test", "tenant_id": self.tenant_b.id})
        self.api("PUT", "/domains/globex-sub.acme.test/parent", json={"parent": "acme.test"})
        body = self.assertStatus(
            self.api("GET", "/domains/globex-sub.acme.test", token=self.token_b), 200
        )
        self.assertIsNone(body["parent"])
        body = self.assertStatus(self.api("GET", "/domains/globex-sub.acme.test"), 200)
        self.assertEqual(body["parent"], "acme.test")


@tagged("post_install", "-at_install")
class TestUsage(TenancyCase):
    def age(self, records, delta=timedelta(hours=2)):
        self.env.flush_all()
        self.env.cr.execute(
            f"UPDATE {records._table} SET write_date = write_date - %s WHERE id IN %s",
            [delta, tuple(records.ids)],
        )
        records.invalidate_recordset()

    def test_usage_shape_master_and_customer(self):
        for token in (None, self.token_a):
            with self.subTest(customer=bool(token)):
                kwargs = {"token": token} if token else {}
                body = self.assertStatus(
                    self.api("GET", f"/api-keys/{self.token_a}/usage", **kwargs), 200
                )
                self.assertEqual(
                    set(body),
                    {"partner_ref", "name", "expires_at", "quotas", "usage", "server_time"},
                )
                self.assertEqual(body["name"], "acme key")
                self.assertEqual(
                    body["quotas"],
                    {
                        "max_domains": 10,
                        "max_mailboxes_per_domain": 50,
                        "max_aliases_per_mailbox": 20,
                    },
                )
                self.assertEqual(body["usage"], {"domains_used": 1, "mailboxes": 1, "aliases": 1})
                self.assertTrue(body["server_time"].endswith("Z"))

    def test_only_own_token_for_a_customer(self):
        _key, sibling = self.Key.generate(self.tenant_a, "sibling")
        for path_token in (self.token_b, sibling, "emb_unknown", "anything"):
            with self.subTest(path_token=path_token[:8]):
                self.assertStatus(
                    self.api("GET", f"/api-keys/{path_token}/usage", token=self.token_a),
                    404,
                    "API key not found",
                )
        # the master: any valid key; not an unknown, revoked or the master token
        self.assertStatus(self.api("GET", f"/api-keys/{sibling}/usage"), 200)
        self.assertStatus(self.api("GET", "/api-keys/emb_unknown/usage"), 404)
        self.Key.search([("name", "=", "sibling")]).action_revoke()
        self.assertStatus(self.api("GET", f"/api-keys/{sibling}/usage"), 404)

    def test_delta_sync(self):
        self.age(self.domain_a | self.domain_b)
        self.age(self.mailbox_a | self.mailbox_b)
        self.age(self.alias_a | self.alias_b)
        url = f"/api-keys/{self.token_a}/usage"
        since = (self.env.cr.now() - timedelta(hours=1)).isoformat() + "Z"
        body = self.assertStatus(
            self.api("GET", url, token=self.token_a, params={"since": since}), 200
        )
        self.assertEqual(
            body["changes"], {"domains": [], "users": [], "aliases": [], "deleted": []}
        )
        # changes through the API, by the customer
        a = self.token_a
        self.assertStatus(
            self.api("POST", "/domains/", token=a, json={"name": "new.acme.example"}), 201
        )
        self.assertStatus(
            self.api(
                "POST",
                "/users/",
                token=a,
                json={"email": "x@acme.test", "password": "long enough pw"},
            ),
            201,
        )
        self.assertStatus(
            self.api("PUT", "/users/ann@acme.test", token=a, json={"name": "Ann"}), 200
        )
        self.assertStatus(self.api("DELETE", "/aliases/info@acme.test", token=a), 204)
        # and another tenant's changes, which acme never sees
        self.assertStatus(self.api("DELETE", "/aliases/info@globex.test", token=self.token_b), 204)
        self.assertStatus(
            self.api("POST", "/domains/", token=self.token_b, json={"name": "b2.test"}), 201
        )
        body = self.assertStatus(self.api("GET", url, token=a, params={"since": since}), 200)
        changes = body["changes"]
        self.assertEqual([d["name"] for d in changes["domains"]], ["new.acme.example"])
        self.assertEqual(changes["domains"][0]["partner_ref"], "acme")
        self.assertEqual(
            sorted(u["email"] for u in changes["users"]), ["ann@acme.test", "x@acme.test"]
        )
        self.assertEqual(changes["aliases"], [])
        self.assertEqual(
            [(d["type"], d["key"], d["destination"]) for d in changes["deleted"]],
            [("alias", "info@acme.test", "ann@acme.test")],
        )
        self.assertTrue(changes["deleted"][0]["deleted_at"].endswith("Z"))
        # deleting a domain reports it with its contents
        self.assertStatus(self.api("DELETE", "/domains/acme.test", token=a), 204)
        body = self.assertStatus(self.api("GET", url, token=a, params={"since": since}), 200)
        for entry in body["changes"]["deleted"]:
            # the API contract's keys; an alias row adds its destination
            alias_only = {"destination"} if entry["type"] == "alias" else set()
            keys = {"type", "key", "deleted_at"} | alias_only
            self.assertEqual(set(entry), keys, entry)
        self.assertEqual(
            sorted((d["type"], d["key"]) for d in body["changes"]["deleted"]),
            [
                ("alias", "info@acme.test"),
                ("domain", "acme.test"),
                ("user", "ann@acme.test"),
                ("user", "x@acme.test"),
            ],
        )
        self.assertEqual(body["usage"]["domains_used"], 1)
        # a time in the future: nothing; not a time: 422 naming since
        future = (self.env.cr.now() + timedelta(days=1)).isoformat() + "Z"
        body = self.assertStatus(self.api("GET", url, token=a, params={"since": future}), 200)
        self.assertFalse(any(body["changes"].values()))
        self.assertDetailNames(
            self.api("GET", url, token=a, params={"since": "yesterday"}), 422, "since"
        )

    def test_transfer_is_a_deletion_for_the_former_owner(self):
        since = "2000-01-01T00:00:00Z"
        self.assertStatus(
            self.api("PUT", "/domains/acme.test/owner", json={"partner_ref": "globex"}), 200
        )
        a = self.assertStatus(
            self.api(
                "GET",
                f"/api-keys/{self.token_a}/usage",
                token=self.token_a,
                params={"since": since},
            ),
            200,
        )
        self.assertEqual(a["changes"]["domains"], [])
        self.assertIn(
            ("domain", "acme.test"), [(d["type"], d["key"]) for d in a["changes"]["deleted"]]
        )
        b = self.assertStatus(
            self.api(
                "GET",
                f"/api-keys/{self.token_b}/usage",
                token=self.token_b,
                params={"since": since},
            ),
            200,
        )
        self.assertEqual(
            sorted(d["name"] for d in b["changes"]["domains"]), ["acme.test", "globex.test"]
        )
