"""The shape of ``emboux.domain``: each addon overrides ``create`` and
``write`` once, and the values that follow from a write (``verified_at``,
the warm-up start, a fresh reputation window) are written with it, per
record, without writing again."""

from collections import defaultdict
from datetime import datetime, timedelta

from odoo import fields
from odoo.tests import freeze_time, tagged

from .common import OutboundCase

SUITE = ("emboux_core", "emboux_saas", "emboux_outbound", "emboux_api")


@tagged("post_install", "-at_install")
class TestDomainStructure(OutboundCase):
    def test_one_create_and_one_write_per_addon(self):
        found = defaultdict(list)
        for klass in type(self.env["emboux.domain"]).__mro__:
            module = getattr(klass, "_module", None)
            if module not in SUITE:
                continue
            for name in ("create", "write"):
                if name in vars(klass):
                    found[module, name].append(klass.__module__)
        for (module, name), where in found.items():
            self.assertEqual(len(where), 1, f"{module} overrides {name} in {where}")
        self.assertEqual(
            found["emboux_outbound", "write"], ["odoo.addons.emboux_outbound.models.emboux_domain"]
        )
        self.assertEqual(
            found["emboux_outbound", "create"], ["odoo.addons.emboux_outbound.models.emboux_domain"]
        )

    def test_verified_at_per_record_in_one_write(self):
        # (computed when flushed, in the same transaction)
        with freeze_time("2026-03-01 08:00:00"):
            self.domain_a._set_verification("verified")
            self.env.flush_all()
        self.assertEqual(self.domain_a.verified_at, datetime(2026, 3, 1, 8))
        with freeze_time("2026-03-02 09:00:00"):
            (self.domain_a | self.domain_b).write({"verification_status": "verified"})
            self.env.flush_all()
        self.assertEqual(self.domain_a.verified_at, datetime(2026, 3, 1, 8))  # kept
        self.assertEqual(self.domain_b.verified_at, datetime(2026, 3, 2, 9))  # stamped
        (self.domain_a | self.domain_b).write({"verification_status": "pending"})
        self.assertFalse(self.domain_a.verified_at or self.domain_b.verified_at)

    def test_derived_sending_values_per_record_in_one_write(self):
        today = fields.Date.today()
        self.domain_a.write(
            {"warmup_profile": "fast", "warmup_started_on": today - timedelta(days=3)}
        )
        self.domain_b.write({"warmup_profile": False})
        self.domain_b.write({"outbound_status": "guillotined"})
        (self.domain_a | self.domain_b).write(
            {"warmup_profile": "standard", "outbound_status": "active"}
        )
        # a warm-up (re)starts only where there was none
        self.assertEqual(self.domain_a.warmup_started_on, today - timedelta(days=3))
        self.assertEqual(self.domain_b.warmup_started_on, today)
        # a lifted guillotine starts a fresh reputation window, a plain
        # status change does not
        self.assertFalse(self.domain_a.reputation_since)
        self.assertEqual(self.domain_b.reputation_since, today)
        # the status change is stamped where the status changed
        self.assertFalse(self.domain_a.outbound_status_changed_at)
        self.assertTrue(self.domain_b.outbound_status_changed_at)
