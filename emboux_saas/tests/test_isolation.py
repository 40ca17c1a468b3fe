from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from .common import SaasCase


@tagged("post_install", "-at_install")
class TestIsolation(SaasCase):
    """Tenant B, through its API user and a human portal user, against every
    model of tenant A: invisible and unchangeable."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.human_b = cls.make_portal_user(cls.tenant_b, "bea_portal")

    def envs_b(self):
        return [
            ("api user", self.tenant_env(self.tenant_b)),
            ("portal user", self.env(user=self.human_b)),
        ]

    def records_a(self):
        return {
            "emboux.tenant": self.tenant_a,
            "emboux.domain": self.domain_a,
            "emboux.mailbox": self.mailbox_a,
            "emboux.alias": self.alias_a,
            "emboux.api.key": self.key_a,
        }

    def test_search_sees_only_own(self):
        own = {
            "emboux.tenant": self.tenant_b,
            "emboux.domain": self.domain_b,
            "emboux.mailbox": self.mailbox_b,
            "emboux.alias": self.alias_b,
            "emboux.api.key": self.key_b,
        }
        for label, env in self.envs_b():
            for model, record in own.items():
                with self.subTest(label=label, model=model):
                    found = env[model].with_context(active_test=False).search([])
                    self.assertEqual(found.ids, record.ids)
                    self.assertEqual(
                        env[model].search_count([("id", "=", self.records_a()[model].id)]), 0
                    )

    def test_read_of_other_tenant_refused(self):
        for label, env in self.envs_b():
            for model, record in self.records_a().items():
                with self.subTest(label=label, model=model), self.assertRaises(AccessError):
                    env[model].browse(record.id).read(["display_name"])

    def test_write_and_unlink_of_other_tenant_refused(self):
        writes = {
            "emboux.domain": {"retention_days": 3},
            "emboux.mailbox": {"name": "Hacked"},
            "emboux.alias": {"destination": "x@elsewhere.example"},
            "emboux.api.key": {"name": "stolen"},
            "emboux.tenant": {"max_domains": 999},
        }
        for label, env in self.envs_b():
            for model, record in self.records_a().items():
                with self.subTest(label=label, model=model):
                    with self.assertRaises(AccessError):
                        env[model].browse(record.id).write(writes[model])
                    with self.assertRaises(AccessError):
                        env[model].browse(record.id).unlink()
        self.assertEqual(self.mailbox_a.name, False)
        self.assertEqual(self.tenant_a.max_domains, 10)
        self.assertTrue(self.alias_a.exists() and self.key_a.exists() and self.domain_a.exists())

    def test_actions_on_other_tenant_refused(self):
        for label, env in self.envs_b():
            with self.subTest(label=label):
                with self.assertRaises(AccessError):
                    env["emboux.domain"].browse(self.domain_a.id).action_suspend()
                with self.assertRaises(AccessError):
                    env["emboux.api.key"].browse(self.key_a.id).action_revoke()
                with self.assertRaises(AccessError):
                    env["emboux.mailbox"].browse(self.mailbox_a.id).set_password(
                        "a new password 123"
                    )
                with self.assertRaises(AccessError):
                    env["emboux.api.key"].generate(self.tenant_a, "intruder")
                with self.assertRaises(AccessError):
                    env["emboux.tenant"].browse(self.tenant_a.id)._usage()
        self.assertEqual(self.domain_a.status, "active")
        self.assertEqual(self.key_a.state, "active")

    def test_create_on_other_tenant_domain_refused(self):
        env = self.tenant_env(self.tenant_b)
        with self.assertRaises(EmbouxInputError) as cm:
            env["emboux.mailbox"].create({"email": "eve@acme.test", "password": "long enough pw"})
        self.assertEqual(cm.exception.field, "email")
        self.assertIn("unknown domain", str(cm.exception))
        with self.assertRaises(EmbouxInputError) as cm:
            env["emboux.alias"].upsert("eve@acme.test", "eve@globex.test")
        self.assertEqual(cm.exception.field, "source")
        # a catch-all on A's domain towards B's mailbox, through B's mailbox form
        mailbox = env["emboux.mailbox"].browse(self.mailbox_b.id)
        self.assertFalse(mailbox.catch_all)
        # B's own domain works
        new = env["emboux.mailbox"].create(
            {"email": "carl@globex.test", "password": "long enough pw", "catch_all": True}
        )
        self.assertTrue(new.catch_all)
        self.assertEqual(new.partner_id, self.tenant_b.partner_id)
        self.assertFalse(self.Alias.search([("source", "=", "eve@acme.test")]))

    def test_subdomain_of_other_tenant_refused(self):
        env = self.tenant_env(self.tenant_b)
        with self.assertRaises(EmbouxConflictError) as cm:
            env["emboux.domain"].create({"name": "mail.acme.test"})
        self.assertEqual(cm.exception.field, "name")
        # nor of the operator's own domain
        with self.assertRaises(EmbouxConflictError):
            env["emboux.domain"].create({"name": "shop.example.com"})
        self.assertTrue(env["emboux.domain"].create({"name": "shop.globex.test"}))

    def test_customer_fields_limited(self):
        env = self.tenant_env(self.tenant_b)
        domain = env["emboux.domain"].browse(self.domain_b.id)
        for vals in (
            {"retention_days": 3},
            {"monthly_transfer_limit_mb": 0},
            {"tenant_id": self.tenant_a.id},
            {"status": "suspended"},
            {"is_wildcard": True},
        ):
            with self.subTest(vals=vals), self.assertRaises(AccessError) as cm:
                domain.write(vals)
            self.assertIn(domain._fields[next(iter(vals))].string, str(cm.exception))
        with self.assertRaises(AccessError):
            env["emboux.domain"].create({"name": "new.example", "retention_days": 5})
        # mailboxes: what the API lets a customer change
        mailbox = env["emboux.mailbox"].browse(self.mailbox_b.id)
        mailbox.write({"name": "Bob", "quota_mb": 10, "active": True})
        mailbox.set_password("another long password")
        self.assertEqual(mailbox.name, "Bob")
        with self.assertRaises(AccessError):
            mailbox.write({"used_mb": 1})
        # keys: rename only; revoking is action_revoke
        key = env["emboux.api.key"].browse(self.key_b.id)
        key.name = "renamed"
        with self.assertRaises(EmbouxInputError):
            key.write({"expires_at": "2099-01-01 00:00:00"})
        key.action_revoke()
        with self.assertRaises(EmbouxInputError):
            key.write({"revoked_at": False})
        self.assertEqual(self.key_b.state, "revoked")
        # deletion log and key hashes are not the customer's
        with self.assertRaises(AccessError):
            env["emboux.deletion.log"].search([])
        with self.assertRaises(AccessError):
            key.read(["key_hash"])

    def test_suspend_and_activate(self):
        env = self.tenant_env(self.tenant_b)
        domain = env["emboux.domain"].browse(self.domain_b.id)
        domain.action_suspend()
        self.assertEqual(self.domain_b.status, "suspended")
        self.assertEqual(self.domain_b.suspended_by_id, self.tenant_b.user_id)
        domain.action_activate()
        self.assertEqual(self.domain_b.status, "active")
        # suspended by staff: only staff can activate
        self.domain_b.with_user(self.emboux_manager).action_suspend()
        with self.assertRaises(AccessError):
            domain.action_activate()
        self.assertEqual(self.domain_b.status, "suspended")
        self.domain_b.with_user(self.emboux_manager).action_activate()
        self.assertEqual(self.domain_b.status, "active")

    def test_customer_unlinks_own(self):
        env = self.tenant_env(self.tenant_b)
        env["emboux.alias"].browse(self.alias_b.id).unlink()
        env["emboux.domain"].browse(self.domain_b.id).unlink()
        self.assertFalse(self.mailbox_b.exists())
        self.assertEqual(self.tenant_b.domains_used, 0)

    def test_staff_see_everything(self):
        for user in (self.emboux_user, self.emboux_manager):
            Domain = self.Domain.with_user(user)
            self.assertEqual(
                Domain.search([("id", "in", (self.domain_a | self.domain_b | self.domain).ids)]),
                self.domain_a | self.domain_b | self.domain,
            )
            self.assertEqual(
                len(self.Key.with_user(user).search([("id", "in", (self.key_a | self.key_b).ids)])),
                2,
            )
