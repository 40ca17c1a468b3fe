import re

from odoo.tests import tagged

from .common import EmbouxApiCase

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


@tagged("post_install", "-at_install")
class TestDomains(EmbouxApiCase):
    def test_create(self):
        body = self.assertStatus(
            self.api("POST", "/domains/", json={"name": " Example.COM. "}), 201
        )
        self.assertEqual(
            {k: v for k, v in body.items() if k not in ("created_at", "updated_at")},
            {
                "name": "example.com",
                "partner_ref": None,
                "status": "active",
                "parent": None,
                "wildcard": False,
                "provider": None,
                "verification_status": "not_started",
                "verified_via_parent": False,
                "mailbox_count": 0,
                "alias_count": 0,
                "retention_days": None,
            },
        )
        self.assertRegex(body["created_at"], UTC_TIME)
        self.assertRegex(body["updated_at"], UTC_TIME)
        domain = self.Domain._find_by_name("example.com")
        self.assertTrue(domain)
        # created as the API's technical user
        self.assertEqual(domain.create_uid, self.api_user)

    def test_create_accepts_partner_ref_and_provider(self):
        self.make_tenant("ACME")
        body = self.assertStatus(
            self.api(
                "POST", "/domains", json={"name": "b.org", "partner_ref": "ACME", "provider": "ses"}
            ),
            201,
        )
        self.assertEqual(
            (body["name"], body["partner_ref"], body["provider"]), ("b.org", "ACME", "ses")
        )
        self.assertEqual(self.Domain._find_by_name("b.org").provider, "ses")
        self.assertDetailNames(
            self.api("POST", "/domains/", json={"name": "c.org", "provider": "smtp"}),
            422,
            "provider",
        )

    def test_subdomain_reports_parent_verification(self):
        parent = self.make_domain("parent.org")
        parent.set_parent(None, wildcard=True)
        body = self.assertStatus(self.api("POST", "/domains/", json={"name": "eu.parent.org"}), 201)
        self.assertEqual(
            (body["parent"], body["verification_status"], body["verified_via_parent"]),
            ("parent.org", "not_started", False),
        )
        parent._set_verification("verified")
        body = self.assertStatus(self.api("GET", "/domains/eu.parent.org"), 200)
        self.assertEqual(
            (body["verification_status"], body["verified_via_parent"]), ("verified", True)
        )
        body = self.assertStatus(self.api("GET", "/domains/parent.org"), 200)
        self.assertEqual(
            (body["verification_status"], body["verified_via_parent"]), ("verified", False)
        )

    def test_create_idn_is_punycode(self):
        body = self.assertStatus(
            self.api("POST", "/domains/", json={"name": "Bücher.example"}), 201
        )
        self.assertEqual(body["name"], "xn--bcher-kva.example")
        self.assertStatus(self.api("GET", "/domains/bücher.example"), 200)
        self.assertStatus(self.api("GET", "/domains/XN--BCHER-KVA.example"), 200)

    def test_create_duplicate_in_other_case(self):
        self.make_domain("example.com")
        for name in ("example.com", "EXAMPLE.com", "example.com."):
            with self.subTest(name=name):
                response = self.api("POST", "/domains/", json={"name": name})
                detail = self.assertDetailNames(response, 409, "name")
                self.assertIn("example.com", detail)
        self.assertEqual(self.Domain.search_count([]), 1)

    def test_create_invalid_names(self):
        for name in (
            "",
            "   ",
            "localhost",
            "exa mple.com",
            "-example.com",
            "example-.com",
            "ex_ample.com",
            "example..com",
            "a" * 64 + ".com",
            ".".join(["abcdefghi"] * 26) + ".com",  # 264 characters
            "exa\u0000mple.com",
            "@example.com",
        ):
            with self.subTest(name=name):
                self.assertDetailNames(
                    self.api("POST", "/domains/", json={"name": name}), 422, "name"
                )
        for body in ({}, {"name": None}, {"name": 12}, {"name": ["a.org"]}):
            with self.subTest(body=body):
                self.assertDetailNames(self.api("POST", "/domains/", json=body), 422, "name")
        response = self.api(
            "POST", "/domains/", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        self.assertStatus(response, 422)
        self.assertEqual(self.Domain.search_count([]), 0)

    def test_list_ordered_and_paged(self):
        for name in ("c.org", "a.org", "b.org"):
            self.make_domain(name)
        names = lambda r: [d["name"] for d in self.assertStatus(r, 200)]
        self.assertEqual(names(self.api("GET", "/domains/")), ["a.org", "b.org", "c.org"])
        self.assertEqual(names(self.api("GET", "/domains")), ["a.org", "b.org", "c.org"])
        self.assertEqual(names(self.api("GET", "/domains/?limit=2")), ["a.org", "b.org"])
        self.assertEqual(names(self.api("GET", "/domains/?limit=2&offset=2")), ["c.org"])
        self.assertEqual(names(self.api("GET", "/domains/?offset=5")), [])
        self.assertEqual(len(names(self.api("GET", "/domains/?limit=1000"))), 3)
        for query in (
            "limit=0",
            "limit=1001",
            "limit=-1",
            "offset=-1",
            "limit=abc",
            "offset=99999999999",
        ):
            with self.subTest(query=query):
                field = query.split("=")[0]
                self.assertDetailNames(self.api("GET", f"/domains/?{query}"), 422, field)

    def test_list_counts(self):
        self.make_domain("example.com")
        self.make_mailbox("jane@example.com")
        self.make_mailbox("john@example.com", active=False)
        self.Alias.upsert("info@example.com", "jane@example.com")
        body = self.assertStatus(self.api("GET", "/domains/"), 200)
        self.assertEqual((body[0]["mailbox_count"], body[0]["alias_count"]), (2, 1))

    def test_get(self):
        self.make_domain("example.com")
        for path in ("/domains/example.com", "/domains/Example.Com/", "/domains/example.com."):
            with self.subTest(path=path):
                self.assertEqual(
                    self.assertStatus(self.api("GET", path), 200)["name"], "example.com"
                )
        self.assertStatus(self.api("GET", "/domains/other.com"), 404, "Domain not found")
        # no valid name is an unknown name (the API contract: reading one answers 404)
        self.assertStatus(self.api("GET", "/domains/not a domain"), 404, "Domain not found")
        self.assertStatus(self.api("DELETE", "/domains/%00"), 404, "Domain not found")

    def test_delete(self):
        domain = self.make_domain("example.com")
        mailbox = self.make_mailbox("jane@example.com", catch_all=True)
        alias, _created = self.Alias.upsert("info@example.com", "jane@example.com")
        other = self.make_domain("other.org")
        response = self.api("DELETE", "/domains/EXAMPLE.com")
        self.assertStatus(response, 204)
        self.assertEqual(response.content, b"")
        self.assertFalse(domain.exists() or mailbox.exists() or alias.exists())
        self.assertTrue(other.exists())
        self.assertStatus(self.api("GET", "/domains/example.com"), 404, "Domain not found")
        self.assertStatus(self.api("DELETE", "/domains/example.com"), 404, "Domain not found")
        self.assertStatus(self.api("DELETE", "/domains/other.org/"), 204)

    def test_suspend_activate(self):
        domain = self.make_domain("example.com")
        body = self.assertStatus(self.api("PUT", "/domains/example.com/suspend"), 200)
        self.assertEqual(body["status"], "suspended")
        self.assertEqual(body["name"], "example.com")
        self.assertEqual(domain.suspended_by_id, self.api_user)
        # idempotent
        self.assertEqual(
            self.assertStatus(self.api("PUT", "/domains/example.com/suspend/"), 200)["status"],
            "suspended",
        )
        body = self.assertStatus(self.api("PUT", "/domains/example.com/activate"), 200)
        self.assertEqual(body["status"], "active")
        self.assertEqual(domain.status, "active")
        self.assertEqual(
            self.assertStatus(self.api("PUT", "/domains/example.com/activate"), 200)["status"],
            "active",
        )
        self.assertStatus(self.api("PUT", "/domains/nope.org/suspend"), 404, "Domain not found")
        self.assertStatus(self.api("PUT", "/domains/nope.org/activate"), 404, "Domain not found")
        self.assertStatus(self.api("POST", "/domains/example.com/suspend"), 405)

    def test_retention(self):
        domain = self.make_domain("example.com")
        self.assertEqual(
            self.assertStatus(self.api("GET", "/domains/example.com/retention"), 200),
            {"retention_days": None, "last_purge_at": None, "last_purge_error": None},
        )
        body = self.assertStatus(
            self.api("PUT", "/domains/example.com/retention", json={"retention_days": 30}), 200
        )
        self.assertEqual(
            body, {"retention_days": 30, "last_purge_at": None, "last_purge_error": None}
        )
        self.assertEqual(domain.retention_days, 30)
        self.assertEqual(
            self.assertStatus(self.api("GET", "/domains/example.com/retention/"), 200)[
                "retention_days"
            ],
            30,
        )
        self.assertEqual(
            self.assertStatus(self.api("GET", "/domains/example.com"), 200)["retention_days"], 30
        )
        for value in (None, 0):
            body = self.assertStatus(
                self.api("PUT", "/domains/example.com/retention", json={"retention_days": value}),
                200,
            )
            self.assertIsNone(body["retention_days"])
            self.assertEqual(domain.retention_days, 0)
        for value in (-1, "abc", 1.5, 2**31, [1]):
            with self.subTest(value=value):
                response = self.api(
                    "PUT", "/domains/example.com/retention", json={"retention_days": value}
                )
                self.assertDetailNames(response, 422, "retention_days")
        self.assertDetailNames(
            self.api("PUT", "/domains/example.com/retention", json={}), 422, "retention_days"
        )
        self.assertEqual(domain.retention_days, 0)
        self.assertStatus(self.api("GET", "/domains/nope.org/retention"), 404, "Domain not found")

    def test_transfer(self):
        domain = self.make_domain("example.com")
        domain.transfer_used_mb = 7
        expected = {"monthly_transfer_limit_mb": 0, "transfer_used_mb": 7}
        self.assertEqual(
            self.assertStatus(self.api("GET", "/domains/example.com/transfer"), 200), expected
        )
        body = self.assertStatus(
            self.api(
                "PUT",
                "/domains/example.com/transfer",
                json={
                    "monthly_transfer_limit_mb": 5000,
                    "transfer_used_mb": 0,
                },  # read-only: ignored
            ),
            200,
        )
        self.assertEqual(body, {"monthly_transfer_limit_mb": 5000, "transfer_used_mb": 7})
        self.assertEqual(domain.monthly_transfer_limit_mb, 5000)
        for value in (-5, "x", 2**40):
            with self.subTest(value=value):
                response = self.api(
                    "PUT",
                    "/domains/example.com/transfer",
                    json={"monthly_transfer_limit_mb": value},
                )
                self.assertDetailNames(response, 422, "monthly_transfer_limit_mb")
        self.assertEqual(domain.monthly_transfer_limit_mb, 5000)
        self.assertStatus(
            self.api("PUT", "/domains/nope.org/transfer", json={"monthly_transfer_limit_mb": 1}),
            404,
        )
