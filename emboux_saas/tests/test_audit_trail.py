from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from ..audit import ACTOR_KEY, MASTER_ACTOR
from .audit_common import audit_trail, flush_trail, trail_size
from .common import SaasCase


@tagged("post_install", "-at_install")
class TestAuditTrail(SaasCase):
    """The chatter of domains, mailboxes, tenants and API keys: who changed
    which tracked field, when, and how the change came in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal = cls.make_portal_user(cls.tenant_a, "audit_portal")
        flush_trail(cls.env)  # the setup's changes are not the tests'

    def last(self, record):
        return audit_trail(record)[0]

    # ------------------------------------------------------------------
    # the backend
    # ------------------------------------------------------------------
    def test_backend_form_change(self):
        manager = self.emboux_manager
        with Form(self.domain_a.with_user(manager)) as form:
            form.retention_days = 30
            form.monthly_transfer_limit_mb = 500
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, manager.partner_id)
        # staff in the backend: the author says it all
        self.assertEqual(entry.text, "")
        self.assertEqual(
            entry.changes,
            {"retention_days": (0, 30), "monthly_transfer_limit_mb": (0, 500)},
        )
        self.assertTrue(entry.message.is_internal)
        self.assertEqual(entry.message.subtype_id, self.env.ref("mail.mt_note"))

    def test_suspension_and_owner(self):
        manager = self.emboux_manager
        self.domain_a.with_user(manager).action_suspend()
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, manager.partner_id)
        self.assertEqual(entry.changes, {"status": ("Active", "Suspended")})
        self.domain_a.with_user(manager).action_activate()
        self.assertEqual(self.last(self.domain_a).changes, {"status": ("Suspended", "Active")})
        # the owner: a transfer names both tenants
        self.domain_a.with_user(manager).action_transfer_owner(self.tenant_b)
        self.assertEqual(self.last(self.domain_a).changes, {"tenant_id": ("acme", "globex")})

    def test_unchanged_values_leave_nothing(self):
        before = len(audit_trail(self.domain_a))
        self.domain_a.write({"retention_days": 0, "status": "active"})
        self.domain_a.action_activate()  # already active
        self.assertEqual(len(audit_trail(self.domain_a)), before)

    def test_creation_message(self):
        domain = self.Domain.with_user(self.emboux_manager).create({"name": "created.test"})
        trail = audit_trail(domain)
        self.assertEqual(len(trail), 1)
        self.assertEqual(trail[0].text, "Hosted mail domain created")
        self.assertEqual(trail[0].author, self.emboux_manager.partner_id)
        # the creator does not follow what it creates: no followers, no e-mail
        self.assertFalse(domain.message_follower_ids)

    def test_tenant_quotas_and_ref(self):
        self.tenant_a.set_quotas(max_domains=3, max_mailboxes_per_domain=0)
        self.assertEqual(
            self.last(self.tenant_a).changes,
            {"max_domains": (10, 3), "max_mailboxes_per_domain": (50, 0)},
        )
        self.tenant_a.partner_ref = "acme-corp"
        self.assertEqual(self.last(self.tenant_a).changes, {"partner_ref": ("acme", "acme-corp")})

    def test_api_key_rename_expiry_revocation(self):
        self.key_a.with_user(self.portal).write({"name": "deploy"})
        entry = self.last(self.key_a)
        self.assertEqual(entry.author, self.portal.partner_id)
        self.assertEqual(entry.text, "Via the customer portal.")
        self.assertEqual(entry.changes, {"name": ("ci a", "deploy")})
        self.key_a.with_user(self.emboux_manager).action_revoke()
        entry = self.last(self.key_a)
        self.assertEqual(entry.author, self.emboux_manager.partner_id)
        self.assertEqual(list(entry.changes), ["revoked_at"])
        self.assertFalse(entry.changes["revoked_at"][0])
        self.assertTrue(entry.changes["revoked_at"][1])

    # ------------------------------------------------------------------
    # the portal
    # ------------------------------------------------------------------
    def test_portal_changes(self):
        self.domain_a.with_user(self.portal).action_suspend()
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, self.portal.partner_id)
        self.assertEqual(entry.text, "Via the customer portal.")
        self.assertEqual(entry.changes, {"status": ("Active", "Suspended")})
        self.mailbox_a.with_user(self.portal).write({"quota_mb": 2048, "active": False})
        entry = self.last(self.mailbox_a)
        self.assertEqual(entry.text, "Via the customer portal.")
        self.assertEqual(entry.changes, {"quota_mb": (1024, 2048), "active": (True, False)})
        mailbox = self.Mailbox.with_user(self.portal).create(
            {"email": "new@acme.test", "password": "correct horse battery"}
        )
        self.assertEqual(audit_trail(mailbox)[0].text, "Mailbox created via the customer portal")

    def test_portal_cannot_read_the_trail(self):
        # two requests: each its own transaction, its own tracking
        self.domain_a.with_user(self.portal).action_suspend()
        audit_trail(self.domain_a)
        self.domain_a.with_user(self.emboux_manager).action_activate()
        messages = [entry.message for entry in audit_trail(self.domain_a)]
        self.assertEqual(len(messages), 3)  # created, suspended, activated
        Message = self.env["mail.message"].with_user(self.portal)
        self.assertFalse(
            Message.search([("model", "=", "emboux.domain"), ("res_id", "=", self.domain_a.id)])
        )
        self.assertEqual(
            self.domain_a.with_user(self.portal).read(["message_ids"])[0]["message_ids"], []
        )
        # Odoo lets a reader of a record read its notes that are not
        # comments (the tracking) by id: not these
        for message in (messages[0], messages[2]):
            with self.assertRaises(AccessError):
                Message.browse(message.id).read(["body"])
        # what it did itself, it may read (not the values: system only)
        self.assertEqual(
            Message.browse(messages[1].id).read(["body"])[0]["body"],
            messages[1].body,
        )
        with self.assertRaises(AccessError):
            self.env["mail.tracking.value"].with_user(self.portal).search([])
        # nor post on the records (Odoo would let it with write access),
        # also not as /mail/message/post asks, in sudo
        with self.assertRaises(AccessError):
            self.domain_a.with_user(self.portal).message_post(body="fake audit entry")
        # nor use the rest of the chatter's public methods (RPC doors)
        staff_partner = self.emboux_user.partner_id
        for record in (self.domain_a, self.mailbox_a, self.tenant_a):
            mine = record.with_user(self.portal)
            calls = {
                "message_subscribe": lambda r: r.message_subscribe(partner_ids=[staff_partner.id]),
                "message_unsubscribe": lambda r: r.message_unsubscribe(
                    partner_ids=[staff_partner.id]
                ),
                "message_get_followers": lambda r: r.message_get_followers(),
                "message_notify": lambda r: r.message_notify(
                    partner_ids=[staff_partner.id], body="fake"
                ),
                "message_change_thread": lambda r: r.message_change_thread(self.domain_b),
            }
            for name, call in calls.items():
                with self.subTest(model=record._name, method=name), self.assertRaises(AccessError):
                    call(mine)
        self.assertNotIn(staff_partner, self.domain_a.message_partner_ids)
        # staff may
        self.domain_a.with_user(self.emboux_user).message_subscribe(partner_ids=[staff_partner.id])
        self.assertIn(staff_partner, self.domain_a.message_partner_ids)
        thread_su = self.domain_a.with_user(self.portal).sudo()
        self.assertFalse(
            thread_su._mail_get_operation_for_mail_message_operation("create")[thread_su]
        )
        # staff read the whole trail
        self.assertEqual(
            self.env["mail.message"]
            .with_user(self.emboux_user)
            .search([("model", "=", "emboux.domain"), ("res_id", "=", self.domain_a.id)]),
            self.env["mail.message"].browse([m.id for m in messages]),
        )

    # ------------------------------------------------------------------
    # scheduled actions and the actor's authenticity
    # ------------------------------------------------------------------
    def test_scheduled_action_is_named(self):
        root = self.env.ref("base.user_root")
        cron = self.env["ir.cron"].create(
            {
                "name": "Audit trail test job",
                "model_id": self.env.ref("emboux_core.model_emboux_domain").id,
                "state": "code",
                "code": f"model.browse({self.domain_a.id}).write({{'retention_days': 7}})",
                "user_id": root.id,
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        # as ir.cron._run_job runs it: the cron's user, its id in the context
        cron.ir_actions_server_id.with_user(root).with_context(cron_id=cron.id).run()
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, root.partner_id)
        self.assertEqual(entry.text, "By the scheduled action 'Audit trail test job'.")
        self.assertEqual(entry.changes, {"retention_days": (0, 7)})

    def test_actor_cannot_be_forged_through_the_context(self):
        """An RPC caller sends any context it likes: plain strings, ids."""
        cron = self.env.ref("emboux_core.ir_cron_emboux_retention_purge")
        manager = self.emboux_manager
        forged = {ACTOR_KEY: str(MASTER_ACTOR), "cron_id": cron.id}
        self.domain_a.with_user(manager).with_context(**forged).set_retention(3)
        entry = self.last(self.domain_a)
        self.assertEqual(entry.author, manager.partner_id)
        self.assertEqual(entry.text, "")
        self.assertEqual(entry.changes, {"retention_days": (0, 3)})

    # ------------------------------------------------------------------
    # counters are not tracked
    # ------------------------------------------------------------------
    def test_counters_leave_no_message(self):
        before = {
            model: trail_size(self.env, model)
            for model in ("emboux.domain", "emboux.tenant", "emboux.api.key", "emboux.mailbox")
        }
        # the tenant's domain counter moves in SQL; the new domain's own
        # creation message is the one new message
        self.Domain.create({"name": "counted.acme.test", "tenant_id": self.tenant_a.id})
        self.tenant_a.invalidate_recordset(["domains_used"])
        self.assertEqual(self.tenant_a.domains_used, 2)
        # a key's last use, the month's transfer
        self.assertEqual(self.Key._authenticate(self.token_a), self.key_a)
        self.domain_a.write({"transfer_used_mb": 12})
        after = {model: trail_size(self.env, model) for model in before}
        self.assertEqual(after, dict(before, **{"emboux.domain": before["emboux.domain"] + 1}))
