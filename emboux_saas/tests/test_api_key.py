from datetime import timedelta
import hashlib

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .common import SaasCase


@tagged("post_install", "-at_install")
class TestApiKey(SaasCase):
    def test_generate(self):
        key, token = self.Key.generate("acme", "deploy", expires_at="2099-01-01T00:00:00Z")
        self.assertTrue(token.startswith("emb_"))
        self.assertGreaterEqual(len(token), 4 + 43)
        self.assertEqual(key.prefix, token[:12])
        self.assertEqual(key.tenant_id, self.tenant_a)
        self.assertEqual(key.expires_at, fields.Datetime.to_datetime("2099-01-01 00:00:00"))
        self.assertEqual(key.sudo().key_hash, hashlib.sha256(token.encode()).hexdigest())
        self.assertNotEqual(token, self.Key.generate("acme", "deploy")[1], "a new token each time")
        with self.assertRaises(EmbouxInputError) as cm:
            self.Key.generate("acme", "  ")
        self.assertEqual(cm.exception.field, "name")
        with self.assertRaises(EmbouxInputError) as cm:
            self.Key.generate("acme", "x", expires_at="tomorrow")
        self.assertEqual(cm.exception.field, "expires_at")
        with self.assertRaises(EmbouxInputError) as cm:
            self.Key.generate("nobody", "x")
        self.assertEqual(cm.exception.field, "partner_ref")

    def test_token_never_at_rest(self):
        _key, token = self.Key.generate(self.tenant_a, "secret")
        self.env.flush_all()
        secret = token[len("emb_") :]
        self.env.cr.execute(
            "SELECT count(*) FROM emboux_api_key k WHERE k::text LIKE %s", [f"%{secret[8:24]}%"]
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        # nor through the staff wizard
        wizard = self.env["emboux.api.key.generate"].create(
            {"tenant_id": self.tenant_a.id, "name": "w"}
        )
        action = wizard.action_generate()
        shown = action["context"]["default_token"]
        self.assertTrue(self.Key._authenticate(shown))
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT count(*) FROM emboux_api_key_generate w WHERE w::text LIKE %s",
            [f"%{shown[12:28]}%"],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_direct_create_refused(self):
        with self.assertRaises(EmbouxInputError):
            self.Key.create({"tenant_id": self.tenant_a.id, "name": "x", "key_hash": "0" * 64})

    def test_authenticate(self):
        self.assertEqual(self.Key._authenticate(self.token_a), self.key_a)
        self.assertEqual(self.Key._authenticate(self.token_b), self.key_b)
        for bad in (
            None,
            "",
            "emb_",
            self.token_a + "x",
            self.token_a[:-1],
            "Bearer " + self.token_a,
            self.token_a.upper(),
            "x" * 1000,
            42,
        ):
            self.assertFalse(self.Key._authenticate(bad), repr(bad))

    def test_revoked_and_expired_refused(self):
        self.key_a.action_revoke()
        self.assertEqual(self.key_a.state, "revoked")
        self.assertFalse(self.key_a.active)
        self.assertFalse(self.Key._authenticate(self.token_a))
        self.key_a.action_revoke()  # idempotent
        key, token = self.Key.generate(
            self.tenant_a, "short", expires_at=fields.Datetime.now() + timedelta(hours=1)
        )
        self.assertEqual(self.Key._authenticate(token), key)
        # well before the test's transaction began: the SQL compares with
        # now(), the start of the transaction (the class's, in a test)
        key.expires_at = fields.Datetime.now() - timedelta(hours=1)
        self.assertEqual(key.state, "expired")
        self.assertFalse(self.Key._authenticate(token))
        self.assertFalse(self.tenant_a._has_active_key())

    def test_last_used_at_at_most_once_a_minute(self):
        self.assertFalse(self.key_a.last_used_at)
        self.Key._authenticate(self.token_a)
        first = self.key_a.last_used_at
        self.assertTrue(first)
        recent = first - timedelta(seconds=30)
        self.env.cr.execute(
            "UPDATE emboux_api_key SET last_used_at = %s WHERE id = %s", [recent, self.key_a.id]
        )
        self.key_a.invalidate_recordset()
        self.Key._authenticate(self.token_a)
        self.assertEqual(self.key_a.last_used_at, recent, "not rewritten within the minute")
        old = first - timedelta(minutes=5)
        self.env.cr.execute(
            "UPDATE emboux_api_key SET last_used_at = %s WHERE id = %s", [old, self.key_a.id]
        )
        self.key_a.invalidate_recordset()
        self.Key._authenticate(self.token_a)
        self.assertEqual(self.key_a.last_used_at, first)

    def test_authenticate_as_api_runner(self):
        """The REST layer calls it as a user without rights on keys."""
        runner = self.env["res.users"].create(
            {"name": "runner", "login": "runner_h4", "group_ids": [(6, 0, [])]}
        )
        self.assertEqual(self.Key.with_user(runner)._authenticate(self.token_a), self.key_a)

    def test_customer_manages_own_keys(self):
        env = self.tenant_env(self.tenant_a)
        key, token = env["emboux.api.key"].generate(env["emboux.tenant"]._current_tenant(), "mine")
        self.assertEqual(key.tenant_id, self.tenant_a)
        self.assertEqual(env["emboux.api.key"].search([]), key | self.key_a)
        key.action_revoke()
        self.assertFalse(self.Key._authenticate(token))
        with self.assertRaises(AccessError):
            key.read(["key_hash"])

    def test_key_usage(self):
        usage = self.key_a._usage()
        self.assertEqual(usage["partner_ref"], "acme")
        self.assertEqual(usage["name"], "ci a")
        self.assertIsNone(usage["expires_at"])
        self.assertEqual(
            usage["quotas"],
            {"max_domains": 10, "max_mailboxes_per_domain": 50, "max_aliases_per_mailbox": 20},
        )
        self.assertEqual(usage["usage"], {"domains_used": 1, "mailboxes": 1, "aliases": 1})

    def test_wizard_from_tenant_form(self):
        action = self.tenant_a.action_generate_key()
        self.assertEqual(action["res_model"], "emboux.api.key.generate")
        wizard = (
            self.env["emboux.api.key.generate"]
            .with_context(**action["context"])
            .create({"name": "ui"})
        )
        result = wizard.with_user(self.emboux_manager).action_generate()
        key = self.Key.browse(result["context"]["default_key_id"])
        self.assertEqual(key.tenant_id, self.tenant_a)
        self.assertEqual(key.name, "ui")
        self.assertEqual(key.prefix, result["context"]["default_token"][:12])
