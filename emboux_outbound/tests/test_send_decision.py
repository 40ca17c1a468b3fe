from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import freeze_time, tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .sending_common import SendingCase

MB = 1048576


@tagged("post_install", "-at_install")
class TestSendDecision(SendingCase):
    def test_allowed_message_is_counted(self):
        answer = self.send(recipients=["Ann@Example.ORG"], size_bytes=2048)
        self.assertEqual(
            answer,
            {
                "allowed": True,
                "reason": None,
                "suppressed_recipients": [],
                "sent_today": 1,
                "daily_limit": 100,
                "remaining_today": 99,
            },
        )
        counters = self.counters()
        self.assertEqual(
            (
                counters["sent_today"],
                counters["sent_this_month"],
                counters["sent_this_hour"],
                counters["transfer_bytes"],
            ),
            (1, 1, 1, 2048),
        )
        self.send(count=3)
        self.assertEqual(self.counters()["sent_today"], 4)
        # the form's fields read the same counters
        self.assertEqual(self.domain_a.outbound_sent_today, 4)

    def test_bad_input_names_the_field_and_counts_nothing(self):
        for count in (0, -1, "1", 1.5, True, None, 2**31):
            with self.assertRaises(EmbouxInputError, msg=repr(count)) as cm:
                self.send(count=count)
            self.assertEqual(cm.exception.field, "count")
        for recipients in ("a@x.org", ["not an address"], [None], ["a@x"], {"a@x.org": 1}):
            with self.assertRaises(EmbouxInputError, msg=repr(recipients)) as cm:
                self.send(recipients=recipients)
            self.assertEqual(cm.exception.field, "recipients")
        with self.assertRaises(EmbouxInputError) as cm:
            self.send(recipients=[f"r{i}@x.org" for i in range(1001)])
        self.assertEqual(cm.exception.field, "recipients")
        for size in (-1, "3", 1.5, None, False):
            with self.assertRaises(EmbouxInputError, msg=repr(size)) as cm:
                self.send(size_bytes=size)
            self.assertEqual(cm.exception.field, "size_bytes")
        self.assertEqual(self.counters()["sent_today"], 0)

    def test_unknown_domain(self):
        Domain = self.env["emboux.domain"]
        self.assertFalse(Domain._find_by_name("nowhere.test"))
        answer = Domain._find_by_name("ACME.test").outbound_send_decision()
        self.assertTrue(answer["allowed"])

    def test_refusals_that_ignore_enforcement(self):
        for enforcement in ("hard", "soft", "off"):
            self.domain_a.outbound_enforcement = enforcement
            self.domain_a._set_verification("pending")
            self.assertEqual(self.send()["reason"], "unverified")
            self.domain_a._set_verification("verified")
            for status in ("paused", "guillotined"):
                self.domain_a.outbound_status = status
                answer = self.send()
                self.assertEqual((answer["allowed"], answer["reason"]), (False, status))
            self.domain_a.outbound_status = "active"
            self.domain_a.action_suspend()
            self.domain_a._set_verification("failed")
            # suspended is reported first
            self.assertEqual(self.send()["reason"], "suspended")
            self.domain_a.action_activate()
            self.domain_a._set_verification("verified")
        self.assertEqual(self.counters()["sent_today"], 0)
        self.assertTrue(self.send()["allowed"])

    def test_subdomain_sends_with_parent_verification_and_tier(self):
        self.domain_a.write({"is_wildcard": True, "outbound_tier_id": self.starter.id})
        sub = self.Domain.create({"name": "eu.acme.test", "warmup_profile": False})
        self.assertEqual(sub.parent_id, self.domain_a)
        self.assertEqual(sub.verification_status, "not_started")
        answer = self.send(sub)
        self.assertEqual((answer["allowed"], answer["daily_limit"]), (True, 1000))
        # its own counters, not the parent's
        self.assertEqual(self.counters(sub)["sent_today"], 1)
        self.assertEqual(self.counters()["sent_today"], 0)
        self.domain_a._set_verification("pending")
        self.assertEqual(self.send(sub)["reason"], "unverified")

    def test_suppressed_recipients(self):
        self.Suppression._suppress(["gone@x.org", "spam@y.org"], "bounce", "mailgun")
        answer = self.send(recipients=["GONE@x.org", "ok@z.org"])
        self.assertEqual(
            (answer["allowed"], answer["reason"], answer["suppressed_recipients"]),
            (True, None, ["gone@x.org"]),
        )
        answer = self.send(recipients=["gone@x.org", "Spam@Y.org", "gone@x.org"])
        self.assertEqual(
            (answer["allowed"], answer["reason"], answer["suppressed_recipients"]),
            (False, "suppressed", ["gone@x.org", "spam@y.org"]),
        )
        self.assertEqual(answer["sent_today"], 1)
        # enforcement off still refuses a message nobody may receive
        self.domain_a.outbound_enforcement = "off"
        self.assertEqual(self.send(recipients=["spam@y.org"])["reason"], "suppressed")
        self.assertEqual(self.counters()["sent_today"], 1)

    def test_daily_limit_is_never_exceeded(self):
        self.set_counters(sent_today=98)
        self.assertEqual(self.send(count=3)["reason"], "daily_limit")
        answer = self.send(count=2)
        self.assertEqual((answer["allowed"], answer["remaining_today"]), (True, 0))
        answer = self.send()
        self.assertEqual(
            answer,
            {
                "allowed": False,
                "reason": "daily_limit",
                "suppressed_recipients": [],
                "sent_today": 100,
                "daily_limit": 100,
                "remaining_today": 0,
            },
        )
        self.assertEqual(self.counters()["sent_today"], 100)

    def test_monthly_limit_reported_first(self):
        self.set_counters(sent_this_month=2000, sent_today=100)
        self.assertEqual(self.send()["reason"], "monthly_limit")

    def test_hourly_limit_and_window(self):
        # free tier: ceil(100 / 6) = 17 an hour
        hour = fields.Datetime.now().replace(minute=0, second=0, microsecond=0)
        self.set_counters(sent_this_hour=17, hour_start=hour)
        self.assertEqual(self.send()["reason"], "hourly_limit")
        self.assertEqual(self.domain_a.outbound_hourly_limit, 17)
        # the previous hour's count does not hold the new hour back
        self.set_counters(hour_start=hour - timedelta(hours=1))
        self.assertTrue(self.send(count=17)["allowed"])
        counters = self.counters()
        self.assertEqual((counters["sent_this_hour"], counters["hour_start"]), (17, hour))
        self.assertEqual(self.send()["reason"], "hourly_limit")

    def test_hourly_fraction_configuration(self):
        for value, expected in (
            ("1/10", 10),
            (" 1 / 4 ", 25),
            ("0.1667", 17),
            ("0.5", 50),
            ("abc", 17),
            ("0", 17),
            ("2", 17),
            ("1/0", 17),
        ):
            with self.config(HOURLY_FRACTION=value):
                self.assertEqual(self.domain_a._outbound_info()["hourly_limit"], expected, value)
        self.domain_a.outbound_tier_id = self.env["emboux.outbound.tier"].create(
            {"code": "unlimited", "name": "Unlimited", "daily_limit": 0, "monthly_limit": 0}
        )
        info = self.domain_a._outbound_info()
        self.assertEqual((info["daily_limit"], info["hourly_limit"]), (0, 0))
        answer = self.send(count=500)
        self.assertEqual((answer["allowed"], answer["remaining_today"]), (True, None))

    def test_warmup_caps(self):
        self.domain_a.outbound_tier_id = self.pro  # 10,000 a day
        self.domain_a.warmup_profile = "standard"
        self.assertEqual(self.domain_a.warmup_started_on, fields.Date.today())
        info = self.domain_a._outbound_info()
        self.assertEqual((info["warmup_profile"], info["warmup_cap_today"]), ("standard", 50))
        self.set_counters(sent_today=50)
        answer = self.send()
        self.assertEqual((answer["reason"], answer["remaining_today"]), ("warmup_cap", 0))
        today = fields.Date.today()
        for profile, days, cap in (
            ("standard", 1, 55),
            ("standard", 10, 129),  # 50 * 1.1^10 = 129.7
            ("fast", 3, 291),  # 50 * 1.8^3 = 291.6
            ("conservative", 10, 81),  # 50 * 1.05^10 = 81.4
            ("fast", 16, None),  # past 10,000: the warm-up is over
        ):
            self.domain_a.write(
                {"warmup_profile": profile, "warmup_started_on": today - timedelta(days=days)}
            )
            self.assertEqual(self.domain_a._outbound_info()["warmup_cap_today"], cap, profile)
        # it ends when it reaches the plan's daily limit: free, 100 a day
        self.domain_a.write(
            {
                "outbound_tier_id": self.free.id,
                "warmup_profile": "standard",
                "warmup_started_on": today - timedelta(days=8),  # 50 * 1.1^8 = 107
            }
        )
        self.assertIsNone(self.domain_a._outbound_info()["warmup_cap_today"])
        self.domain_a.warmup_profile = False
        self.assertIsNone(self.domain_a._outbound_info()["warmup_cap_today"])

    def test_new_domain_warms_up_from_creation(self):
        domain = self.Domain.create({"name": "fresh.test", "verification_status": "verified"})
        self.assertEqual(domain.warmup_profile, "standard")
        self.assertEqual(domain._outbound_info()["warmup_cap_today"], 50)
        # an old domain is past it
        self.backdate(domain, 30)
        self.assertIsNone(domain._outbound_info()["warmup_cap_today"])
        with self.assertRaises(EmbouxInputError) as cm:
            domain.warmup_profile = "turbo"
        self.assertEqual(cm.exception.field, "warmup_profile")

    def test_spike(self):
        self.domain_a.outbound_tier_id = self.starter  # 1,000 a day, 167 an hour
        # created today: no history to compare with, no spike check
        self.set_counters(sent_today=500)
        self.assertTrue(self.send()["allowed"])
        self.backdate(self.domain_a, 30)
        for days_ago in range(1, 8):
            self.add_history(self.domain_a, days_ago, 40)
        self.add_history(self.domain_a, 0, 900)  # a second reset today: not history yet
        # 7-day average 40, x5: 200 a day
        self.set_counters(sent_today=199)
        self.assertTrue(self.send()["allowed"])
        self.assertEqual(self.send()["reason"], "spike")
        self.domain_a.spike_max_multiplier = 6  # 240
        self.assertTrue(self.send(count=40)["allowed"])
        self.assertEqual(self.send()["reason"], "spike")
        self.domain_a.spike_max_multiplier = 0
        self.set_counters(hour_start=None)  # keep the hourly limit out of the way
        with self.config(SPIKE_MAX_MULTIPLIER="10"):  # 400
            self.assertTrue(self.send(count=160)["allowed"])
            self.assertEqual(self.send()["reason"], "spike")
            self.assertEqual(self.domain_a._outbound_info()["spike_max_multiplier"], 10.0)
        with self.assertRaises(EmbouxInputError) as cm:
            self.domain_a.spike_max_multiplier = 0.5
        self.assertEqual(cm.exception.field, "spike_max_multiplier")

    def test_spike_floor_and_young_domain(self):
        self.domain_a.outbound_tier_id = self.starter
        self.backdate(self.domain_a, 2)
        self.add_history(self.domain_a, 1, 4)
        # two days of existence: average (4 + 0) / 2 = 2, x5 = 10, floor 100
        self.set_counters(sent_today=99)
        self.assertTrue(self.send()["allowed"])
        self.assertEqual(self.send()["reason"], "spike")
        with self.config(SPIKE_MIN_VOLUME=150):
            self.assertTrue(self.send(count=50)["allowed"])

    def test_transfer_limit(self):
        self.domain_a.set_transfer_limit(1)
        self.assertTrue(self.send(size_bytes=MB - 10)["allowed"])
        self.assertEqual(self.domain_a.transfer_used_mb, 0)
        self.assertEqual(self.send(size_bytes=11)["reason"], "transfer_limit")
        self.assertTrue(self.send(size_bytes=10)["allowed"])
        self.assertEqual(self.domain_a.transfer_used_mb, 1)
        self.assertEqual(self.counters()["transfer_bytes"], MB)
        self.assertEqual(self.send(size_bytes=1)["reason"], "transfer_limit")
        self.domain_a.set_transfer_limit(0)
        self.assertTrue(self.send(size_bytes=3 * MB)["allowed"])
        self.assertEqual(self.domain_a.transfer_used_mb, 4)

    def test_soft_allows_and_flags_off_only_counts(self):
        self.set_counters(sent_today=100)
        self.domain_a.outbound_enforcement = "soft"
        answer = self.send()
        self.assertEqual(
            (answer["allowed"], answer["reason"], answer["sent_today"], answer["remaining_today"]),
            (True, "daily_limit", 101, 0),
        )
        self.domain_a.outbound_enforcement = "off"
        answer = self.send()
        self.assertEqual(
            (answer["allowed"], answer["reason"], answer["sent_today"]), (True, None, 102)
        )
        self.assertEqual(self.counters()["sent_this_month"], 2)

    def test_subdomain_uses_parent_enforcement(self):
        self.domain_a.write({"is_wildcard": True, "outbound_enforcement": "soft"})
        sub = self.Domain.create({"name": "eu.acme.test", "warmup_profile": False})
        self.set_counters(sub, sent_today=100)
        self.assertEqual(self.send(sub)["reason"], "daily_limit")
        self.assertTrue(self.send(sub)["allowed"])

    def test_missing_counter_row_is_made(self):
        self.env.cr.execute(
            "DELETE FROM emboux_outbound_counter WHERE domain_id = %s", [self.domain_a.id]
        )
        self.assertTrue(self.send()["allowed"])
        self.assertEqual(self.counters()["sent_today"], 1)

    def test_outbound_object(self):
        self.domain_a.write({"is_wildcard": True})
        sub = self.Domain.create({"name": "eu.acme.test"})
        self.send(sub, count=2)
        info = sub._outbound_info()
        self.assertEqual(
            info,
            {
                "domain": "eu.acme.test",
                "outbound_tier": "free",
                "outbound_enforcement": "hard",
                "outbound_status": "active",
                "daily_limit": 100,
                "monthly_limit": 2000,
                "sent_today": 2,
                "sent_this_month": 2,
                "hourly_limit": 17,
                "sent_this_hour": 2,
                "warmup_profile": "standard",
                "warmup_cap_today": 50,
                "spike_max_multiplier": 5.0,
                "bounce_rate": 0.0,
                "complaint_rate": 0.0,
                "inherited_from": "acme.test",
            },
        )


