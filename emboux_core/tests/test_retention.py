import os
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.emboux_core.doveadm import DoveadmClient, DoveadmCommandError, DoveadmUnreachable
from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .common import EmbouxCase, all_logs_with_sql
from .fake_doveadm import DoveadmServerMixin

LOGGER = "odoo.addons.emboux_core.models.emboux_domain_retention"
# what the purge keeps of seed(): the messages received less than 30 days ago
NEW = ["INBOX/new", "Sent/new"]


@tagged("post_install", "-at_install")
class TestRetentionPurge(DoveadmServerMixin, EmbouxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain.retention_days = 30
        cls.jane = cls.make_mailbox("jane@example.com")
        # archived: no login, but its Maildir is kept and purged too
        cls.old = cls.make_mailbox("old@example.com", active=False)

    def seed(self, *users):
        for user in users:
            self.doveadm.add_message(user, 40, "INBOX", subject="old")
            self.doveadm.add_message(user, 31, "Archive/2020", subject="old")
            self.doveadm.add_message(user, 29, "INBOX", subject="new")
            self.doveadm.add_message(user, 1, "Sent", subject="new")

    def test_purge_keeps_exactly_the_recent_messages(self):
        self.seed("jane@example.com", "old@example.com")
        self.assertEqual(self.Domain._cron_retention_purge(), 1)
        for user in ("jane@example.com", "old@example.com"):
            self.assertEqual(self.doveadm.subjects(user), NEW, user)
        # one expunge per mailbox, every folder, INTERNALDATE before 30 days
        self.assertEqual(
            sorted(self.doveadm.users_called("expunge")), ["jane@example.com", "old@example.com"]
        )
        self.assertFalse(self.domain.last_purge_error)
        self.assertTrue(self.domain.last_purge_at)
        self.assertIn("2 of 2 mailboxes", self.domain.last_purge_result)
        self.assertIn("30 days", self.domain.last_purge_result)

    def test_query_sent_to_dovecot(self):
        self.seed("jane@example.com", "old@example.com")
        seen = []
        original = DoveadmClient.run

        def spy(client, command, **params):
            seen.append((command, params))
            return original(client, command, **params)

        with patch.object(DoveadmClient, "run", spy):
            self.Domain._cron_retention_purge()
        self.assertIn(
            ("expunge", {"user": "jane@example.com", "query": ["mailbox", "*", "before", "30d"]}),
            seen,
        )

    def test_suspended_and_forever_domains_never_purged(self):
        suspended = self.Domain.create({"name": "frozen.test", "retention_days": 1})
        forever = self.Domain.create({"name": "forever.test"})
        self.make_mailbox("ann@frozen.test")
        self.make_mailbox("bob@forever.test")
        suspended.action_suspend()
        self.seed("ann@frozen.test", "bob@forever.test", "jane@example.com", "old@example.com")
        self.assertEqual(self.Domain._cron_retention_purge(), 1)
        self.assertEqual(len(self.doveadm.subjects("ann@frozen.test")), 4)
        self.assertEqual(len(self.doveadm.subjects("bob@forever.test")), 4)
        self.assertNotIn("ann@frozen.test", self.doveadm.users_called("expunge"))
        self.assertFalse(suspended.last_purge_at)
        self.assertFalse(forever.last_purge_at)
        self.assertEqual(self.doveadm.subjects("jane@example.com"), NEW)

    def test_unreachable_for_one_domain_others_still_purged(self):
        first = self.Domain.create({"name": "aaa.test", "retention_days": 30})
        last = self.Domain.create({"name": "zzz.test", "retention_days": 30})
        self.make_mailbox("ann@aaa.test")
        self.make_mailbox("zed@zzz.test")
        self.seed("ann@aaa.test", "jane@example.com", "zed@zzz.test", "old@example.com")
        self.doveadm.drop_users.add("jane@example.com")  # the connection drops
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.Domain._cron_retention_purge()
        self.assertIn("could not be reached", self.domain.last_purge_error)
        self.assertTrue(self.domain.last_purge_at)
        self.assertTrue(any("example.com" in line for line in logs.output), logs.output)
        # the other domains were purged, before and after it
        for domain, user in ((first, "ann@aaa.test"), (last, "zed@zzz.test")):
            self.assertFalse(domain.last_purge_error, domain.name)
            self.assertEqual(self.doveadm.subjects(user), NEW, user)
        # the next run retries and clears the error
        self.doveadm.drop_users.clear()
        self.Domain._cron_retention_purge()
        self.assertFalse(self.domain.last_purge_error)
        self.assertEqual(self.doveadm.subjects("jane@example.com"), NEW)

    def test_dovecot_down_stops_calling_after_three_domains(self):
        names = ["d1.test", "d2.test", "d3.test", "d4.test"]
        domains = self.Domain.create([{"name": n, "retention_days": 7} for n in names])
        self.domain.retention_days = 0
        for name in names:
            self.make_mailbox(f"a@{name}")
            self.make_mailbox(f"b@{name}")
            self.doveadm.drop_users |= {f"a@{name}", f"b@{name}"}
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.Domain._cron_retention_purge()
        # the first mailbox of d1, d2, d3 only: a domain stops at its first
        # unreachable call, the run after three such domains in a row
        self.assertEqual(
            self.doveadm.users_called("expunge"), ["a@d1.test", "a@d2.test", "a@d3.test"]
        )
        for domain in domains[:3]:
            self.assertIn("could not be reached", domain.last_purge_error)
        self.assertIn(
            "not tried in this run: Dovecot could not be reached", domains[3].last_purge_error
        )
        self.assertTrue(domains[3].last_purge_at)
        self.assertTrue(any("3 domains in a row" in line for line in logs.output), logs.output)

    def test_partial_failure_names_the_mailbox(self):
        self.seed("jane@example.com")  # old@example.com unknown to Dovecot: exit code 67
        self.Domain._cron_retention_purge()
        error = self.domain.last_purge_error
        self.assertIn("1 of 2 mailboxes failed", error)
        self.assertIn("old@example.com: unknown user (doveadm exit code 67)", error)
        self.assertIn("1 of 2 mailboxes", self.domain.last_purge_result)
        self.assertEqual(self.doveadm.subjects("jane@example.com"), NEW)

    def test_not_configured_is_recorded_not_a_crash(self):
        self.seed("jane@example.com")
        with (
            patch.dict(os.environ, {"EMBOUX_DOVEADM_URL": "", "EMBOUX_DOVEADM_API_KEY": ""}),
            self.assertLogs(LOGGER, "WARNING") as logs,
        ):
            self.Domain._cron_retention_purge()
        self.assertIn("not configured", self.domain.last_purge_error)
        self.assertIn("EMBOUX_DOVEADM_URL", self.domain.last_purge_error)
        self.assertEqual(len(logs.output), 1)
        self.assertFalse(self.doveadm.calls)
        self.assertEqual(len(self.doveadm.subjects("jane@example.com")), 4)

    def test_wrong_key_and_the_key_never_logged(self):
        self.seed("jane@example.com", "old@example.com")
        wrong = "wrong-key-that-must-not-leak"
        with (
            patch.dict(os.environ, {"EMBOUX_DOVEADM_API_KEY": wrong}),
            all_logs_with_sql() as lines,
        ):
            self.Domain._cron_retention_purge()
            self.env.flush_all()
        self.assertIn("refused the doveadm API key (HTTP 401)", self.domain.last_purge_error)
        self.assertEqual(len(self.doveadm.subjects("jane@example.com")), 4)
        text = "\n".join(lines)
        self.assertIn("refused the doveadm API key", text)
        for secret in (wrong, self.DOVEADM_KEY):
            self.assertNotIn(secret, text)
            self.assertNotIn(secret, self.domain.last_purge_error)
        self.assertNotIn(self.DOVEADM_KEY, repr(DoveadmClient.from_config()))

    def test_purge_now_is_for_managers_only(self):
        self.seed("jane@example.com", "old@example.com")
        action = self.domain.with_user(self.emboux_manager).action_purge_retention()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.doveadm.subjects("jane@example.com"), NEW)
        with self.assertRaises(AccessError):
            self.domain.with_user(self.emboux_user).action_purge_retention()
        self.domain.retention_days = 0
        with self.assertRaises(EmbouxInputError) as cm:
            self.domain.action_purge_retention()
        self.assertEqual(cm.exception.field, "retention_days")
        self.domain.retention_days = 5
        self.domain.action_suspend()
        with self.assertRaises(EmbouxInputError) as cm:
            self.domain.action_purge_retention()
        self.assertEqual(cm.exception.field, "status")

    def test_purge_does_not_touch_the_write_date(self):
        self.seed("jane@example.com", "old@example.com")
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE emboux_domain SET write_date = '2020-01-01' WHERE id = %s", [self.domain.id]
        )
        self.env.invalidate_all()
        self.Domain._cron_retention_purge()
        self.assertEqual(str(self.domain.write_date), "2020-01-01 00:00:00")
        self.assertTrue(self.domain.last_purge_at)


