from odoo.tests import Form, tagged

from .common import OutboundCase


@tagged("post_install", "-at_install")
class TestOutboundInheritance(OutboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.parent = cls.domain_a  # acme.test, tenant a
        cls.parent.set_parent(None, wildcard=True)
        cls.parent.set_outbound(tier="pro", enforcement="soft")
        cls.parent._set_verification("verified", dkim_status="verified")
        cls.sub = cls.tenant_env(cls.tenant_a)["emboux.domain"].create({"name": "shop.acme.test"})
        cls.sub = cls.Domain.browse(cls.sub.id)

    def test_subdomain_of_verified_wildcard_parent_is_verified_via_parent(self):
        sub = self.sub
        self.assertEqual(sub.parent_id, self.parent)
        # its own values are the defaults...
        self.assertEqual(sub.verification_status, "not_started")
        self.assertEqual(sub.outbound_tier_id, self.free)
        # ...but the parent's apply
        self.assertEqual(sub.inherited_from_id, self.parent)
        self.assertEqual(sub.effective_verification_status, "verified")
        self.assertTrue(sub.verified_via_parent)
        self.assertEqual(sub.effective_outbound_tier_id, self.pro)
        self.assertEqual(sub.effective_outbound_enforcement, "soft")
        self.assertFalse(self.parent.verified_via_parent, "verified itself, not via a parent")
        self.assertPythonMatchesSql(sub | self.parent)
        values = sub._effective_outbound()
        self.assertEqual(values["inherited_from"], "acme.test")
        self.assertEqual(values["outbound_tier"], "pro")
        self.assertEqual(values["dkim_status"], "verified")
        self.assertTrue(values["verified_at"])

    def test_customer_reads_the_inherited_values(self):
        sub = self.tenant_env(self.tenant_a)["emboux.domain"].browse(self.sub.id)
        self.assertTrue(sub.verified_via_parent)
        self.assertEqual(sub.effective_outbound_tier_id.code, "pro")
        self.assertEqual(sub.inherited_from_id.name, "acme.test")

    def test_change_on_parent_reaches_child_at_once(self):
        sub = self.sub
        # read (and cache) the child's values first
        self.assertEqual(sub.effective_outbound_tier_id, self.pro)
        self.assertEqual(sub.effective_outbound_enforcement, "soft")
        self.assertTrue(sub.verified_via_parent)
        self.parent.set_outbound(tier="starter", enforcement="off")
        self.assertEqual(sub.effective_outbound_tier_id, self.starter)
        self.assertEqual(sub.effective_outbound_enforcement, "off")
        self.assertPythonMatchesSql(sub)
        self.parent._set_verification("failed")
        self.assertEqual(sub.effective_verification_status, "failed")
        self.assertFalse(sub.verified_via_parent)
        self.assertPythonMatchesSql(sub)
        self.assertEqual(
            sub._read_effective_outbound_sql()[sub.id]["verification_status"], "failed"
        )
        self.parent._set_verification("verified")
        self.assertTrue(sub.verified_via_parent)
        # the child's own values never moved
        self.assertEqual(sub.outbound_tier_id, self.free)
        self.assertEqual(sub.outbound_enforcement, "hard")
        self.assertEqual(sub.verification_status, "not_started")

    def test_change_written_in_sql_reaches_child(self):
        """Not stored: a parent changed behind the ORM's back (another
        worker, a set-based statement) is what the child reads next."""
        self.assertEqual(self.sub.effective_outbound_tier_id, self.pro)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE emboux_domain SET outbound_tier_id = %s, outbound_enforcement = 'off'"
            " WHERE id = %s",
            [self.free.id, self.parent.id],
        )
        self.env.invalidate_all()
        self.assertEqual(self.sub.effective_outbound_tier_id, self.free)
        self.assertEqual(self.sub.effective_outbound_enforcement, "off")
        self.assertPythonMatchesSql(self.sub)

    def test_chain_of_wildcard_parents(self):
        self.sub.set_parent(self.parent, wildcard=True)
        deeper = self.Domain.create({"name": "eu.shop.acme.test", "tenant_id": self.tenant_a.id})
        self.assertEqual(deeper.parent_id, self.sub)
        self.assertEqual(deeper.inherited_from_id, self.parent, "the top of the chain")
        self.assertEqual(deeper.effective_outbound_tier_id, self.pro)
        self.assertTrue(deeper.verified_via_parent)
        self.parent.set_outbound(tier="starter")
        self.assertEqual(deeper.effective_outbound_tier_id, self.starter, "two levels down")
        self.assertPythonMatchesSql(deeper | self.sub | self.parent)

    def test_unlinking_stops_inheritance(self):
        sub = self.sub
        self.assertTrue(sub.verified_via_parent)
        sub.set_parent(None)
        self.assertFalse(sub.inherited_from_id)
        self.assertFalse(sub.verified_via_parent)
        self.assertEqual(sub.effective_verification_status, "not_started")
        self.assertEqual(sub.effective_outbound_tier_id, self.free)
        self.assertEqual(sub.effective_outbound_enforcement, "hard")
        self.assertPythonMatchesSql(sub)
        # and a later change on the former parent does not reach it
        self.parent.set_outbound(tier="starter")
        self.assertEqual(sub.effective_outbound_tier_id, self.free)
        self.assertPythonMatchesSql(sub | self.parent)

    def test_parent_that_stops_being_wildcard_releases_its_children(self):
        self.parent.set_parent(None, wildcard=False)
        self.assertFalse(self.sub.parent_id)
        self.assertFalse(self.sub.verified_via_parent)
        self.assertEqual(self.sub.effective_outbound_tier_id, self.free)
        self.assertPythonMatchesSql(self.sub)

    def test_parent_deleted(self):
        sub = self.sub
        self.assertTrue(sub.verified_via_parent)
        self.parent.unlink()
        self.assertFalse(sub.verified_via_parent)
        self.assertFalse(sub.inherited_from_id)
        self.assertEqual(sub.effective_outbound_tier_id, self.free)
        self.assertPythonMatchesSql(sub)

    def test_non_wildcard_parent_passes_nothing(self):
        verified = self.Domain.create(
            {
                "name": "plain.test",
                "verification_status": "verified",
                "outbound_tier_id": self.pro.id,
            }
        )
        self.assertFalse(verified.is_wildcard)
        child = self.Domain.create({"name": "shop.plain.test"})
        self.assertFalse(child.parent_id, "no wildcard parent: no link")
        self.assertFalse(child.inherited_from_id)
        self.assertFalse(child.verified_via_parent)
        self.assertEqual(child.effective_verification_status, "not_started")
        self.assertEqual(child.effective_outbound_tier_id, self.free)
        verified.set_outbound(enforcement="off")
        self.assertEqual(child.effective_outbound_enforcement, "hard")
        self.assertPythonMatchesSql(child | verified)

    def test_search_by_effective_values(self):
        plain = self.Domain.create({"name": "unrelated.test"})
        scope = [("id", "in", (self.sub | self.parent | plain).ids)]
        Domain = self.Domain
        self.assertEqual(Domain.search(scope + [("verified_via_parent", "=", True)]), self.sub)
        self.assertEqual(
            Domain.search(scope + [("verified_via_parent", "=", False)]), self.parent | plain
        )
        self.assertEqual(
            Domain.search(scope + [("effective_verification_status", "=", "verified")]),
            self.sub | self.parent,
        )
        self.assertEqual(
            Domain.search(scope + [("effective_outbound_tier_id", "=", self.pro.id)]),
            self.sub | self.parent,
        )
        self.assertEqual(
            Domain.search(scope + [("effective_outbound_enforcement", "!=", "soft")]), plain
        )
        self.assertEqual(
            Domain.search(scope + [("inherited_from_id", "=", self.parent.id)]), self.sub
        )
        self.assertEqual(
            Domain.search(scope + [("inherited_from_id", "=", False)]), self.parent | plain
        )
        # pending ORM writes are flushed before the view is read
        self.parent.outbound_enforcement = "off"
        self.assertEqual(
            Domain.search(scope + [("effective_outbound_enforcement", "=", "off")]),
            self.sub | self.parent,
        )

    def test_python_and_sql_agree_on_every_domain(self):
        self.sub.set_parent(self.parent, wildcard=True)
        self.Domain.create({"name": "a.shop.acme.test", "tenant_id": self.tenant_a.id})
        self.Domain.create({"name": "b.globex.test", "tenant_id": self.tenant_b.id})
        self.domain_b.set_outbound(enforcement="off")
        self.assertPythonMatchesSql(self.Domain.search([]))

    def test_staff_form_shows_the_inherited_values(self):
        form = Form(self.sub.with_user(self.emboux_manager))
        self.assertEqual(form.inherited_from_id, self.parent)
        self.assertTrue(form.verified_via_parent)
        form.parent_id = self.Domain.browse()
        self.assertFalse(form.inherited_from_id)
        self.assertFalse(form.verified_via_parent)
        self.assertEqual(form.effective_outbound_tier_id, self.free)
        form.outbound_tier_id = self.starter
        self.assertEqual(form.effective_outbound_tier_id, self.starter)
