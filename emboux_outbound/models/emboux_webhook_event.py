"""Deliveries of the providers' bounce/complaint webhooks.

One row per Mailgun signature token or SNS MessageId: the table that
refuses a replayed Mailgun token and de-duplicates SNS retries. A delivery
claims its key with a single ``INSERT ... ON CONFLICT DO NOTHING`` before
anything else is written, in the request's transaction: a second worker
receiving the same key at the same time waits on the unique index until
the first commits, then finds the row (processed once); if the first fails
and rolls back, its claim goes too and the provider's retry is processed.
Rows older than the accepted age (plus a day) are purged by a cron: a
replay that old is refused as stale anyway.
"""

from datetime import timedelta
import logging

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import CONCURRENCY_ERRORS, quiet_concurrency_errors
from odoo.addons.emboux_saas.audit import ACTOR_KEY, ACTOR_WEBHOOK, AuditActor

from ..webhooks import (
    WebhookNotConfiguredError,
    WebhookSignatureError,
    config_list,
    load_json_object,
    mailgun,
    max_age,
    sns,
)

_logger = logging.getLogger(__name__)

SOURCE_SELECTION = [("mailgun", "Mailgun"), ("ses", "Amazon SES")]
OUTCOME_SELECTION = [
    ("bounce", "Bounce"),
    ("complaint", "Complaint"),
    ("ignored", "Ignored"),
    ("confirmed", "Subscription Confirmed"),
]
KEY_MAX_LENGTH = 256
RETENTION_MARGIN = 86400  # seconds kept beyond the accepted age
GC_RETRY_MINUTES = 5  # a purge that met a concurrent delivery runs again then


