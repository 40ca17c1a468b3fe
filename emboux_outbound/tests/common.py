from odoo.addons.emboux_saas.tests.common import SaasCase


class OutboundCase(SaasCase):
    """SaasCase (two tenants with a domain each, staff users) plus the
    three shipped tiers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Tier = cls.env["emboux.outbound.tier"]
        cls.free = cls.env.ref("emboux_outbound.tier_free")
        cls.starter = cls.env.ref("emboux_outbound.tier_starter")
        cls.pro = cls.env.ref("emboux_outbound.tier_pro")

    def assertPythonMatchesSql(self, domains):
        """The effective fields and the SQL view agree on every domain."""
        sql = domains._read_effective_outbound_sql()
        self.assertEqual(set(sql), set(domains.ids))
        for domain in domains:
            row = sql[domain.id]
            python = {
                "tier_id": domain.effective_outbound_tier_id.id or None,
                "enforcement": domain.effective_outbound_enforcement,
                "verification_status": domain.effective_verification_status,
                "inherited_from": domain.inherited_from_id.id or None,
            }
            self.assertEqual(row, python, f"Python and SQL disagree on {domain.name}")
