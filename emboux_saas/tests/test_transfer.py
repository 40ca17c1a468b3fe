from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError

from ..exceptions import EmbouxQuotaError
from .common import SaasCase


@tagged("post_install", "-at_install")
class TestTransfer(SaasCase):
    def test_transfer_moves_everything_and_counters(self):
        self.domain_a.with_user(self.emboux_manager).action_transfer_owner("globex")
        self.assertEqual(self.domain_a.tenant_id, self.tenant_b)
        self.assertEqual(self.mailbox_a.partner_id, self.tenant_b.partner_id)
        self.assertEqual(self.alias_a.partner_id, self.tenant_b.partner_id)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (0, 2))
        env_a, env_b = self.tenant_env(self.tenant_a), self.tenant_env(self.tenant_b)
        self.assertFalse(env_a["emboux.domain"].search([]))
        self.assertFalse(env_a["emboux.mailbox"].search([]))
        self.assertFalse(env_a["emboux.alias"].search([]))
        self.assertIn(self.mailbox_a, env_b["emboux.mailbox"].search([]))
        self.assertIn(self.alias_a, env_b["emboux.alias"].search([]))
        # the former owner's delta sync sees them go
        logs = self.env["emboux.deletion.log"].search([("tenant_id", "=", self.tenant_a.id)])
        self.assertEqual(
            sorted((log.type, log.key) for log in logs),
            [("alias", "info@acme.test"), ("domain", "acme.test"), ("user", "ann@acme.test")],
        )

    def test_target_needs_active_key(self):
        self.key_b.action_revoke()
        with self.assertRaises(EmbouxConflictError) as cm:
            self.domain_a.action_transfer_owner(self.tenant_b)
        self.assertEqual(cm.exception.field, "partner_ref")
        # an expired key is no better
        key, _token = self.Key.generate(
            self.tenant_b, "old", expires_at=fields.Datetime.now() + timedelta(hours=1)
        )
        key.expires_at = fields.Datetime.now() - timedelta(minutes=1)
        with self.assertRaises(EmbouxConflictError):
            self.domain_a.action_transfer_owner(self.tenant_b)
        self.assertEqual(self.domain_a.tenant_id, self.tenant_a)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (1, 1))
        self.Key.generate(self.tenant_b, "fresh")
        self.domain_a.action_transfer_owner(self.tenant_b)
        self.assertEqual(self.domain_a.tenant_id, self.tenant_b)

    def test_target_quota_holds_and_nothing_moves(self):
        self.tenant_b.max_domains = 1
        with self.assertRaises(EmbouxQuotaError) as cm:
            self.domain_a.action_transfer_owner(self.tenant_b)
        self.assertEqual(cm.exception.quota, "max_domains")
        self.assertEqual(self.domain_a.tenant_id, self.tenant_a)
        self.assertEqual(self.mailbox_a.partner_id, self.tenant_a.partner_id)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (1, 1))
        self.assertFalse(
            self.env["emboux.deletion.log"].search([("tenant_id", "=", self.tenant_a.id)])
        )

    def test_transfer_several_and_to_self(self):
        extra = self.Domain.create({"name": "acme2.test", "tenant_id": self.tenant_a.id})
        (self.domain_a | extra).action_transfer_owner(self.tenant_b)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (0, 3))
        self.domain_a.action_transfer_owner(self.tenant_b)  # already there: nothing moves
        self.assertEqual(self.tenant_b.domains_used, 3)

    def test_customer_cannot_transfer(self):
        env = self.tenant_env(self.tenant_a)
        with self.assertRaises(AccessError):
            env["emboux.domain"].browse(self.domain_a.id).action_transfer_owner(self.tenant_b)
        self.assertEqual(self.domain_a.tenant_id, self.tenant_a)


@tagged("post_install", "-at_install")
class TestTransferOnTheForm(SaasCase):
    """The staff form's Tenant field follows the owner-transfer rule."""

    def test_form_tenant_change_is_a_transfer(self):
        self.key_b.action_revoke()
        form = Form(self.domain_a.with_user(self.emboux_manager))
        form.tenant_id = self.tenant_b
        with self.assertRaises(EmbouxConflictError):
            form.save()
        self.assertEqual(self.domain_a.tenant_id, self.tenant_a)
        self.Key.generate(self.tenant_b, "fresh")
        form = Form(self.domain_a.with_user(self.emboux_manager))
        form.tenant_id = self.tenant_b
        form.save()
        self.assertEqual(self.domain_a.tenant_id, self.tenant_b)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (0, 2))

    def test_staff_without_manager_group_cannot_transfer(self):
        domain = self.domain_a.with_user(self.emboux_user)
        with self.assertRaises(AccessError):
            domain.action_transfer_owner(self.tenant_b)
        with self.assertRaises(AccessError):
            domain.write({"tenant_id": self.tenant_b.id})
        self.assertEqual(self.domain_a.tenant_id, self.tenant_a)