class EmbouxWebhookEvent(models.Model):
    _name = "emboux.webhook.event"
    _description = "Webhook Delivery"
    _order = "received_at desc, id desc"
    _rec_name = "key"
    _log_access = False  # written only by the webhooks, in plain SQL first

    source = fields.Selection(SOURCE_SELECTION, required=True, readonly=True)
    key = fields.Char(
        required=True,
        readonly=True,
        help="Mailgun: the signature token. SES: the SNS MessageId.",
    )
    received_at = fields.Datetime(required=True, readonly=True, index=True)
    event_type = fields.Char(readonly=True, help="As the provider names it.")
    outcome = fields.Selection(OUTCOME_SELECTION, readonly=True)
    recipient_count = fields.Integer(string="Recipients", readonly=True)
    domain_name = fields.Char(string="Sending Domain", readonly=True)

    _source_key_uniq = models.Constraint(
        "UNIQUE(source, key)", "A webhook delivery is recorded once per provider and key."
    )

    # ------------------------------------------------------------------
    # replay / de-duplication
    # ------------------------------------------------------------------
    @api.model
    def _claim(self, source, key):
        """Record the delivery ``key`` of ``source``: the new row, or an
        empty recordset when it was recorded already (a replay or a retry).
        A concurrent claim of the same key waits for this transaction."""
        if not key or len(key) > KEY_MAX_LENGTH:
            raise EmbouxInputError("key", "Missing or too long")
        rows = self.env.execute_query(
            SQL(
                "INSERT INTO emboux_webhook_event (source, key, received_at)"
                " VALUES (%s, %s, now() AT TIME ZONE 'UTC')"
                " ON CONFLICT (source, key) DO NOTHING RETURNING id",
                source,
                key,
            )
        )
        return self.browse(rows[0][0]) if rows else self.browse()

    @api.model
    def _gc_webhook_events(self):
        """Cron: forget deliveries older than the accepted age plus a day.
        A delivery being processed at that moment (serialization failure,
        lock, deadlock) rolls the purge back quietly: an INFO line, and the
        cron runs again a few minutes later."""
        keep = max_age() + RETENTION_MARGIN
        try:
            with quiet_concurrency_errors(), self.env.cr.savepoint():
                rows = self.env.execute_query(
                    SQL(
                        "DELETE FROM emboux_webhook_event"
                        " WHERE received_at < (now() AT TIME ZONE 'UTC')"
                        " - make_interval(secs => %s) RETURNING id",
                        keep,
                    )
                )
        except CONCURRENCY_ERRORS as exc:
            _logger.info(
                "Webhook deliveries not purged (%s): retried in %s minutes",
                type(exc).__name__,
                GC_RETRY_MINUTES,
            )
            cron = self.env.ref("emboux_outbound.ir_cron_emboux_webhook_event_gc", False)
            if cron:
                cron.sudo()._trigger(fields.Datetime.now() + timedelta(minutes=GC_RETRY_MINUTES))
            return 0
        _logger.info("Webhook deliveries purged: %s", len(rows))
        return len(rows)

    # ------------------------------------------------------------------
    # the webhooks (public routes call these as the API's technical user)
    # ------------------------------------------------------------------
    @api.model
    def _receive_mailgun(self, body, now=None):
        """Process a Mailgun webhook delivery (the raw JSON body). Returns
        ``{"status": "processed"|"ignored", "kind"}``. Raises
        :class:`WebhookNotConfiguredError` without a signing key,
        :class:`WebhookSignatureError` for a bad, stale or replayed
        signature, ``EmbouxInputError`` for a malformed body."""
        # a malformed delivery is refused as such (406), even before a key
        # is set; only a well-formed one waits for the key (503, retried)
        payload = load_json_object(body)
        mailgun.signature_parts(payload)
        event = mailgun.parse_event(payload.get("event-data"))
        key = mailgun.signing_key()
        if not key:
            raise WebhookNotConfiguredError("signing_key", "the webhook signing key is not set")
        signature = mailgun.verify_signature(payload, key, now=now, max_age=max_age())
        delivery = self.sudo()._claim("mailgun", signature["token"])
        if not delivery:
            raise WebhookSignatureError("signature.token", "already used (replayed)")
        # event-data.id is the same on Mailgun's retries of one event
        return delivery._apply(event, event.event_id or signature["token"])

    @api.model
    def _ses_trusted_topics(self):
        """The SNS topics whose deliveries the SES webhook accepts: those
        of the configuration (``emboux_ses_sns_topic_arns``) and those the
        suite sets on its own identities: the notification topic setting
        (``emboux_ses_notification_topic_arn``) and the topics recorded on
        the domains (a domain set before the setting changed)."""
        # The one place for the topics the suite sets itself (SES
        # SetIdentityNotificationTopic, see emboux.domain
        # ``_provider_wire_feedback``).
        rows = self.env.execute_query(
            SQL(
                "SELECT DISTINCT ses_notification_topic_arn FROM emboux_domain"
                " WHERE ses_notification_topic_arn IS NOT NULL"
            )
        )
        recorded = {arn for (arn,) in rows if arn}
        own = sns.notification_topic()
        return frozenset(sns.configured_topics()) | recorded | ({own} if own else set())

    @api.model
    def _check_ses_topic(self, topic):
        """Refuse ``topic`` unless trusted, before anything reaches the
        network (certificate, SubscribeURL): anyone can create an SNS topic,
        subscribe this webhook and sign notifications that would suppress
        any address."""
        trusted = self._ses_trusted_topics()
        if not trusted:
            _logger.warning(
                "SES webhook refused a delivery from SNS topic %r: no SNS topic is configured"
                " (emboux_ses_sns_topic_arns, env EMBOUX_SES_SNS_TOPIC_ARNS); list it there"
                " if it is yours",
                topic,
            )
            raise WebhookNotConfiguredError(
                "TopicArn", "no SNS topic is configured (emboux_ses_sns_topic_arns)"
            )
        if topic not in trusted:
            _logger.warning("SES webhook refused a delivery from untrusted SNS topic %r", topic)
            raise WebhookSignatureError("TopicArn", "not a trusted topic")

    @api.model
    def _receive_sns(self, body, certificates=None, now=None):
        """Process an SNS delivery (the raw body) carrying SES
        notifications. Returns ``{"status": "processed"|"ignored"|
        "duplicate"|"confirmed", "kind"}``. Raises ``EmbouxInputError`` for
        a malformed body, :class:`WebhookNotConfiguredError` when no topic
        is trusted, :class:`WebhookSignatureError` for an untrusted topic, a
        bad or stale signature or an untrusted certificate URL,
        ``WebhookUpstreamError`` when the certificate or the SubscribeURL
        cannot be fetched. ``certificates``: a ``sns.CertificateStore``."""
        # a malformed delivery is refused as such (422) whatever the topics
        envelope = sns.parse_envelope(body)
        self._check_ses_topic(envelope["TopicArn"])
        allowed_hosts = config_list("emboux_sns_allowed_hosts")
        sns.verify_signature(
            envelope, certificates, allowed_hosts=allowed_hosts, now=now, max_age=max_age()
        )
        delivery = self.sudo()._claim("ses", envelope["MessageId"])
        if not delivery:
            return {"status": "duplicate", "kind": None}
        if envelope["Type"] == "SubscriptionConfirmation":
            sns.confirm_subscription(envelope, allowed_hosts)
            _logger.info("SNS subscription to %s confirmed", envelope["TopicArn"])
            delivery.write({"event_type": envelope["Type"], "outcome": "confirmed"})
            return {"status": "confirmed", "kind": None}
        if envelope["Type"] == "UnsubscribeConfirmation":
            delivery.write({"event_type": envelope["Type"], "outcome": "ignored"})
            return {"status": "ignored", "kind": None}
        event = sns.parse_ses_message(envelope["Message"])
        return delivery._apply(event, event.event_id or envelope["MessageId"])

    def _apply(self, event, event_id):
        """Hand a bounce or complaint to the suppression list (which skips
        invalid addresses and events it has seen) and note the outcome on
        this delivery's row."""
        self.ensure_one()
        kind = event.kind if event.recipients else None
        if kind:
            # the audit trail names the webhook (a guillotine it triggers)
            actor = AuditActor(ACTOR_WEBHOOK, self.source)
            self.env["emboux.suppression"].sudo().with_context(
                **{ACTOR_KEY: actor}
            )._process_bounce_or_complaint(
                kind,
                event.recipients,
                domain_name=event.domain_name,
                source=self.source,
                event_id=event_id,
            )
        self.write(
            {
                "event_type": (event.event_type or "")[:64],
                "outcome": kind or "ignored",
                "recipient_count": len(event.recipients) if kind else 0,
                "domain_name": event.domain_name,
            }
        )
        return {"status": "processed" if kind else "ignored", "kind": kind}
