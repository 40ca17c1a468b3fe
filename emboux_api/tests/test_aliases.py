from odoo.tests import tagged

from .common import EmbouxApiCase


@tagged("post_install", "-at_install")
class TestAliases(EmbouxApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = cls.Domain.create({"name": "example.com"})
        cls.Mailbox.create({"email": "jane@example.com", "password": "correct horse"})

    def test_upsert(self):
        payload = {"source": "Info@Example.com", "destination": "Jane@example.com"}
        expected = {
            "source": "info@example.com",
            "destination": "jane@example.com",
            "domain": "example.com",
            "catch_all": False,
        }
        self.assertEqual(
            self.assertStatus(self.api("POST", "/aliases/", json=payload), 201), expected
        )
        # the same pair again, in another case: answered, not duplicated
        self.assertEqual(
            self.assertStatus(
                self.api(
                    "POST",
                    "/aliases",
                    json={"source": "info@example.com", "destination": "JANE@EXAMPLE.COM"},
                ),
                200,
            ),
            expected,
        )
        self.assertEqual(self.Alias.search_count([]), 1)
        # a second destination for the same source
        body = self.assertStatus(
            self.api(
                "POST",
                "/aliases/",
                json={"source": "info@example.com", "destination": "boss@elsewhere.net"},
            ),
            201,
        )
        self.assertEqual(body["destination"], "boss@elsewhere.net")
        self.assertEqual(self.domain.alias_count, 2)

    def test_catch_all(self):
        body = self.assertStatus(
            self.api(
                "POST",
                "/aliases/",
                json={"source": "@example.com", "destination": "jane@example.com"},
            ),
            201,
        )
        self.assertEqual(
            body,
            {
                "source": "@example.com",
                "destination": "jane@example.com",
                "domain": "example.com",
                "catch_all": True,
            },
        )
        self.assertTrue(
            self.assertStatus(self.api("GET", "/users/jane@example.com"), 200)["catch_all"]
        )
        self.assertStatus(self.api("DELETE", "/aliases/@example.com"), 204)
        self.assertFalse(
            self.assertStatus(self.api("GET", "/users/jane@example.com"), 200)["catch_all"]
        )

    def test_create_errors(self):
        cases = [
            ({"source": "info@unknown.org", "destination": "jane@example.com"}, "source"),
            ({"source": "not an address", "destination": "jane@example.com"}, "source"),
            ({"source": "info@example.com", "destination": "nope"}, "destination"),
            ({"source": "info@example.com", "destination": "@example.com"}, "destination"),
            ({"source": "info@example.com"}, "destination"),
            ({"destination": "jane@example.com"}, "source"),
            ({"source": "jane@example.com", "destination": "JANE@example.com"}, "destination"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assertDetailNames(self.api("POST", "/aliases/", json=body), 422, field)
        self.assertEqual(self.Alias.search_count([]), 0)

    def test_list(self):
        self.make_domain("other.org")
        self.Alias.upsert("b@example.com", "jane@example.com")
        self.Alias.upsert("a@example.com", "z@x.net")
        self.Alias.upsert("a@example.com", "y@x.net")
        self.Alias.upsert("a@other.org", "jane@example.com")
        pairs = lambda r: [(a["source"], a["destination"]) for a in self.assertStatus(r, 200)]
        self.assertEqual(
            pairs(self.api("GET", "/aliases/")),
            [
                ("a@example.com", "y@x.net"),
                ("a@example.com", "z@x.net"),
                ("a@other.org", "jane@example.com"),
                ("b@example.com", "jane@example.com"),
            ],
        )
        self.assertEqual(
            pairs(self.api("GET", "/aliases?domain=example.com&limit=2&offset=1")),
            [("a@example.com", "z@x.net"), ("b@example.com", "jane@example.com")],
        )
        self.assertEqual(pairs(self.api("GET", "/aliases/?domain=nobody.org")), [])
        self.assertDetailNames(self.api("GET", "/aliases/?domain=x"), 422, "domain")

    def test_delete(self):
        self.Alias.upsert("info@example.com", "jane@example.com")
        self.Alias.upsert("info@example.com", "boss@x.net")
        self.Alias.upsert("sales@example.com", "boss@x.net")
        # one row
        self.assertStatus(
            self.api("DELETE", "/aliases/INFO@example.com?destination=Boss@X.net"), 204
        )
        self.assertEqual(
            self.Alias.search([]).mapped(lambda a: (a.source, a.destination)),
            [("info@example.com", "jane@example.com"), ("sales@example.com", "boss@x.net")],
        )
        self.assertStatus(
            self.api("DELETE", "/aliases/info@example.com?destination=boss@x.net"),
            404,
            "Alias not found",
        )
        # every row of the source
        self.Alias.upsert("info@example.com", "boss@x.net")
        self.assertStatus(self.api("DELETE", "/aliases/info@example.com/"), 204)
        self.assertEqual(self.Alias.search([]).mapped("source"), ["sales@example.com"])
        self.assertStatus(self.api("DELETE", "/aliases/info@example.com"), 404, "Alias not found")
        self.assertStatus(self.api("DELETE", "/aliases/not-an-address"), 404, "Alias not found")
        self.assertDetailNames(
            self.api("DELETE", "/aliases/sales@example.com?destination=bad"), 422, "destination"
        )
        self.assertEqual(self.Alias.search_count([]), 1)