@tagged("post_install", "-at_install")
class TestSendingSettings(SendingCase):
    def test_customer_caps_its_own_limits(self):
        env = self.tenant_env(self.tenant_a)
        domain = env["emboux.domain"].browse(self.domain_a.id)
        domain.set_outbound_settings({"daily_limit": 10, "monthly_limit": 150})
        info = domain._outbound_info()
        self.assertEqual(
            (info["daily_limit"], info["monthly_limit"], info["hourly_limit"]), (10, 150, 2)
        )
        self.set_counters(sent_today=10)
        self.assertEqual(self.send()["reason"], "daily_limit")
        # at or above the tier's limit, or 0/None: the cap goes
        domain.set_outbound_settings({"daily_limit": 100, "monthly_limit": None})
        self.assertEqual(
            (self.domain_a.outbound_daily_cap, self.domain_a.outbound_monthly_cap), (0, 0)
        )
        domain.set_outbound_settings({"daily_limit": 5000})
        self.assertEqual(domain._outbound_info()["daily_limit"], 100)
        with self.assertRaises(EmbouxInputError) as cm:
            domain.set_outbound_settings({"daily_limit": -1})
        self.assertEqual(cm.exception.field, "daily_limit")
        with self.assertRaises(EmbouxInputError) as cm:
            domain.set_outbound_settings({"monthly_limit": 2.5})
        self.assertEqual(cm.exception.field, "monthly_limit")
        # nothing of a refused call is written
        for bad in (
            {"daily_limit": -5},
            {"warmup_profile": "turbo"},
            {"spike_max_multiplier": 0.1},
        ):
            with self.assertRaises(EmbouxInputError):
                self.domain_a.set_outbound_settings({"outbound_tier": "pro", **bad})
            self.assertEqual(self.domain_a.outbound_tier_id, self.free)

    def test_customer_cannot_change_master_fields(self):
        env = self.tenant_env(self.tenant_a)
        domain = env["emboux.domain"].browse(self.domain_a.id)
        for key, value in (
            ("outbound_tier", "pro"),
            ("outbound_enforcement", "off"),
            ("outbound_status", "paused"),
            ("warmup_profile", "fast"),
            ("spike_max_multiplier", 50),
        ):
            with self.assertRaises(AccessError, msg=key):
                domain.set_outbound_settings({key: value, "daily_limit": 10})
        self.assertEqual(self.domain_a.outbound_daily_cap, 0)
        # a GET echoed back changes nothing and is fine
        echoed = domain._outbound_info()
        domain.set_outbound_settings(
            {
                key: echoed[key]
                for key in (
                    "outbound_tier",
                    "outbound_enforcement",
                    "outbound_status",
                    "warmup_profile",
                    "spike_max_multiplier",
                    "daily_limit",
                )
            }
        )
        self.assertEqual(self.domain_a.outbound_daily_cap, 0)
        with self.assertRaises(AccessError):
            domain.write({"warmup_profile": "fast"})

    def test_customer_cannot_raise_a_staff_cap(self):
        """Staff's cap and the customer's own are apart: the lowest of them
        and the tier's limit applies, so a customer lowers, never raises."""
        self.domain_a.set_outbound_settings({"daily_limit": 50, "monthly_limit": 1000})
        self.assertEqual(
            (self.domain_a.outbound_daily_cap_staff, self.domain_a.outbound_daily_cap), (50, 0)
        )
        env = self.tenant_env(self.tenant_a)
        domain = env["emboux.domain"].browse(self.domain_a.id)
        domain.set_outbound_settings({"daily_limit": 80, "monthly_limit": 5000})
        self.assertEqual(self.domain_a.outbound_daily_cap_staff, 50)
        info = domain._outbound_info()
        self.assertEqual((info["daily_limit"], info["monthly_limit"]), (50, 1000))
        domain.set_outbound_settings({"daily_limit": 20})
        self.assertEqual(domain._outbound_info()["daily_limit"], 20)
        self.set_counters(sent_today=20)
        self.assertEqual(self.send()["reason"], "daily_limit")
        # the customer's cap removed: staff's applies again, not the tier's
        domain.set_outbound_settings({"daily_limit": None})
        self.assertEqual(domain._outbound_info()["daily_limit"], 50)
        with self.assertRaises(AccessError):
            domain.write({"outbound_daily_cap_staff": 0})
        # the master lifts its cap: the tier's limit
        self.domain_a.set_outbound_settings({"daily_limit": 0})
        self.assertEqual(domain._outbound_info()["daily_limit"], 100)

    def test_master_settings(self):
        self.domain_a.set_outbound_settings(
            {
                "outbound_tier": "starter",
                "outbound_enforcement": "soft",
                "outbound_status": "paused",
                "warmup_profile": "fast",
                "spike_max_multiplier": 3,
                "daily_limit": 500,
            }
        )
        info = self.domain_a._outbound_info()
        self.assertEqual(
            {
                k: info[k]
                for k in (
                    "outbound_tier",
                    "outbound_enforcement",
                    "outbound_status",
                    "warmup_profile",
                    "spike_max_multiplier",
                    "daily_limit",
                )
            },
            {
                "outbound_tier": "starter",
                "outbound_enforcement": "soft",
                "outbound_status": "paused",
                "warmup_profile": "fast",
                "spike_max_multiplier": 3.0,
                "daily_limit": 500,
            },
        )
        self.assertTrue(self.domain_a.outbound_status_changed_at)
        self.domain_a.set_outbound_settings({"warmup_profile": None, "spike_max_multiplier": None})
        info = self.domain_a._outbound_info()
        self.assertEqual((info["warmup_profile"], info["spike_max_multiplier"]), (None, 5.0))
        for key, value in (
            ("outbound_tier", "gold"),
            ("outbound_enforcement", "strict"),
            ("outbound_status", "dead"),
            ("warmup_profile", "turbo"),
            ("spike_max_multiplier", "x"),
        ):
            with self.assertRaises(EmbouxInputError, msg=key) as cm:
                self.domain_a.set_outbound_settings({key: value})
            self.assertEqual(cm.exception.field, key)

    @freeze_time("2026-03-10 12:00:00")
    def test_staff_pause_and_lift(self):
        self.domain_a.action_outbound_pause()
        self.assertEqual(self.send()["reason"], "paused")
        self.domain_a.action_outbound_resume()
        self.assertTrue(self.send()["allowed"])
        self.assertFalse(self.domain_a.reputation_since)
        with self.assertRaises(AccessError):
            self.domain_a.with_user(self.emboux_user).action_outbound_pause()
