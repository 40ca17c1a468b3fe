from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from ..hooks import post_init_hook
from .common import OutboundCase

MASTER_ONLY = {
    "outbound_tier_id": "starter",
    "outbound_enforcement": "off",
    "outbound_status": "paused",
    "verification_status": "verified",
    "dkim_status": "verified",
}


@tagged("post_install", "-at_install")
class TestOutboundSettings(OutboundCase):
    def _vals(self, fname):
        value = MASTER_ONLY[fname]
        return {fname: self.starter.id if fname == "outbound_tier_id" else value}

    def test_defaults(self):
        domain = self.Domain.create({"name": "defaults.test"})
        self.assertEqual(domain.outbound_tier_id, self.free)
        self.assertEqual(domain.outbound_enforcement, "hard")
        self.assertEqual(domain.outbound_status, "active")
        self.assertFalse(domain.provider)
        self.assertEqual(domain.verification_status, "not_started")
        self.assertEqual(domain.dkim_status, "not_started")
        self.assertFalse(domain.verified_at)
        # a domain without a parent is its own source
        self.assertEqual(domain.effective_outbound_tier_id, self.free)
        self.assertEqual(domain.effective_outbound_enforcement, "hard")
        self.assertEqual(domain.effective_verification_status, "not_started")
        self.assertFalse(domain.verified_via_parent)
        self.assertFalse(domain.inherited_from_id)
        self.assertPythonMatchesSql(domain)
        # the domains made before (SaasCase) have the defaults too
        self.assertEqual((self.domain_a | self.domain_b).outbound_tier_id, self.free)

    def test_row_inserted_in_sql_gets_the_defaults(self):
        self.env.flush_all()
        self.env.cr.execute(
            "INSERT INTO emboux_domain (name, status) VALUES ('raw.test', 'active')"
        )
        domain = self.Domain._find_by_name("raw.test")
        self.assertRecordValues(
            domain,
            [
                {
                    "outbound_enforcement": "hard",
                    "outbound_status": "active",
                    "verification_status": "not_started",
                    "dkim_status": "not_started",
                }
            ],
        )
        self.assertPythonMatchesSql(domain)

    def test_post_init_hook_gives_old_domains_the_default_tier(self):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE emboux_domain SET outbound_tier_id = NULL WHERE id = %s", [self.domain_a.id]
        )
        self.domain_a.invalidate_recordset()
        self.assertFalse(self.domain_a.outbound_tier_id)
        post_init_hook(self.env)
        self.assertEqual(self.domain_a.outbound_tier_id, self.free)

    def test_invalid_selection_values_name_the_field(self):
        for fname in ("outbound_enforcement", "outbound_status", "provider", "verification_status"):
            with self.subTest(fname=fname), self.assertRaises(EmbouxInputError) as cm:
                self.domain_a.write({fname: "bogus"})
            self.assertEqual(cm.exception.field, fname)
        with self.assertRaises(EmbouxInputError) as cm:
            self.domain_a.set_outbound(enforcement="strict")
        self.assertEqual(cm.exception.field, "outbound_enforcement")
        with self.assertRaises(EmbouxInputError) as cm:
            self.domain_a.set_outbound(tier="platinum")
        self.assertEqual(cm.exception.field, "outbound_tier")

    def test_set_outbound_by_staff(self):
        self.domain_a.with_user(self.emboux_manager).set_outbound(
            tier="pro", enforcement="soft", status="paused"
        )
        self.assertEqual(self.domain_a.outbound_tier_id, self.pro)
        self.assertEqual(self.domain_a.outbound_enforcement, "soft")
        self.assertEqual(self.domain_a.outbound_status, "paused")
        self.domain_a.set_outbound(status="active")
        self.assertEqual(self.domain_a.outbound_tier_id, self.pro, "None leaves a value alone")
        self.assertEqual(self.domain_a.outbound_status, "active")
        values = self.domain_a._effective_outbound()
        self.assertEqual(values["outbound_tier"], "pro")
        self.assertEqual(values["daily_limit"], 10000)
        self.assertIsNone(values["inherited_from"])

    def test_verified_at_follows_verification(self):
        domain = self.domain_a
        domain._set_verification("pending", dkim_status="pending")
        self.assertFalse(domain.verified_at)
        domain._set_verification("verified", dkim_status="verified")
        self.assertTrue(domain.verified_at)
        self.assertEqual(domain.dkim_status, "verified")
        stamped = domain.verified_at
        domain._set_verification("verified")
        self.assertEqual(domain.verified_at, stamped, "already verified: time kept")
        domain._set_verification("failed")
        self.assertFalse(domain.verified_at)
        created = self.Domain.create(
            {"name": "born-verified.test", "verification_status": "verified"}
        )
        self.assertTrue(created.verified_at)

    def test_customer_cannot_write_master_only_fields(self):
        env = self.tenant_env(self.tenant_a)
        portal = self.make_portal_user(self.tenant_a, "ann-portal")
        for user_env in (env, self.env(user=portal)):
            domain = user_env["emboux.domain"].browse(self.domain_a.id)
            for fname in MASTER_ONLY:
                with self.subTest(user=user_env.user.login, fname=fname):
                    with self.assertRaises(AccessError) as cm:
                        domain.write(self._vals(fname))
                    # the field's label, in a sentence
                    self.assertIn(domain._fields[fname].string, str(cm.exception))
                    self.assertNotIn(f"{fname}:", str(cm.exception))
            with self.assertRaises(AccessError) as cm:
                domain.set_outbound(tier="pro")
            self.assertIn(domain._fields["outbound_tier_id"].string, str(cm.exception))
            with self.assertRaises(AccessError):
                domain.set_outbound(enforcement="off")
            with self.assertRaises(AccessError):
                domain.set_outbound(status="active")
        # nor give them when creating a domain
        for fname in ("outbound_tier_id", "outbound_enforcement", "outbound_status"):
            with self.subTest(create=fname), self.assertRaises(AccessError) as cm:
                env["emboux.domain"].create(
                    {"name": f"{fname.replace('_', '-')}.acme-new.test", **self._vals(fname)}
                )
            self.assertIn(self.Domain._fields[fname].string, str(cm.exception))
        self.assertRecordValues(
            self.domain_a,
            [
                {
                    "outbound_tier_id": self.free.id,
                    "outbound_enforcement": "hard",
                    "outbound_status": "active",
                    "verification_status": "not_started",
                }
            ],
        )
        self.assertNotIn("outbound_tier_id", self.Domain._tenant_fields("write"))
        self.assertNotIn("outbound_enforcement", self.Domain._tenant_fields("create"))

    def test_customer_reads_and_may_choose_provider(self):
        env = self.tenant_env(self.tenant_a)
        domain = env["emboux.domain"].create({"name": "mine.test", "provider": "ses"})
        self.assertEqual(domain.provider, "ses")
        self.assertEqual(domain.outbound_tier_id, self.free)
        self.assertEqual(domain.effective_outbound_tier_id.code, "free")
        self.assertEqual(domain.effective_outbound_enforcement, "hard")
        with self.assertRaises(AccessError):
            domain.write({"provider": "mailgun"})
