from odoo.tests import tagged

from odoo.addons.emboux_core.tools import verify_password

from .common import EmbouxApiCase
from .test_domains import UTC_TIME


@tagged("post_install", "-at_install")
class TestUsers(EmbouxApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = cls.Domain.create({"name": "example.com"})

    def _hash(self, mailbox):
        return mailbox.sudo().password_hash

    def test_create(self):
        body = self.assertStatus(
            self.api(
                "POST",
                "/users/",
                json={
                    "email": " Jane.Doe@EXAMPLE.com ",
                    "password": "correct horse",
                    "name": "Jane",
                },
            ),
            201,
        )
        self.assertEqual(
            {k: v for k, v in body.items() if k not in ("created_at", "updated_at")},
            {
                "email": "jane.doe@example.com",
                "domain": "example.com",
                "name": "Jane",
                "quota_mb": 1024,
                "active": True,
                "catch_all": False,
            },
        )
        self.assertRegex(body["created_at"], UTC_TIME)
        self.assertNotIn("password", str(body))
        mailbox = self.Mailbox._find_by_email("jane.doe@example.com")
        self.assertTrue(verify_password("correct horse", self._hash(mailbox)))
        self.assertEqual(self.domain.mailbox_count, 1)

    def test_create_with_quota_and_catch_all(self):
        body = self.assertStatus(
            self.api(
                "POST",
                "/users",
                json={
                    "email": "jane@example.com",
                    "password": "correct horse",
                    "quota_mb": 0,
                    "catch_all": True,
                },
            ),
            201,
        )
        self.assertEqual((body["quota_mb"], body["catch_all"]), (0, True))
        aliases = self.assertStatus(self.api("GET", "/aliases/?domain=example.com"), 200)
        self.assertEqual(
            aliases,
            [
                {
                    "source": "@example.com",
                    "destination": "jane@example.com",
                    "domain": "example.com",
                    "catch_all": True,
                }
            ],
        )

    def test_create_errors(self):
        self.make_mailbox("jane@example.com")
        cases = [
            ({"email": "JANE@example.com", "password": "correct horse"}, 409, "email"),
            ({"email": "jane@Example.COM", "password": "correct horse"}, 409, "email"),
            ({"email": "new@example.com", "password": "short"}, 422, "password"),
            ({"email": "new@example.com", "password": "          "}, 422, "password"),
            ({"email": "new@example.com", "password": ""}, 422, "password"),
            ({"email": "new@example.com"}, 422, "password"),
            ({"email": "new@example.com", "password": None}, 422, "password"),
            ({"email": "new@unknown.org", "password": "correct horse"}, 422, "email"),
            ({"email": "not-an-address", "password": "correct horse"}, 422, "email"),
            ({"email": "a..b@example.com", "password": "correct horse"}, 422, "email"),
            ({"email": ".a@example.com", "password": "correct horse"}, 422, "email"),
            ({"email": "a b@example.com", "password": "correct horse"}, 422, "email"),
            ({"email": "x" * 65 + "@example.com", "password": "correct horse"}, 422, "email"),
            ({"email": "@example.com", "password": "correct horse"}, 422, "email"),
            ({"password": "correct horse"}, 422, "email"),
            (
                {"email": "new@example.com", "password": "correct horse", "quota_mb": -1},
                422,
                "quota_mb",
            ),
            (
                {"email": "new@example.com", "password": "correct horse", "quota_mb": 2**31},
                422,
                "quota_mb",
            ),
            (
                {"email": "new@example.com", "password": "correct horse", "name": "a\u0000b"},
                422,
                "name",
            ),
        ]
        for body, code, field in cases:
            with self.subTest(body=body):
                detail = self.assertDetailNames(self.api("POST", "/users/", json=body), code, field)
                self.assertNotIn("correct horse", str(detail))
        self.assertEqual(self.Mailbox.with_context(active_test=False).search_count([]), 1)

    def test_list(self):
        other = self.make_domain("other.org")
        self.make_mailbox("zed@example.com")
        self.make_mailbox("amy@other.org")
        self.make_mailbox("bob@example.com", active=False)
        emails = lambda r: [m["email"] for m in self.assertStatus(r, 200)]
        self.assertEqual(
            emails(self.api("GET", "/users/")),
            ["amy@other.org", "bob@example.com", "zed@example.com"],
        )
        self.assertEqual(
            emails(self.api("GET", "/users?domain=EXAMPLE.com")),
            ["bob@example.com", "zed@example.com"],
        )
        self.assertEqual(
            emails(self.api("GET", "/users/?domain=other.org&limit=1")), ["amy@other.org"]
        )
        self.assertEqual(emails(self.api("GET", "/users/?limit=1&offset=1")), ["bob@example.com"])
        self.assertEqual(emails(self.api("GET", "/users/?domain=unknown.org")), [])
        self.assertDetailNames(self.api("GET", "/users/?domain=bad domain"), 422, "domain")
        self.assertDetailNames(self.api("GET", "/users/?limit=5000"), 422, "limit")
        self.assertTrue(other)

    def test_get_update_delete(self):
        mailbox = self.make_mailbox("jane@example.com", name="Jane")
        body = self.assertStatus(self.api("GET", "/users/JANE@example.com"), 200)
        self.assertEqual((body["email"], body["name"]), ("jane@example.com", "Jane"))
        self.assertStatus(self.api("GET", "/users/nobody@example.com"), 404, "Mailbox not found")
        self.assertStatus(self.api("GET", "/users/not-an-address"), 404, "Mailbox not found")

        old_hash = self._hash(mailbox)
        body = self.assertStatus(
            self.api(
                "PUT",
                "/users/jane@example.com",
                json={"name": "Jane D.", "password": "new password!", "active": False},
            ),
            200,
        )
        self.assertEqual((body["name"], body["active"]), ("Jane D.", False))
        self.assertNotEqual(self._hash(mailbox), old_hash)
        self.assertTrue(verify_password("new password!", self._hash(mailbox)))
        # archived mailboxes are still found
        body = self.assertStatus(
            self.api("PUT", "/users/jane@example.com/", json={"active": True, "name": None}), 200
        )
        self.assertEqual((body["name"], body["active"]), (None, True))
        # an empty body changes nothing
        self.assertStatus(self.api("PUT", "/users/jane@example.com", json={}), 200)
        self.assertTrue(verify_password("new password!", self._hash(mailbox)))
        # extension: catch-all on PUT
        self.assertTrue(
            self.assertStatus(
                self.api("PUT", "/users/jane@example.com", json={"catch_all": True}), 200
            )["catch_all"]
        )
        self.assertFalse(
            self.assertStatus(
                self.api("PUT", "/users/jane@example.com", json={"catch_all": False}), 200
            )["catch_all"]
        )

        self.assertStatus(
            self.api("PUT", "/users/nobody@example.com", json={"name": "x"}),
            404,
            "Mailbox not found",
        )
        response = self.api("DELETE", "/users/Jane@Example.com")
        self.assertStatus(response, 204)
        self.assertFalse(mailbox.exists())
        self.assertStatus(self.api("DELETE", "/users/jane@example.com"), 404, "Mailbox not found")

    def test_update_is_all_or_nothing(self):
        """A refused PUT leaves the mailbox as it was (name not changed
        although valid, password kept)."""
        mailbox = self.make_mailbox("jane@example.com", name="Jane")
        old_hash = self._hash(mailbox)
        for body, field in (
            ({"name": "Changed", "password": "short"}, "password"),
            ({"name": "Changed", "active": "maybe"}, "active"),
        ):
            with self.subTest(body=body):
                self.assertDetailNames(
                    self.api("PUT", "/users/jane@example.com", json=body), 422, field
                )
                mailbox.invalidate_recordset()
                self.assertEqual(mailbox.name, "Jane")
                self.assertEqual(self._hash(mailbox), old_hash)
                self.assertTrue(mailbox.active)

    def test_quota(self):
        mailbox = self.make_mailbox("jane@example.com")
        self.assertEqual(
            self.assertStatus(self.api("GET", "/users/jane@example.com/quota"), 200),
            {"quota_mb": 1024, "used_mb": None},
        )
        body = self.assertStatus(
            self.api("PUT", "/users/jane@example.com/quota/", json={"quota_mb": 2048}), 200
        )
        self.assertEqual(body, {"quota_mb": 2048, "used_mb": None})
        self.assertEqual(mailbox.quota_mb, 2048)
        mailbox.sudo().write({"used_mb": 12, "used_at": "2030-01-01 00:00:00"})
        self.assertEqual(
            self.assertStatus(self.api("GET", "/users/jane@example.com/quota"), 200),
            {"quota_mb": 2048, "used_mb": 12},
        )
        self.assertEqual(
            self.assertStatus(
                self.api("PUT", "/users/jane@example.com/quota", json={"quota_mb": None}), 200
            )["quota_mb"],
            0,
        )
        for value in (-1, "lots", 2**31, 1.5):
            with self.subTest(value=value):
                self.assertDetailNames(
                    self.api("PUT", "/users/jane@example.com/quota", json={"quota_mb": value}),
                    422,
                    "quota_mb",
                )
        self.assertEqual(mailbox.quota_mb, 0)
        self.assertStatus(
            self.api("GET", "/users/nobody@example.com/quota"), 404, "Mailbox not found"
        )
