import re

from odoo.exceptions import AccessError
from odoo.service.model import call_kw
from odoo.tests import new_test_user, tagged

from odoo.addons.emboux_core.tests.fake_doveadm import DoveadmServerMixin
from odoo.addons.emboux_saas.tests.test_portal import PortalCase

from .common import TenancyCase

STORAGE_CELL = re.compile(r'class="[^"]*o_emboux_storage_used[^"]*">(.*?)</(?:td|dd)>', re.DOTALL)
UTC_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
MASTER_BODY = "Master token required"


@tagged("post_install", "-at_install")
class TestRetentionApi(DoveadmServerMixin, TenancyCase):
    def seed(self, user):
        self.doveadm.add_message(user, 90, "INBOX", subject="old")
        self.doveadm.add_message(user, 8, "Archive", subject="old")
        self.doveadm.add_message(user, 6, "INBOX", subject="new")

    def test_purge_through_the_api(self):
        self.domain_a.set_retention(7)
        self.seed("ann@acme.test")
        self.seed("bob@globex.test")
        body = self.assertStatus(self.api("GET", "/domains/acme.test/retention"), 200)
        self.assertEqual(
            body, {"retention_days": 7, "last_purge_at": None, "last_purge_error": None}
        )
        body = self.assertStatus(self.api("POST", "/domains/ACME.test/retention/purge"), 200)
        self.assertEqual(body["retention_days"], 7)
        self.assertRegex(body["last_purge_at"], UTC_TIME)
        self.assertIsNone(body["last_purge_error"])
        self.assertEqual(self.doveadm.subjects("ann@acme.test"), ["INBOX/new"])
        # only that domain
        self.assertEqual(len(self.doveadm.subjects("bob@globex.test")), 3)
        self.assertEqual(
            self.assertStatus(self.api("GET", "/domains/acme.test/retention"), 200), body
        )
        # the owner reads it too
        self.assertEqual(
            self.assertStatus(
                self.api("GET", "/domains/acme.test/retention", token=self.token_a), 200
            ),
            body,
        )

    def test_purge_refused(self):
        self.domain_a.set_retention(7)
        self.seed("ann@acme.test")
        # a customer, its own domain or another's: master only
        for name in ("acme.test", "globex.test"):
            self.assertStatus(
                self.api("POST", f"/domains/{name}/retention/purge", token=self.token_a),
                403,
                MASTER_BODY,
            )
        self.assertStatus(self.api("POST", "/domains/acme.test/retention/purge", token=None), 401)
        self.assertStatus(self.api("POST", "/domains/nope.test/retention/purge"), 404)
        self.assertEqual(len(self.doveadm.subjects("ann@acme.test")), 3)
        self.assertFalse(self.doveadm.calls)
        # nothing to purge: 422 naming the field
        self.assertDetailNames(
            self.api("POST", "/domains/globex.test/retention/purge"), 422, "retention_days"
        )
        self.domain_a.action_suspend()
        self.assertDetailNames(
            self.api("POST", "/domains/acme.test/retention/purge"), 422, "status"
        )
        self.assertEqual(len(self.doveadm.subjects("ann@acme.test")), 3)
        self.assertFalse(self.domain_a.last_purge_at)

    def test_purge_unreachable_is_recorded(self):
        self.domain_a.set_retention(7)
        self.seed("ann@acme.test")
        self.doveadm.drop_users.add("ann@acme.test")
        body = self.assertStatus(self.api("POST", "/domains/acme.test/retention/purge"), 200)
        self.assertIn("Dovecot could not be reached", body["last_purge_error"])
        self.assertNotIn(self.doveadm.url, body["last_purge_error"])
        self.assertRegex(body["last_purge_at"], UTC_TIME)
        self.assertEqual(len(self.doveadm.subjects("ann@acme.test")), 3)

    def test_usage_in_the_user_routes(self):
        body = self.assertStatus(self.api("GET", "/users/ann@acme.test"), 200)
        self.assertIsNone(body["used_mb"])
        self.assertIsNone(body["used_at"])
        self.assertEqual(
            self.assertStatus(self.api("GET", "/users/ann@acme.test/quota"), 200),
            {"quota_mb": 1024, "used_mb": None},
        )
        self.doveadm.add_message("ann@acme.test", 1, size=3 * 1024 * 1024 + 1024)
        self.doveadm.add_user("bob@globex.test")
        self.assertEqual(self.Mailbox._cron_refresh_usage(), 2)
        body = self.assertStatus(self.api("GET", "/users/ann@acme.test", token=self.token_a), 200)
        self.assertEqual(body["used_mb"], 4)  # 3 MiB and 1 KiB, rounded up
        self.assertRegex(body["used_at"], UTC_TIME)
        self.assertEqual(
            self.assertStatus(
                self.api("GET", "/users/ann@acme.test/quota", token=self.token_a), 200
            ),
            {"quota_mb": 1024, "used_mb": 4},
        )
        self.assertEqual(
            self.assertStatus(self.api("GET", "/users/bob@globex.test"), 200)["used_mb"], 0
        )
        # the list answers no usage (GET /users/{email} adds it)
        listed = self.assertStatus(self.api("GET", "/users/"), 200)
        self.assertNotIn("used_mb", listed[0])


