import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_saas.tests.audit_common import audit_trail, flush_trail, trail_size

from .sending_common import SendingCase
from .webhook_fixtures import MAILGUN_KEY, mailgun_body, mailgun_failed


@tagged("post_install", "-at_install")
class TestAuditTrailOutbound(SendingCase):
    """The audit trail of the sending settings: tracked tier, enforcement,
    status and its reason, limits, provider and verification; a guillotine
    names the rates that triggered it; the send decision and the resets
    write counters only, and no message."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        flush_trail(cls.env)  # the setup's changes are not the tests'

    def last(self, record=None):
        return audit_trail(record or self.domain_a)[0]

    def test_settings_are_tracked(self):
        manager = self.emboux_manager
        self.domain_a.with_user(manager).set_outbound_settings(
            {
                "outbound_tier": "pro",
                "outbound_enforcement": "soft",
                "daily_limit": 40,
                "warmup_profile": "fast",
            }
        )
        entry = self.last()
        self.assertEqual(entry.author, manager.partner_id)
        self.assertEqual(entry.text, "")
        self.assertEqual(
            entry.changes,
            {
                "outbound_tier_id": ("Free", "Pro"),
                "outbound_enforcement": ("Hard (refuse over a limit)", "Soft (allow and flag)"),
                "outbound_daily_cap_staff": (0, 40),
                "warmup_profile": ("", "Fast (x1.8 a day)"),
            },
        )
        self.domain_a.with_user(manager).button_outbound_pause()
        self.assertEqual(self.last().changes, {"outbound_status": ("Active", "Paused")})

    def test_verification_by_the_scheduled_action(self):
        cron = self.env.ref("emboux_outbound.ir_cron_emboux_provider_poll")
        # as ir.cron._run_job runs the job: its user, its id in the context
        self.domain_b.with_user(cron.user_id).with_context(cron_id=cron.id)._set_verification(
            "failed", dkim_status="failed"
        )
        entry = self.last(self.domain_b)
        self.assertEqual(entry.author, cron.user_id.partner_id)
        self.assertEqual(
            entry.text, "By the scheduled action 'Emboux: poll pending provider verifications'."
        )
        self.assertEqual(
            entry.changes,
            {
                "verification_status": ("Verified", "Failed"),
                "dkim_status": ("Not Started", "Failed"),
            },
        )

    def test_guillotine_by_webhook_names_the_rates(self):
        self.set_counters(sent_today=150)
        self.add_history(self.domain_a, 3, 50)
        Event = self.env["emboux.webhook.event"]
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}):
            for address in ("a@example.org", "b@example.org"):
                Event._receive_mailgun(mailgun_body(mailgun_failed(address)))
        self.assertEqual(self.domain_a.outbound_status, "guillotined")
        entry = self.last()
        self.assertEqual(
            entry.text,
            "Via the Mailgun webhook. Guillotined for its bounce rate over 200 messages: "
            "bounce rate 1.00% (threshold 0.50%), complaint rate 0.00% (threshold 0.10%).",
        )
        self.assertEqual(
            entry.changes,
            {
                "outbound_status": ("Active", "Guillotined"),
                "outbound_status_reason": (
                    False,
                    "bounce rate 1.00% over 200 messages exceeds 0.50%",
                ),
            },
        )
        # lifting it clears the reason, in the trail too
        self.domain_a.with_user(self.emboux_manager).action_outbound_resume()
        self.assertEqual(
            self.last().changes,
            {
                "outbound_status": ("Guillotined", "Active"),
                "outbound_status_reason": (
                    "bounce rate 1.00% over 200 messages exceeds 0.50%",
                    False,
                ),
            },
        )

    def test_guillotine_on_both_rates(self):
        self.set_counters(sent_today=100, bounces_today=2, complaints_today=1)
        self.add_history(self.domain_a, 2, 100)
        result = self.Suppression._process_bounce_or_complaint(
            "complaint", ["c@example.org"], domain_name="acme.test", source="api"
        )
        self.assertTrue(result["guillotined"])
        self.assertEqual(
            self.last().text,
            "Guillotined for its bounce and complaint rates over 200 messages: "
            "bounce rate 1.00% (threshold 0.50%), complaint rate 1.00% (threshold 0.10%).",
        )

    def test_send_decision_writes_no_tracked_field(self):
        before = trail_size(self.env, "emboux.domain")
        self.assertTrue(self.send(count=3, recipients=["x@example.org"], size_bytes=100)["allowed"])
        # not even a tracking pending for the commit: the decision writes
        # its counters in SQL, outside the ORM and its tracking
        self.assertFalse(self.env.cr.precommit.data.get("mail.tracking.emboux.domain"))
        self.set_counters(sent_today=100)
        refused = self.send()
        self.assertFalse(refused["allowed"])
        self.assertEqual(refused["reason"], "daily_limit")
        self.assertEqual(trail_size(self.env, "emboux.domain"), before)

    def test_resets_write_no_message(self):
        self.set_counters(sent_today=10, sent_this_month=30, bounces_today=1)
        self.set_counters(self.domain_b, sent_today=4, sent_this_month=8)
        self.domain_a.write({"transfer_used_mb": 7})
        before = trail_size(self.env, "emboux.domain")
        self.assertEqual(self.Counter.reset_daily(), 2)
        self.assertEqual(self.Counter.reset_monthly(), 2)
        self.assertEqual(self.counters()["sent_this_month"], 0)
        self.assertEqual(trail_size(self.env, "emboux.domain"), before)
