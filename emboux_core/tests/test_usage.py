import logging

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import EmbouxCase
from .fake_doveadm import DoveadmServerMixin

LOGGER = "odoo.addons.emboux_core.models.emboux_mailbox_usage"


@tagged("post_install", "-at_install")
class TestStorageUsage(DoveadmServerMixin, EmbouxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.jane = cls.make_mailbox("jane@example.com", quota_mb=10)
        cls.joe = cls.make_mailbox("joe@example.com", quota_mb=0, active=False)

    def test_cron_reads_every_mailbox(self):
        self.assertFalse(self.jane.used_at)
        self.assertEqual(self.jane.used_percent, 0)
        for _i in range(3):
            self.doveadm.add_message("jane@example.com", 1, size=1024 * 1024)
        self.doveadm.add_message("joe@example.com", 1, size=3000)
        self.env.flush_all()
        write_date = self.jane.write_date
        self.assertEqual(self.Mailbox._cron_refresh_usage(batch_size=1), 2)
        self.assertEqual(
            (self.jane.used_kb, self.jane.used_mb, self.jane.used_messages), (3072, 3, 3)
        )
        self.assertTrue(self.jane.used_at)
        self.assertAlmostEqual(self.jane.used_percent, 30.0)
        # 2 KiB counted, rounded up to 1 MB; no quota: no percentage
        self.assertEqual((self.joe.used_kb, self.joe.used_mb, self.joe.used_percent), (2, 1, 0))
        self.assertEqual(self.jane.write_date, write_date, "a reading, not an edit")

    def test_unknown_user_skipped_dovecot_down_logged(self):
        self.doveadm.add_message("jane@example.com", 1, size=4096)
        # joe unknown to Dovecot (67): skipped, jane read
        with self.assertLogs(LOGGER, logging.INFO) as logs:
            self.assertEqual(self.Mailbox._cron_refresh_usage(), 1)
        self.assertEqual(self.jane.used_kb, 4)
        self.assertFalse(self.joe.used_at)
        self.assertIn("joe@example.com", "\n".join(logs.output))
        self.doveadm.mode = "error"
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.assertEqual(self.Mailbox._cron_refresh_usage(), 0)
        self.assertIn("HTTP 500", "\n".join(logs.output))

    def test_button_staff_only(self):
        self.doveadm.add_message("jane@example.com", 1, size=2 * 1024 * 1024)
        action = self.jane.with_user(self.emboux_user).action_refresh_usage()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.jane.used_mb, 2)
        portal = self.env["res.users"].create(
            {
                "name": "Portal",
                "login": "usage_portal",
                "group_ids": [(6, 0, [self.env.ref("base.group_portal").id])],
            }
        )
        with self.assertRaises(AccessError):
            self.jane.with_user(portal).action_refresh_usage()
        # joe is unknown to Dovecot: named in a warning
        action = (self.jane | self.joe).action_refresh_usage()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("joe@example.com: unknown user", action["params"]["message"])
        self.doveadm.mode = "error"
        with self.assertRaises(UserError) as cm:
            self.jane.action_refresh_usage()
        self.assertIn("HTTP 500", str(cm.exception))
