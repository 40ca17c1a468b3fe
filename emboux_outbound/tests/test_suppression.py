from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from .sending_common import SendingCase


@tagged("post_install", "-at_install")
class TestSuppressionList(SendingCase):
    def test_staff_adds_and_removes(self):
        entry = self.Suppression.with_user(self.emboux_manager).create(
            {"email": " Someone@Example.ORG "}
        )
        self.assertEqual(
            (entry.email, entry.reason, entry.source, entry.created_at),
            ("someone@example.org", "manual", "manual", entry.create_date),
        )
        with self.assertRaises(EmbouxConflictError) as cm:
            self.Suppression.create({"email": "SOMEONE@example.org"})
        self.assertEqual(cm.exception.field, "email")
        with self.assertRaises(EmbouxInputError) as cm:
            self.Suppression.create({"email": "not-an-address"})
        self.assertEqual(cm.exception.field, "email")
        with self.assertRaises(AccessError):
            self.Suppression.with_user(self.emboux_user).create({"email": "x@example.org"})
        with_domain = self.Suppression.create(
            {"email": "b@example.org", "reason": "bounce", "domain_id": self.domain_a.id}
        )
        self.assertEqual(with_domain.domain, "acme.test")
        # kept, with the domain's name, when the domain goes
        self.domain_a.unlink()
        self.assertTrue(with_domain.exists())
        self.assertEqual((with_domain.domain_id.id, with_domain.domain), (False, "acme.test"))

    def test_staff_forms(self):
        manager = self.emboux_manager
        with Form(self.Suppression.with_user(manager)) as form:
            form.email = "Form@Example.org"
        entry = form.record
        self.assertEqual(
            (entry.email, entry.reason, entry.source), ("form@example.org", "manual", "manual")
        )
        # the domain form shows the sending state (read-only counters)
        self.send(count=3)
        form = Form(self.domain_a.with_user(manager))
        self.assertEqual(form.outbound_sent_today, 3)
        self.assertEqual(form.outbound_daily_limit, 100)
        self.assertEqual(form.outbound_hourly_limit, 17)
        # still there while the form is being edited (onchange)
        form.outbound_daily_cap = 60
        self.assertEqual(form.outbound_sent_today, 3)

    def test_check_and_unsuppress(self):
        self.assertEqual(
            self.Suppression.check("Nobody@Example.org"),
            {"email": "nobody@example.org", "suppressed": False, "reason": None},
        )
        self.Suppression._suppress(["nobody@example.org"], "complaint", "ses")
        self.assertEqual(
            self.Suppression.check("NOBODY@example.org"),
            {"email": "nobody@example.org", "suppressed": True, "reason": "complaint"},
        )
        self.assertTrue(self.Suppression.unsuppress("nobody@EXAMPLE.org"))
        self.assertFalse(self.Suppression.unsuppress("nobody@example.org"))
        with self.assertRaises(EmbouxInputError) as cm:
            self.Suppression.check("bad@")
        self.assertEqual(cm.exception.field, "email")

    def test_suppress_is_idempotent(self):
        added = self.Suppression._suppress(["a@x.org", "b@x.org", "a@x.org"], "bounce", "mailgun")
        self.assertEqual(added, ["a@x.org", "b@x.org"])
        added = self.Suppression._suppress(["b@x.org", "c@x.org"], "complaint", "ses")
        self.assertEqual(added, ["c@x.org"])
        # the first entry stays as it was
        self.assertEqual(self.Suppression._find_by_email("b@x.org").reason, "bounce")