@tagged("post_install", "-at_install")
class TestRetentionRpcDoors(DoveadmServerMixin, TenancyCase):
    """The public methods through Odoo's JSON-RPC (call_kw) as customers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        contact = cls.env["res.partner"].create(
            {"name": "acme portal", "parent_id": cls.tenant_a.partner_id.id}
        )
        cls.portal = new_test_user(
            cls.env, login="acme_portal", groups="base.group_portal", partner_id=contact.id
        )
        cls.domain_a.set_retention(7)

    def test_customers_refused(self):
        self.doveadm.add_message("ann@acme.test", 30)
        for user in (self.portal, self.tenant_a.user_id):
            env = self.env(user=user)
            for model, record, method in (
                ("emboux.domain", self.domain_a, "action_purge_retention"),
                ("emboux.mailbox", self.mailbox_a, "action_refresh_usage"),
            ):
                with self.subTest(user=user.login, method=method), self.assertRaises(AccessError):
                    call_kw(env[model], method, [record.ids], {})
            for model, record, vals in (
                ("emboux.domain", self.domain_a, {"last_purge_error": False}),
                ("emboux.domain", self.domain_a, {"last_purge_at": False}),
                ("emboux.mailbox", self.mailbox_a, {"used_mb": 1}),
                ("emboux.mailbox", self.mailbox_a, {"used_at": False}),
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    call_kw(env[model], "write", [record.ids, vals], {})
        self.assertFalse(self.doveadm.calls)
        self.assertEqual(len(self.doveadm.subjects("ann@acme.test")), 1)
        # the customer reads the outcome on its own domain
        self.domain_a.action_purge_retention()
        env = self.env(user=self.portal)
        read = call_kw(env["emboux.domain"], "read", [self.domain_a.ids, ["last_purge_at"]], {})
        self.assertTrue(read[0]["last_purge_at"])
        self.assertEqual(self.doveadm.subjects("ann@acme.test"), [])


@tagged("post_install", "-at_install")
class TestPortalStorageUsage(DoveadmServerMixin, PortalCase):
    """The portal's mailbox pages show the storage used against the quota."""

    def storage(self, url):
        cells = STORAGE_CELL.findall(self.get(url).text)
        self.assertEqual(len(cells), 1, url)
        return cells[0]

    def test_mailbox_pages(self):
        self.login(self.user_a)
        pages = ("/my/mailboxes", f"/my/mailboxes/{self.mailbox_a.id}")
        for url in pages:
            self.assertIn("not read yet", self.storage(url))
        self.mailbox_a.quota_mb = 10
        self.doveadm.add_message("ann@acme-portal.test", 1, size=8 * 1024 * 1024 - 4096)
        self.doveadm.add_user("bob@globex-portal.test")
        self.env["emboux.mailbox"]._cron_refresh_usage()
        for url in pages:
            cell = re.sub(r"\s+", " ", self.storage(url))
            self.assertIn("8 MB of 10 MB (80%)", cell, url)
            self.assertIn('style="width: 80%"', cell, url)
            self.assertIn("bg-warning", cell, url)
            self.assertIn('aria-valuenow="80"', cell, url)
        self.assertIn("1 messages", self.storage(pages[1]))
