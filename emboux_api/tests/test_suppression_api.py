import re

from odoo.tests import tagged

from ..dependencies import MASTER_TOKEN_REQUIRED
from .common import TenancyCase

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


@tagged("post_install", "-at_install")
class TestSuppressionApi(TenancyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Suppression = cls.env["emboux.suppression"]
        cls.Suppression.search([]).unlink()  # only this test's entries (rolled back after)
        cls.Suppression._suppress(["zed@x.org", "amy@x.org"], "bounce", "mailgun", cls.domain_a)
        cls.Suppression._suppress(["bob@y.org"], "complaint", "ses")
        cls.Suppression.create({"email": "Manual@Z.org"})

    def test_list(self):
        body = self.assertStatus(self.api("GET", "/suppression"), 200)
        self.assertEqual(
            [{k: v for k, v in row.items() if k != "created_at"} for row in body],
            [
                {
                    "email": "amy@x.org",
                    "reason": "bounce",
                    "source": "mailgun",
                    "domain": "acme.test",
                },
                {"email": "bob@y.org", "reason": "complaint", "source": "ses", "domain": None},
                {"email": "manual@z.org", "reason": "manual", "source": "manual", "domain": None},
                {
                    "email": "zed@x.org",
                    "reason": "bounce",
                    "source": "mailgun",
                    "domain": "acme.test",
                },
            ],
        )
        self.assertTrue(all(UTC_TIME.match(row["created_at"]) for row in body))
        page = self.assertStatus(self.api("GET", "/suppression/?limit=2&offset=1"), 200)
        self.assertEqual([row["email"] for row in page], ["bob@y.org", "manual@z.org"])
        for query in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
            self.assertStatus(self.api("GET", f"/suppression?{query}"), 422)

    def test_check(self):
        self.assertEqual(
            self.assertStatus(self.api("GET", "/suppression/check/Bob@Y.org"), 200),
            {"email": "bob@y.org", "suppressed": True, "reason": "complaint"},
        )
        self.assertEqual(
            self.assertStatus(self.api("GET", "/suppression/check/new@y.org/"), 200),
            {"email": "new@y.org", "suppressed": False, "reason": None},
        )
        self.assertDetailNames(self.api("GET", "/suppression/check/not-an-address"), 422, "email")

    def test_delete(self):
        response = self.api("DELETE", "/suppression/ZED@x.org")
        self.assertStatus(response, 204)
        self.assertEqual(response.content, b"")
        self.assertFalse(self.Suppression._find_by_email("zed@x.org"))
        self.assertStatus(self.api("DELETE", "/suppression/zed@x.org"), 404)
        # no valid address is on the list (the API contract: 204, or 404)
        self.assertStatus(self.api("DELETE", "/suppression/nope"), 404, "Not suppressed")

    def test_master_only(self):
        for method, path in (
            ("GET", "/suppression"),
            ("GET", "/suppression/check/bob@y.org"),
            ("DELETE", "/suppression/bob@y.org"),
        ):
            self.assertStatus(
                self.api(method, path, token=self.token_a), 403, MASTER_TOKEN_REQUIRED
            )
            self.assertStatus(self.api(method, path, token=None), 401)
        self.assertTrue(self.Suppression._find_by_email("bob@y.org"))