@tagged("post_install", "-at_install")
class TestBounceProcessing(SendingCase):
    def process(self, kind, recipients, domain_name="acme.test", source="mailgun", event_id=None):
        return self.Suppression.sudo()._process_bounce_or_complaint(
            kind, recipients, domain_name=domain_name, source=source, event_id=event_id
        )

    def test_result_and_idempotence(self):
        result = self.process("bounce", ["Gone@Example.org", "bad address", "gone@example.org"])
        self.assertEqual(
            result,
            {"suppressed": ["gone@example.org"], "domain": "acme.test", "guillotined": False},
        )
        entry = self.Suppression._find_by_email("gone@example.org")
        self.assertEqual(
            (entry.reason, entry.source, entry.domain_id, entry.domain),
            ("bounce", "mailgun", self.domain_a, "acme.test"),
        )
        self.assertEqual(self.counters()["bounces_today"], 1)
        # the same address again: nothing new to list, but another bounce
        result = self.process("bounce", ["gone@example.org"], domain_name="ACME.TEST")
        self.assertEqual(result["suppressed"], [])
        self.assertEqual(self.counters()["bounces_today"], 2)

    def test_event_counted_once(self):
        for _ in range(2):
            result = self.process("complaint", ["c@example.org"], source="ses", event_id="fb-1")
        self.assertEqual(result, {"suppressed": [], "domain": "acme.test", "guillotined": False})
        self.assertEqual(self.counters()["complaints_today"], 1)
        # the same id from another provider is another event
        self.process("complaint", ["d@example.org"], source="mailgun", event_id="fb-1")
        self.assertEqual(self.counters()["complaints_today"], 2)

    def test_unknown_or_missing_domain_counts_nowhere(self):
        for name in (None, "elsewhere.test", "not a domain", 42):
            result = self.process("bounce", ["x@example.org"], domain_name=name)
            self.assertEqual(result["domain"], None)
            self.assertFalse(result["guillotined"])
        self.assertTrue(self.Suppression._find_by_email("x@example.org"))
        self.assertEqual(self.counters()["bounces_today"], 0)
        result = self.process("bounce", "single@example.org", domain_name=None)
        self.assertEqual(result["suppressed"], ["single@example.org"])

    def test_bad_kind(self):
        with self.assertRaises(EmbouxInputError) as cm:
            self.process("delivered", ["x@example.org"])
        self.assertEqual(cm.exception.field, "kind")

    def test_guillotine_waits_for_volume(self):
        # 1 bounce in 10 messages is 10%, but 10 messages say nothing yet
        self.set_counters(sent_today=10)
        self.assertFalse(self.process("bounce", ["a@example.org"])["guillotined"])
        self.assertEqual(self.domain_a.outbound_status, "active")
        self.assertAlmostEqual(self.domain_a._outbound_info()["bounce_rate"], 0.1)

    def test_bounce_rate_guillotine(self):
        self.set_counters(sent_today=150)
        self.add_history(self.domain_a, 3, 50)
        # 1 bounce in 200 messages: 0.5%, not above 0.5%
        self.assertFalse(self.process("bounce", ["a@example.org"])["guillotined"])
        result = self.process("bounce", ["b@example.org"])
        self.assertEqual(
            result, {"suppressed": ["b@example.org"], "domain": "acme.test", "guillotined": True}
        )
        self.assertEqual(self.domain_a.outbound_status, "guillotined")
        self.assertIn("bounce rate 1.00%", self.domain_a.outbound_status_reason)
        self.assertEqual(self.send()["reason"], "guillotined")
        # a later event on a guillotined domain says so
        self.assertTrue(self.process("bounce", ["c@example.org"])["guillotined"])

    def test_complaint_rate_guillotine_and_thresholds(self):
        self.set_counters(sent_today=1000)
        with self.config(COMPLAINT_RATE_THRESHOLD="0.002"):
            self.assertFalse(self.process("complaint", ["a@example.org"])["guillotined"])
            self.assertFalse(self.process("complaint", ["b@example.org"])["guillotined"])
        # 2 in 1,000 is above the default 0.1%
        self.assertTrue(self.process("complaint", ["c@example.org"])["guillotined"])

    def test_history_outside_window_does_not_count(self):
        self.add_history(self.domain_a, 8, 1000, bounces=50)
        self.set_counters(sent_today=300)
        self.assertFalse(self.process("bounce", ["a@example.org"])["guillotined"])
        info = self.domain_a._outbound_info()
        self.assertAlmostEqual(info["bounce_rate"], round(1 / 300, 6))

    def test_lift_starts_a_fresh_window(self):
        self.set_counters(sent_today=100)
        self.add_history(self.domain_a, 1, 900, bounces=9)
        self.assertTrue(self.process("bounce", ["a@example.org", "b@example.org"])["guillotined"])
        self.domain_a.with_user(self.emboux_manager).action_outbound_resume()
        self.assertEqual(self.domain_a.outbound_status, "active")
        self.assertTrue(self.domain_a.reputation_since)
        self.assertEqual(self.domain_a._outbound_info()["bounce_rate"], 0.0)
        # one more bounce is judged on today's volume alone: 1 in 100, too little volume
        self.assertFalse(self.process("bounce", ["c@example.org"])["guillotined"])

    def test_min_volume_configuration(self):
        self.set_counters(sent_today=10)
        with self.config(GUILLOTINE_MIN_VOLUME="10"):
            self.assertTrue(self.process("bounce", ["a@example.org"])["guillotined"])
