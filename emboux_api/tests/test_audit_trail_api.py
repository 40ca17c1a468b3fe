import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_outbound.tests.sending_common import SENDING_ENV
from odoo.addons.emboux_saas.tests.audit_common import audit_trail, flush_trail, trail_size

from .common import TenancyCase

MASTER_NOTE = "Via the REST API with the master token."


@tagged("post_install", "-at_install")
class TestAuditTrailApi(TenancyCase):
    """The staff audit trail of changes made through the REST API names
    the master token or the customer's API key."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # FastAPITransactionCase disables tracking: it is what is tested here
        context = dict(cls.env.context)
        context.pop("tracking_disable")
        cls.env = cls.env(context=context)
        cls.default_fastapi_odoo_env = cls.env
        cls.startClassPatcher(patch.dict(os.environ, dict.fromkeys(SENDING_ENV, "")))
        cls.env["emboux.send.decision"]._sync_settings()
        cls.key_a = cls.Key.search([("tenant_id", "=", cls.tenant_a.id)])
        cls.key_note = f"Via the REST API with the API key 'acme key' ({cls.key_a.prefix}...)."
        for domain in (cls.domain_a, cls.own):
            domain.write({"warmup_profile": False})
            domain._set_verification("verified")
        cls.domain_b.with_env(cls.env).action_suspend()
        flush_trail(cls.env)

    def last(self, record):
        return audit_trail(record)[0]

    def test_master_token_is_named(self):
        self.assertStatus(
            self.api("PUT", "/domains/acme.test/retention", json={"retention_days": 10}), 200
        )
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, self.api_user.partner_id)
        self.assertEqual(entry.text, MASTER_NOTE)
        self.assertEqual(entry.changes, {"retention_days": (0, 10)})
        self.assertStatus(
            self.api("PUT", "/tenants/acme", json={"max_domains": 4}),
            200,
        )
        entry = self.last(self.tenant_a)
        self.assertEqual(entry.text, MASTER_NOTE)
        self.assertEqual(entry.changes, {"max_domains": (10, 4)})
        self.assertStatus(
            self.api(
                "PUT",
                "/domains/example.com/outbound",
                json={"outbound_status": "paused", "outbound_enforcement": "soft"},
            ),
            200,
        )
        entry = self.last(self.own)
        self.assertEqual(entry.text, MASTER_NOTE)
        self.assertEqual(
            entry.changes,
            {
                "outbound_enforcement": ("Hard (refuse over a limit)", "Soft (allow and flag)"),
                "outbound_status": ("Active", "Paused"),
            },
        )

    def test_master_revokes_a_key(self):
        self.assertStatus(self.api("DELETE", f"/api-keys/{self.key_a.id}"), 204)
        entry = self.last(self.key_a)
        self.assertEqual(entry.text, MASTER_NOTE)
        self.assertEqual(list(entry.changes), ["revoked_at"])

    def test_creation_names_the_caller(self):
        self.assertStatus(self.api("POST", "/domains/", json={"name": "made.test"}), 201)
        domain = self.Domain.search([("name", "=", "made.test")])
        self.assertEqual(
            audit_trail(domain)[0].text,
            "Hosted mail domain created via the REST API with the master token",
        )
        # the API's technical user does not follow what it creates
        self.assertFalse(domain.message_follower_ids)
        self.assertStatus(
            self.api(
                "POST",
                "/users/",
                token=self.token_a,
                json={"email": "new@acme.test", "password": "correct horse battery"},
            ),
            201,
        )
        mailbox = self.Mailbox.search([("email", "=", "new@acme.test")])
        self.assertEqual(
            audit_trail(mailbox)[0].text,
            f"Mailbox created via the REST API with the API key 'acme key' "
            f"({self.key_a.prefix}...)",
        )
        self.assertEqual(audit_trail(mailbox)[0].author, self.tenant_a.user_id.partner_id)

    def test_api_key_is_named(self):
        token = self.token_a
        self.assertStatus(self.api("PUT", "/domains/acme.test/suspend", token=token), 200)
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, self.tenant_a.user_id.partner_id)
        self.assertEqual(entry.text, self.key_note)
        self.assertEqual(entry.changes, {"status": ("Active", "Suspended")})
        self.assertStatus(
            self.api("PUT", "/users/ann@acme.test/quota", token=token, json={"quota_mb": 5}), 200
        )
        entry = self.last(self.mailbox_a)
        self.assertEqual(entry.text, self.key_note)
        self.assertEqual(entry.changes, {"quota_mb": (1024, 5)})
        self.assertStatus(
            self.api("PUT", "/domains/acme.test/outbound", token=token, json={"daily_limit": 20}),
            200,
        )
        entry = self.last(self.domain_a)
        self.assertEqual(entry.text, self.key_note)
        self.assertEqual(entry.changes, {"outbound_daily_cap": (0, 20)})
        # another key of the same tenant is told apart
        key_2, token_2 = self.Key.generate(self.tenant_a, "second key")
        self.assertStatus(self.api("PUT", "/domains/acme.test/activate", token=token_2), 200)
        self.assertEqual(
            self.last(self.domain_a).text,
            f"Via the REST API with the API key 'second key' ({key_2.prefix}...).",
        )

    def test_send_decision_and_resets_leave_no_message(self):
        before = trail_size(self.env, "emboux.domain")
        self.assertTrue(before)
        for _i in range(3):
            body = self.assertStatus(
                self.api("POST", "/domains/acme.test/outbound/increment", json={"count": 2}), 200
            )
            self.assertTrue(body["allowed"], body)
        # refused: a suspended domain
        body = self.assertStatus(self.api("POST", "/domains/globex.test/outbound/increment"), 200)
        self.assertFalse(body["allowed"])
        self.assertEqual(body["sent_today"], 0)
        self.assertStatus(self.api("POST", "/outbound/reset-daily"), 200)
        self.assertStatus(self.api("POST", "/outbound/reset-monthly"), 200)
        self.assertEqual(trail_size(self.env, "emboux.domain"), before)
        self.assertEqual(self.domain_a._outbound_info()["sent_this_month"], 0)
