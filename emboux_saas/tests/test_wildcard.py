from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .common import SaasCase


@tagged("post_install", "-at_install")
class TestWildcard(SaasCase):
    def test_subdomain_links_to_wildcard_parent(self):
        self.domain_a.set_parent(None, wildcard=True)
        env = self.tenant_env(self.tenant_a)
        sub = env["emboux.domain"].create({"name": "Shop.Acme.test"})
        self.assertEqual(sub.parent_id, self.domain_a)
        self.assertEqual(sub._inheritance_root(), self.domain_a)
        deeper = env["emboux.domain"].create({"name": "eu.shop.acme.test"})
        self.assertEqual(
            deeper.parent_id, self.domain_a, "shop is no wildcard parent: the nearest one is"
        )
        self.Domain.browse(sub.id).set_parent(self.domain_a, wildcard=True)
        deeper2 = env["emboux.domain"].create({"name": "us.shop.acme.test"})
        self.assertEqual(deeper2.parent_id, sub)
        self.assertEqual(deeper2._inheritance_root(), self.domain_a)
        self.assertEqual(self.domain_a._inheritance_root(), self.domain_a)
        self.assertIn(sub, self.domain_a.child_ids)

    def test_no_link_without_wildcard(self):
        sub = self.Domain.create({"name": "shop.acme.test", "tenant_id": self.tenant_a.id})
        self.assertFalse(sub.parent_id)
        self.assertEqual(sub._inheritance_root(), sub)

    def test_becoming_wildcard_adopts_and_releases(self):
        sub = self.Domain.create({"name": "shop.acme.test", "tenant_id": self.tenant_a.id})
        other = self.Domain.create({"name": "acme.test.example", "tenant_id": self.tenant_a.id})
        self.domain_a.set_parent(None, wildcard=True)
        self.assertEqual(sub.parent_id, self.domain_a)
        self.assertFalse(other.parent_id)
        self.domain_a.set_parent(None, wildcard=False)
        self.assertFalse(sub.parent_id)

    def test_set_parent(self):
        sub = self.Domain.create({"name": "shop.acme.test", "tenant_id": self.tenant_a.id})
        sub.set_parent("ACME.test", wildcard=False)
        self.assertEqual(sub.parent_id, self.domain_a)
        self.assertEqual(sub._inheritance_root(), self.domain_a, "a linked child inherits")
        with self.assertRaises(EmbouxInputError) as cm:
            sub.set_parent("globex.test")
        self.assertEqual(cm.exception.field, "parent")
        with self.assertRaises(EmbouxInputError) as cm:
            sub.set_parent("unknown.test")
        self.assertEqual(cm.exception.field, "parent")
        with self.assertRaises(EmbouxInputError):
            self.domain_a.set_parent(sub)
        sub.set_parent(None)
        self.assertFalse(sub.parent_id)

    def test_parent_deleted(self):
        self.domain_a.is_wildcard = True
        sub = self.Domain.create({"name": "shop.acme.test", "tenant_id": self.tenant_a.id})
        self.assertEqual(sub.parent_id, self.domain_a)
        self.domain_a.unlink()
        self.assertFalse(sub.parent_id)
        self.assertEqual(sub._inheritance_root(), sub)

    def test_customer_cannot_set_parent(self):
        env = self.tenant_env(self.tenant_a)
        with self.assertRaises(AccessError):
            env["emboux.domain"].browse(self.domain_a.id).set_parent(None, wildcard=True)
        self.assertFalse(self.domain_a.is_wildcard)
