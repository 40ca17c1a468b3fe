import psycopg2

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from .common import OutboundCase


@tagged("post_install", "-at_install")
class TestOutboundTier(OutboundCase):
    def test_shipped_tiers(self):
        self.assertEqual(
            [(t.code, t.daily_limit, t.monthly_limit) for t in (self.free, self.starter, self.pro)],
            [("free", 100, 2000), ("starter", 1000, 25000), ("pro", 10000, 250000)],
        )
        self.assertEqual(self.Tier._default_tier(), self.free)

    def test_default_tier_from_settings(self):
        Param = self.env["ir.config_parameter"].sudo()
        Param.set_param("emboux_outbound.default_tier", "Starter")
        self.assertEqual(self.Tier._default_tier(), self.starter)
        domain = self.Domain.create({"name": "starter-default.test"})
        self.assertEqual(domain.outbound_tier_id, self.starter)
        # an unknown or archived tier falls back to "free"
        self.starter.active = False
        self.assertEqual(self.Tier._default_tier(), self.free)
        Param.set_param("emboux_outbound.default_tier", "nope")
        self.assertEqual(self.Tier._default_tier(), self.free)

    def test_negative_limits_refused_naming_the_field(self):
        for fname in ("daily_limit", "monthly_limit"):
            with self.subTest(fname=fname):
                with self.assertRaises(EmbouxInputError) as cm:
                    self.Tier.create({"code": "neg", "name": "Neg", fname: -1})
                self.assertEqual(cm.exception.field, fname)
                self.assertNotIn(fname, str(cm.exception))
                with self.assertRaises(EmbouxInputError) as cm:
                    self.starter.write({fname: -5})
                self.assertEqual(cm.exception.field, fname)
                with self.assertRaises(EmbouxInputError) as cm:
                    self.starter.write({fname: 1.5})
                self.assertEqual(cm.exception.field, fname)
        self.assertEqual(self.starter.daily_limit, 1000)
        self.assertEqual(self.starter.monthly_limit, 25000)

    @mute_logger("odoo.sql_db")
    def test_database_refuses_negative_limits(self):
        self.env.flush_all()
        with self.assertRaises(psycopg2.errors.CheckViolation), self.env.cr.savepoint():
            self.env.cr.execute(
                "UPDATE emboux_outbound_tier SET daily_limit = -1 WHERE id = %s", [self.free.id]
            )

    def test_code_unique_and_normalised(self):
        tier = self.Tier.create(
            {"code": " Bulk-1 ", "name": "Bulk", "daily_limit": 0, "monthly_limit": 0}
        )
        self.assertEqual(tier.code, "bulk-1")
        self.assertEqual(self.Tier._resolve("BULK-1"), tier)
        with self.assertRaises(EmbouxConflictError) as cm:
            self.Tier.create({"code": "FREE", "name": "Another free"})
        self.assertEqual(cm.exception.field, "code")
        with self.assertRaises(EmbouxConflictError):
            tier.write({"code": "pro"})
        for bad in ("", "has space", "-x", "é", "x" * 33):
            with self.subTest(code=bad), self.assertRaises(EmbouxInputError) as cm:
                self.Tier.create({"code": bad, "name": "Bad"})
            self.assertEqual(cm.exception.field, "code")
        with self.assertRaises(EmbouxInputError) as cm:
            self.Tier._resolve("platinum")
        self.assertEqual(cm.exception.field, "outbound_tier")

    def test_copy_and_domain_count(self):
        copy = self.starter.copy()
        self.assertEqual(copy.code, "starter-copy")
        before = self.free.domain_count
        self.Domain.create({"name": "counted.test"})
        self.free.invalidate_recordset(["domain_count"])
        self.assertEqual(self.free.domain_count, before + 1)

    def test_access(self):
        # staff users read tiers, only managers change them; customers read
        self.assertTrue(self.Tier.with_user(self.emboux_user).has_access("read"))
        self.assertFalse(self.Tier.with_user(self.emboux_user).has_access("write"))
        self.assertTrue(self.Tier.with_user(self.emboux_manager).has_access("create"))
        env = self.tenant_env(self.tenant_a)
        self.assertTrue(env["emboux.outbound.tier"].has_access("read"))
        self.assertFalse(env["emboux.outbound.tier"].has_access("write"))
