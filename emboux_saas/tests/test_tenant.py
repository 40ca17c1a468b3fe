from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from .common import SaasCase


@tagged("post_install", "-at_install")
class TestTenant(SaasCase):
    def test_partner_ref_normalised_and_validated(self):
        tenant = self.Tenant._get_or_create("  Init.ech_1-x  ")
        self.assertEqual(tenant.partner_ref, "Init.ech_1-x")
        for bad in ("", "   ", "a b", "x" * 65, "café", "a/b", None, 12):
            with self.assertRaises(EmbouxInputError, msg=repr(bad)) as cm:
                self.Tenant._get_or_create(bad)
            self.assertEqual(cm.exception.field, "partner_ref")
            self.assertIn("is not valid (1-64 letters", str(cm.exception))
        self.assertEqual(self.Tenant._get_or_create("x" * 64).partner_ref, "x" * 64)

    def test_partner_ref_unique(self):
        partner = self.env["res.partner"].create({"name": "Other", "is_company": True})
        with self.assertRaises(EmbouxConflictError) as cm:
            self.Tenant.create({"partner_id": partner.id, "partner_ref": "acme"})
        self.assertEqual(cm.exception.field, "partner_ref")
        with self.assertRaises(EmbouxConflictError):
            self.tenant_b.partner_ref = " acme "
        # one tenant per customer
        with self.assertRaises(EmbouxConflictError) as cm:
            self.Tenant.create({"partner_id": self.tenant_a.partner_id.id, "partner_ref": "acme2"})
        self.assertEqual(cm.exception.field, "partner_id")

    def test_get_or_create(self):
        self.assertEqual(self.Tenant._get_or_create("acme"), self.tenant_a)
        self.assertEqual(self.Tenant._find_by_ref(" acme"), self.tenant_a)
        self.assertFalse(self.Tenant._find_by_ref("ACME"), "case matters")
        new = self.Tenant._get_or_create("initech")
        self.assertEqual(new.name, "initech")
        self.assertTrue(new.partner_id.is_company)
        self.assertEqual(self.tenant_a.name, "Acme Corp")

    def test_quota_defaults_and_validation(self):
        tenant = self.Tenant._get_or_create("initech")
        self.assertEqual(
            (tenant.max_domains, tenant.max_mailboxes_per_domain, tenant.max_aliases_per_mailbox),
            (10, 50, 20),
        )
        self.assertEqual(tenant.domains_used, 0)
        tenant.set_quotas(max_domains=0, max_mailboxes_per_domain=3, max_aliases_per_mailbox=4.0)
        self.assertEqual(tenant.max_mailboxes_per_domain, 3)
        for field, value in (
            ("max_domains", -1),
            ("max_mailboxes_per_domain", "3"),
            ("max_aliases_per_mailbox", 1.5),
        ):
            with self.assertRaises(EmbouxInputError) as cm:
                tenant.set_quotas(**{field: value})
            self.assertEqual(cm.exception.field, field)
        with self.assertRaises(EmbouxInputError) as cm:
            tenant.set_quotas(domains_used=3)
        self.assertEqual(cm.exception.field, "domains_used")
        # the counter is not writable through the ORM
        tenant.write({"domains_used": 7})
        self.assertEqual(tenant.domains_used, 0)

    def test_technical_user(self):
        user = self.tenant_a.user_id
        self.assertTrue(user.share)
        self.assertTrue(user._is_portal())
        self.assertFalse(user._is_internal())
        self.assertEqual(user.login, "tenant-acme@emboux.invalid")
        self.assertEqual(user.commercial_partner_id, self.tenant_a.partner_id)
        self.assertNotEqual(user.partner_id, self.tenant_a.partner_id)
        self.env.cr.execute("SELECT password FROM res_users WHERE id = %s", [user.id])
        self.assertFalse(self.env.cr.fetchone()[0], "no password: it cannot log in")
        # renaming the reference follows in the login
        self.tenant_a.partner_ref = "acme-corp"
        self.assertEqual(user.login, "tenant-acme-corp@emboux.invalid")

    def test_partner_must_be_commercial_entity(self):
        company = self.env["res.partner"].create({"name": "Umbrella", "is_company": True})
        person = self.env["res.partner"].create({"name": "Alice", "parent_id": company.id})
        with self.assertRaises(EmbouxInputError) as cm:
            self.Tenant.create({"partner_id": person.id, "partner_ref": "umbrella"})
        self.assertEqual(cm.exception.field, "partner_id")
        # a person without a company is fine
        solo = self.env["res.partner"].create({"name": "Solo"})
        self.assertTrue(self.Tenant.create({"partner_id": solo.id, "partner_ref": "solo"}))

    def test_current_tenant(self):
        Tenant = self.Tenant
        self.assertEqual(
            Tenant.with_env(self.tenant_env(self.tenant_a))._current_tenant(), self.tenant_a
        )
        self.assertEqual(
            Tenant.with_env(self.tenant_env(self.tenant_b))._current_tenant(), self.tenant_b
        )
        human = self.make_portal_user(self.tenant_a, "ann_portal")
        self.assertEqual(Tenant.with_user(human)._current_tenant(), self.tenant_a)
        self.assertFalse(Tenant.with_user(self.emboux_manager)._current_tenant())
        self.assertFalse(Tenant._current_tenant())

    def test_grant_portal_access(self):
        contact = self.env["res.partner"].create(
            {
                "name": "Carol",
                "parent_id": self.tenant_a.partner_id.id,
                "email": "carol@acme.example",
            }
        )
        action = self.tenant_a.with_user(self.emboux_manager).action_grant_portal_access()
        self.assertEqual(action["res_model"], "portal.wizard")
        wizard = self.env["portal.wizard"].browse(action["res_id"])
        partners = wizard.user_ids.partner_id
        self.assertIn(contact, partners)
        self.assertIn(self.tenant_a.partner_id, partners)
        self.assertNotIn(self.tenant_a.user_id.partner_id, partners, "the API user is not offered")
        line = wizard.user_ids.filtered(lambda line: line.partner_id == contact)
        line.action_grant_access()
        user = contact.with_context(active_test=False).user_ids
        self.assertTrue(user._is_portal())
        Domain = self.Domain.with_user(user)
        self.assertEqual(Domain.search([]), self.domain_a)
        with self.assertRaises(AccessError):
            self.tenant_a.with_user(self.emboux_user).action_grant_portal_access()

    def test_unlink(self):
        with self.assertRaises(UserError):
            self.tenant_a.unlink()
        tenant = self.Tenant._get_or_create("initech")
        user = tenant.user_id
        tenant.unlink()
        self.assertFalse(user.exists())
        # the reference and the login are free again
        self.assertTrue(self.Tenant._get_or_create("initech").user_id)

    def test_staff_rights(self):
        Tenant = self.Tenant.with_user(self.emboux_user)
        self.assertEqual(len(Tenant.search([("id", "in", (self.tenant_a | self.tenant_b).ids)])), 2)
        with self.assertRaises(AccessError):
            Tenant.browse(self.tenant_a.id).write({"max_domains": 1})
        self.Tenant.with_user(self.emboux_manager).browse(self.tenant_a.id).write(
            {"max_domains": 1}
        )
        self.assertEqual(self.tenant_a.max_domains, 1)

    def test_usage_display(self):
        self.assertEqual(self.tenant_a.domains_usage_display, "1 / 10")
        self.assertEqual(self.tenant_a.mailbox_count, 1)
        self.assertEqual(self.tenant_a.alias_count, 1)
        self.assertEqual(self.tenant_a.active_key_count, 1)

    def test_set_name(self):
        self.tenant_a.set_name("  Acme Industries ")
        self.assertEqual(self.tenant_a.partner_id.name, "Acme Industries")
        for bad in ("", "   ", None, 12):
            with self.assertRaises(EmbouxInputError, msg=repr(bad)) as cm:
                self.tenant_a.set_name(bad)
            self.assertEqual(cm.exception.field, "name")
        # a customer, even of that tenant, may not rename it (a manager only)
        with self.assertRaises(AccessError):
            self.tenant_a.with_user(self.tenant_a.user_id).set_name("Mine now")
        self.assertEqual(self.tenant_a.partner_id.name, "Acme Industries")

    def test_key_for_usage(self):
        # a manager finds any valid key by its token; a customer only its own
        self.assertEqual(self.Key._for_usage(self.token_b), self.key_b)
        as_a = self.Key.with_user(self.tenant_a.user_id)
        self.assertEqual(as_a._for_usage(self.token_a, self.key_a, self.token_a), self.key_a)
        self.assertFalse(as_a._for_usage(self.token_b, self.key_a, self.token_a))
        self.assertFalse(as_a._for_usage(self.token_b))
        self.key_b.action_revoke()
        self.assertFalse(self.Key._for_usage(self.token_b), "a revoked key is not found")
