from odoo import api, models
from odoo.exceptions import AccessError, MissingError

from ..audit import ACTOR_API_KEY, ACTOR_KEY, ACTOR_MASTER, ACTOR_WEBHOOK, AuditActor

WEBHOOK_LABELS = {"mailgun": "Mailgun", "ses": "Amazon SES"}


class EmbouxAuditMixin(models.AbstractModel):
    """The staff audit trail of domains, mailboxes, tenants and API keys:
    Odoo's chatter, with the fields that matter tracked (``tracking=`` on
    them), so that a form shows who changed what and when.

    Odoo records the author (the user of the environment). The tracking
    message and the creation message add how the change came in: the REST
    API with which key or the master token, a provider's webhook (see
    ``..audit``), a scheduled action (named), the customer portal. A change
    made in the backend says nothing more: its author is the staff member.

    Tracking messages are internal notes (no notification, no e-mail),
    which customers cannot read, nor can they post on these records; the
    creator of a record does not follow it. Only tracked fields are
    compared, when the ORM writes them: counters written in SQL (the send
    decision, the resets, the tenant's domain counter, an API key's last
    use) leave no message.
    """

    _name = "emboux.audit.mixin"
    _inherit = "mail.thread"
    _description = "Emboux Audit Trail"

    @api.model
    def _emboux_audit_creating(self):
        """``self`` for the ``super().create`` of the model's ``create`` (not
        overridden here: emboux.domain has one per addon): the creating user
        (staff, the REST API's technical user) does not follow every record
        it creates, so no follower rows and no notifications."""
        return self.with_context(mail_create_nosubscribe=True)

    # ------------------------------------------------------------------
    # the actor
    # ------------------------------------------------------------------
    def _emboux_audit_cron(self):
        """The scheduled action running now, or an empty recordset. Odoo puts
        its id in the context of the job; a ``cron_id`` sent by an RPC caller
        is believed only from the cron's own user."""
        cron_id = self.env.context.get("cron_id")
        if not isinstance(cron_id, int) or isinstance(cron_id, bool):
            return self.env["ir.cron"]
        cron = self.env["ir.cron"].sudo().browse(cron_id)
        try:  # read once per transaction (cached), for every record it changes
            user = cron.user_id
        except MissingError:  # an id sent by an RPC caller
            return self.env["ir.cron"]
        return cron if user == self.env.user else self.env["ir.cron"]

    def _emboux_audit_actor(self):
        """How the change being recorded came in, as a phrase ("via the
        REST API with the master token"), or "" for a change made in the
        backend, whose author says it all."""
        actor = self.env.context.get(ACTOR_KEY)
        if isinstance(actor, AuditActor):
            if actor.kind == ACTOR_MASTER:
                return self.env._("via the REST API with the master token")
            if actor.kind == ACTOR_API_KEY:
                return self.env._(
                    "via the REST API with the API key '%(name)s' (%(prefix)s...)",
                    name=actor.name,
                    prefix=actor.ref,
                )
            if actor.kind == ACTOR_WEBHOOK:
                return self.env._(
                    "via the %(provider)s webhook",
                    provider=WEBHOOK_LABELS.get(actor.name, actor.name),
                )
        cron = self._emboux_audit_cron()
        if cron:
            return self.env._("by the scheduled action '%(name)s'", name=cron.name)
        if self.env.user._is_portal():
            return self.env._("via the customer portal")
        return ""

    def _emboux_audit_sentence(self):
        """:meth:`_emboux_audit_actor` as a sentence ("Via the customer
        portal."), or ""."""
        actor = self._emboux_audit_actor()
        return f"{actor[:1].upper()}{actor[1:]}." if actor else ""

    # ------------------------------------------------------------------
    # mail.thread hooks
    # ------------------------------------------------------------------
    def _mail_get_operation_for_mail_message_operation(self, message_operation):
        # The trail is the staff's. Odoo lets anyone who may read a record
        # read its notes that are not comments (the tracking), and post on
        # it with write access: a customer (portal user, the technical user
        # of its API keys) gets neither through these records, only the
        # messages it wrote or received. The real user decides, also when
        # the mail controllers ask in sudo; False: no document access.
        if not self.env.user._is_internal():
            return dict.fromkeys(self, False)
        return super()._mail_get_operation_for_mail_message_operation(message_operation)

    # mail.thread's public methods on these records are the staff's: Odoo
    # would let a customer with write access add or remove followers (any
    # partner, staff too), list them, notify any partner (no access check
    # there) or move the thread; posting is refused by the operation above
    def _emboux_audit_check_staff(self):
        if not self.env.su and not self.env.user._is_internal():
            raise AccessError(self.env._("Only staff can use the chatter of these records."))

    def message_subscribe(self, partner_ids=None, subtype_ids=None):
        self._emboux_audit_check_staff()
        return super().message_subscribe(partner_ids=partner_ids, subtype_ids=subtype_ids)

    def message_unsubscribe(self, partner_ids=None):
        self._emboux_audit_check_staff()
        return super().message_unsubscribe(partner_ids=partner_ids)

    @api.readonly
    def message_get_followers(self, after=None, limit=100, filter_recipients=False):
        self._emboux_audit_check_staff()
        return super().message_get_followers(
            after=after, limit=limit, filter_recipients=filter_recipients
        )

    def message_notify(self, **kwargs):
        self._emboux_audit_check_staff()
        return super().message_notify(**kwargs)

    def message_change_thread(self, new_thread, new_parent_message=False):
        self._emboux_audit_check_staff()
        return super().message_change_thread(new_thread, new_parent_message=new_parent_message)

    def _mail_group_by_operation_for_mail_message_operation(self, message_operation):
        groups = super()._mail_group_by_operation_for_mail_message_operation(message_operation)
        groups.pop(False, None)  # no operation grants those
        return groups

    def _track_get_default_log_message(self, tracked_fields):
        return super()._track_get_default_log_message(tracked_fields) or (
            self._emboux_audit_sentence()
        )

    def _creation_message(self):
        message = super()._creation_message()
        actor = self._emboux_audit_actor()
        if actor:
            return self.env._("%(message)s %(actor)s", message=message, actor=actor)
        return message
