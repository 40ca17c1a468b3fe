from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from ..exceptions import EmbouxQuotaError
from .common import SaasCase


@tagged("post_install", "-at_install")
class TestQuota(SaasCase):
    def test_quota_error_is_its_own_refusal_naming_quota(self):
        # not an access error: nothing that rewrites refused access
        # (the API's "Master token required") takes it for one
        self.assertTrue(issubclass(EmbouxQuotaError, UserError))
        self.assertFalse(issubclass(EmbouxQuotaError, AccessError))
        error = EmbouxQuotaError("max_domains", "The quota of 1 domains is reached for acme")
        self.assertEqual((error.field, error.quota), ("max_domains", "max_domains"))

    def test_max_domains(self):
        self.tenant_a.max_domains = 2
        env = self.tenant_env(self.tenant_a)
        Domain = env["emboux.domain"]
        Domain.create({"name": "second.test"})
        self.assertEqual(self.tenant_a.domains_used, 2)
        with self.assertRaises(EmbouxQuotaError) as cm:
            Domain.create({"name": "third.test"})
        self.assertEqual(cm.exception.quota, "max_domains")
        self.assertEqual(
            str(cm.exception), f"The quota of 2 domains is reached for {self.tenant_a.partner_ref}"
        )
        self.assertEqual(self.tenant_a.domains_used, 2)
        self.assertFalse(self.Domain.search([("name", "=", "third.test")]))
        # a delete gives the slot back
        Domain.search([("name", "=", "second.test")]).unlink()
        self.assertEqual(self.tenant_a.domains_used, 1)
        Domain.create({"name": "third.test"})
        self.assertEqual(self.tenant_a.domains_used, 2)

    def test_batch_create_over_quota_takes_nothing(self):
        self.tenant_a.max_domains = 2
        with self.assertRaises(EmbouxQuotaError):
            self.Domain.create(
                [
                    {"name": "x1.test", "tenant_id": self.tenant_a.id},
                    {"name": "x2.test", "tenant_id": self.tenant_a.id},
                ]
            )
        self.assertEqual(self.tenant_a.domains_used, 1)
        self.Domain.create([{"name": "x1.test", "tenant_id": self.tenant_a.id}])
        self.assertEqual(self.tenant_a.domains_used, 2)

    def test_failed_create_gives_slot_back(self):
        with self.assertRaises(EmbouxConflictError):
            self.Domain.create({"name": "globex.test", "tenant_id": self.tenant_a.id})
        self.assertEqual(self.tenant_a.domains_used, 1)

    def test_zero_means_unlimited(self):
        self.tenant_a.set_quotas(
            max_domains=0, max_mailboxes_per_domain=0, max_aliases_per_mailbox=0
        )
        self.Domain.create(
            [{"name": f"d{i}.test", "tenant_id": self.tenant_a.id} for i in range(12)]
        )
        self.assertEqual(self.tenant_a.domains_used, 13)
        for i in range(3):
            self.make_mailbox(f"m{i}@acme.test")
            self.Alias.upsert(f"a{i}@acme.test", "ann@acme.test")

    def test_lowered_quota_keeps_existing(self):
        self.tenant_a.max_domains = 0
        self.Domain.create({"name": "two.test", "tenant_id": self.tenant_a.id})
        self.tenant_a.max_domains = 1
        self.assertEqual(self.tenant_a.domains_used, 2)
        with self.assertRaises(EmbouxQuotaError):
            self.Domain.create({"name": "three.test", "tenant_id": self.tenant_a.id})

    def test_domains_without_tenant_unlimited(self):
        self.Domain.create([{"name": f"op{i}.test"} for i in range(3)])
        self.assertEqual(self.tenant_a.domains_used, 1)

    def test_max_mailboxes_per_domain(self):
        self.tenant_a.max_mailboxes_per_domain = 3
        env = self.tenant_env(self.tenant_a)
        Mailbox = env["emboux.mailbox"]
        archived = Mailbox.create({"email": "old@acme.test", "password": "long enough pw"})
        archived.active = False
        Mailbox.create({"email": "new@acme.test", "password": "long enough pw"})
        with self.assertRaises(EmbouxQuotaError) as cm:
            Mailbox.create({"email": "more@acme.test", "password": "long enough pw"})
        self.assertEqual(cm.exception.quota, "max_mailboxes_per_domain")
        self.assertIn("quota of 3 mailboxes on acme.test", str(cm.exception))
        # another domain of the same tenant has its own count
        self.Domain.create({"name": "acme2.test", "tenant_id": self.tenant_a.id})
        Mailbox.create({"email": "more@acme2.test", "password": "long enough pw"})
        # a batch is counted whole
        self.tenant_a.max_mailboxes_per_domain = 3
        with self.assertRaises(EmbouxQuotaError):
            Mailbox.create(
                [{"email": f"b{i}@acme2.test", "password": "long enough pw"} for i in range(3)]
            )
        self.assertEqual(self.Mailbox.search_count([("domain_id.name", "=", "acme2.test")]), 1)

    def test_max_aliases_per_mailbox(self):
        self.tenant_a.max_aliases_per_mailbox = 3
        Alias = self.tenant_env(self.tenant_a)["emboux.alias"]
        # info@ -> ann@ exists already (setUp); the catch-all counts too
        self.Mailbox.browse(self.mailbox_a.id).with_env(Alias.env).catch_all = True
        Alias.upsert("sales@acme.test", "ann@acme.test")
        with self.assertRaises(EmbouxQuotaError) as cm:
            Alias.upsert("more@acme.test", "ann@acme.test")
        self.assertEqual(cm.exception.quota, "max_aliases_per_mailbox")
        self.assertTrue(str(cm.exception).startswith("The quota of 3 "), str(cm.exception))
        # an existing pair is answered, not counted
        _alias, created = Alias.upsert("sales@acme.test", "ann@acme.test")
        self.assertFalse(created)
        # other destinations have their own count (external ones too)
        Alias.upsert("more@acme.test", "someone@elsewhere.example")
        # changing a destination is checked as well
        with self.assertRaises(EmbouxQuotaError):
            Alias.search([("source", "=", "more@acme.test")]).destination = "ann@acme.test"
        # the catch-all tick on the form is refused when full
        mailbox = self.tenant_env(self.tenant_a)["emboux.mailbox"].create(
            {"email": "zed@acme.test", "password": "long enough pw"}
        )
        self.tenant_a.max_aliases_per_mailbox = 1
        Alias.upsert("z1@acme.test", "zed@acme.test")
        with self.assertRaises(EmbouxQuotaError):
            mailbox.catch_all = True

    def test_ownership_forced_for_customers(self):
        env = self.tenant_env(self.tenant_b)
        domain = env["emboux.domain"].create({"name": "mine.test", "tenant_id": self.tenant_a.id})
        self.assertEqual(domain.tenant_id, self.tenant_b)
        domain = env["emboux.domain"].create({"name": "mine2.test", "partner_ref": "acme"})
        self.assertEqual(domain.tenant_id, self.tenant_b)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (1, 3))
        human = self.make_portal_user(self.tenant_b, "bea")
        domain = self.Domain.with_user(human).create({"name": "mine3.test"})
        self.assertEqual(domain.tenant_id, self.tenant_b)

    def test_staff_attribute_domains(self):
        Domain = self.Domain.with_user(self.emboux_manager)
        self.assertEqual(
            Domain.create({"name": "s1.test", "partner_ref": "acme"}).tenant_id, self.tenant_a
        )
        self.assertEqual(
            Domain.create({"name": "s2.test", "tenant_id": self.tenant_b.id}).tenant_id,
            self.tenant_b,
        )
        self.assertFalse(Domain.create({"name": "s3.test", "partner_ref": None}).tenant_id)
        with self.assertRaises(EmbouxInputError) as cm:
            Domain.create({"name": "s4.test", "partner_ref": "nobody"})
        self.assertEqual(cm.exception.field, "partner_ref")
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (2, 2))
        # staff assigning a domain moves the counters too
        operator = self.Domain.search([("name", "=", "s3.test")])
        operator.with_user(self.emboux_manager).partner_ref = "acme"
        self.assertEqual(self.tenant_a.domains_used, 3)
        operator.with_user(self.emboux_manager).tenant_id = False
        self.assertEqual(self.tenant_a.domains_used, 2)

    def test_reconcile_cures_drift(self):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE emboux_tenant SET domains_used = CASE WHEN id = %s THEN 7 ELSE 0 END "
            "WHERE id IN %s",
            [self.tenant_a.id, (self.tenant_a.id, self.tenant_b.id)],
        )
        self.env.invalidate_all()
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (7, 0))
        self.assertEqual(self.Tenant._reconcile_domains_used(), 2)
        self.assertEqual((self.tenant_a.domains_used, self.tenant_b.domains_used), (1, 1))
        self.assertEqual(self.Tenant._reconcile_domains_used(), 0)
        # at every start: the registry hook does it
        self.env.cr.execute(
            "UPDATE emboux_tenant SET domains_used = 5 WHERE id = %s", [self.tenant_b.id]
        )
        self.env.invalidate_all()
        self.Tenant._register_hook()
        self.assertEqual(self.tenant_b.domains_used, 1)