@tagged("post_install", "-at_install")
class TestDoveadmClient(DoveadmServerMixin, EmbouxCase):
    def test_answers_and_errors(self):
        self.doveadm.add_user("u@example.com", quota_kb=10240)
        self.doveadm.add_message("u@example.com", 1, size=5000)
        self.doveadm.add_message("u@example.com", 1, size=5000)
        with DoveadmClient.from_config() as client:
            usage = client.quota_get("u@example.com")
            self.assertEqual((usage.storage_kb, usage.messages, usage.limit_kb), (9, 2, 10240))
            with self.assertRaises(DoveadmCommandError) as cm:
                client.quota_get("nobody@example.com")
            self.assertEqual(cm.exception.exit_code, 67)
            self.assertFalse(cm.exception.fatal)
            client.expunge_older_than("u@example.com", 2)
            self.assertEqual(len(self.doveadm.subjects("u@example.com")), 2)
            # a folder that does not exist is doveadm's exit code 68
            with self.assertRaises(DoveadmCommandError) as cm:
                client.run(
                    "expunge", user="u@example.com", query=["mailbox", "Nope", "before", "1d"]
                )
            self.assertEqual(cm.exception.exit_code, 68)
            self.doveadm.mode = "error"
            with self.assertRaises(DoveadmUnreachable) as cm:
                client.quota_get("u@example.com")
            self.assertIn("HTTP 500", str(cm.exception))
            self.assertTrue(cm.exception.fatal)
