"""The suppression list: a global blocklist of recipient addresses,
fed by the providers' bounce and complaint webhooks and by staff. The send
decision lists the suppressed recipients of a message and refuses it when
all of them are suppressed.

:meth:`EmbouxSuppression._process_bounce_or_complaint` is the shared entry
point of the webhooks (Mailgun and SES): it suppresses the recipients,
counts the event against the sending domain's reputation and guillotines
the domain when its bounce or complaint rate is too high.
"""

import logging

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain, normalize_email
from odoo.addons.emboux_core.unique import unique_key

_logger = logging.getLogger(__name__)

REASON_SELECTION = [("bounce", "Bounce"), ("complaint", "Complaint"), ("manual", "Manual")]
EVENT_KINDS = ("bounce", "complaint")


class EmbouxSuppression(models.Model):
    _name = "emboux.suppression"
    _description = "Suppressed recipient"
    _rec_name = "email"
    _order = "email"

    email = fields.Char(
        required=True,
        help="The suppressed recipient, stored lower-case. No domain of this "
        "suite sends to it while it is listed.",
    )
    reason = fields.Selection(REASON_SELECTION, required=True, default="manual")
    source = fields.Char(default="manual", help="Who listed it: mailgun, ses, manual (staff), api.")
    domain_id = fields.Many2one(
        "emboux.domain",
        string="Sending Domain",
        ondelete="set null",
        index="btree_not_null",
        help="The hosted domain whose message bounced or was complained about.",
    )
    domain = fields.Char(
        string="Domain Name",
        help="Name of the sending domain as the event gave it (kept when the domain is deleted).",
    )
    created_at = fields.Datetime(related="create_date", string="Created At")

    _email_uniq = models.Constraint("UNIQUE(email)", "This address is already suppressed.")

    def _email_taken(self, emails):
        return EmbouxConflictError(
            "email", self.env._("'%(email)s' is already suppressed", email=", ".join(emails))
        )

    # ------------------------------------------------------------------
    # CRUD (staff: manual entries)
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [dict(vals) for vals in vals_list]
        for vals in vals_list:
            vals["email"] = normalize_email(vals.get("email"), field="email")
            if vals.get("domain_id") and not vals.get("domain"):
                vals["domain"] = self.env["emboux.domain"].sudo().browse(vals["domain_id"]).name
            elif vals.get("domain"):
                vals["domain"] = normalize_domain(vals["domain"], field="domain")
        emails = [vals["email"] for vals in vals_list]
        with unique_key(self, "email", emails, self._email_taken):
            return super().create(vals_list)

    def write(self, vals):
        vals = dict(vals)
        if "email" in vals:
            vals["email"] = normalize_email(vals["email"], field="email")
        return super().write(vals)

    # ------------------------------------------------------------------
    # lookups: the one code path of the send decision, API and webhooks
    # ------------------------------------------------------------------
    @api.model
    def _suppressed_among(self, emails):
        """The addresses of ``emails`` (already normalised) that are
        suppressed, in the order given; one query."""
        if not emails:
            return []
        self.flush_model(["email"])
        rows = self.env.execute_query(
            SQL("SELECT email FROM emboux_suppression WHERE email = ANY(%s)", list(emails))
        )
        found = {row[0] for row in rows}
        return [email for email in emails if email in found]

    @api.model
    def _find_by_email(self, email):
        """The entry of ``email`` (any case) or an empty recordset;
        EmbouxInputError naming ``email`` for an invalid address."""
        email = normalize_email(email, field="email")
        return self.search([("email", "=", email)], limit=1)

    @api.model
    def check(self, email):
        """``GET /suppression/check/{email}``: ``{"email", "suppressed",
        "reason"}``. Master only."""
        check_master(self.env)
        normalised = normalize_email(email, field="email")
        entry = self._find_by_email(normalised)
        return {
            "email": normalised,
            "suppressed": bool(entry),
            "reason": entry.reason or None,
        }

    @api.model
    def unsuppress(self, email):
        """``DELETE /suppression/{email}``: True when it was listed. Master
        only."""
        check_master(self.env)
        entry = self._find_by_email(email)
        if not entry:
            return False
        entry.unlink()
        return True

    @api.model
    def _suppress(self, emails, reason, source, domain=None):
        """List ``emails`` (normalised) with ``reason`` and ``source``, set-based
        and idempotent (an address already listed keeps its first entry,
        also against a concurrent insert). Returns the newly listed ones,
        in the order given."""
        emails = list(dict.fromkeys(emails))
        if not emails:
            return []
        self.flush_model()
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO emboux_suppression
                       (email, reason, source, domain_id, domain,
                        create_uid, write_uid, create_date, write_date)
                SELECT e, %(reason)s, %(source)s, %(domain_id)s, %(domain)s,
                       %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM unnest(%(emails)s::varchar[]) AS e
                ON CONFLICT (email) DO NOTHING
                RETURNING email
                """,
                reason=reason,
                source=source,
                domain_id=domain.id if domain else None,
                domain=domain.name if domain else None,
                uid=self.env.uid,
                now=fields.Datetime.now(),
                emails=emails,
            )
        )
        self.invalidate_model()
        added = {row[0] for row in rows}
        return [email for email in emails if email in added]

    # ------------------------------------------------------------------
    # webhooks (shared by Mailgun and SES)
    # ------------------------------------------------------------------
    @api.model
    def _process_bounce_or_complaint(
        self, kind, recipients, domain_name=None, source="mailgun", event_id=None
    ):
        """Process a provider's bounce or complaint event (call it with
        ``sudo()``): suppress ``recipients`` (idempotent), count one bounce or
        complaint per valid recipient against the sending domain
        ``domain_name`` when it is hosted here, and guillotine that domain
        when its rate exceeds the threshold. An ``event_id`` already
        processed from this ``source`` changes nothing (a webhook delivered
        twice). Invalid addresses are skipped (logged), an unknown or
        invalid ``domain_name`` counts nowhere.

        Returns ``{"suppressed": [addresses newly listed], "domain": the
        hosted sending domain's name or None, "guillotined": whether that
        domain is guillotined after this event}``."""
        if kind not in EVENT_KINDS:
            raise EmbouxInputError(
                "kind", self.env._("'%(kind)s' is not bounce or complaint", kind=kind)
            )
        if isinstance(recipients, str):
            recipients = [recipients]
        valid = []
        for address in recipients or []:
            try:
                valid.append(normalize_email(address, field="recipients"))
            except EmbouxInputError:
                _logger.warning("%s %s event: skipping invalid recipient %r", source, kind, address)
        valid = list(dict.fromkeys(valid))
        domain = self._event_domain(domain_name)
        result = {"suppressed": [], "domain": domain.name or None, "guillotined": False}
        if event_id and not self._claim_event(source, str(event_id), kind):
            _logger.info("%s %s event %s already processed", source, kind, event_id)
            result["guillotined"] = bool(domain) and domain.outbound_status == "guillotined"
            return result
        result["suppressed"] = self._suppress(valid, kind, source or "api", domain)
        if domain:
            if valid:
                domain._count_reputation_event(kind, len(valid))
            result["guillotined"] = domain._check_guillotine()
        return result

    @api.model
    def _event_domain(self, domain_name):
        if not domain_name or not isinstance(domain_name, str):
            return self.env["emboux.domain"].sudo().browse()
        try:
            return self.env["emboux.domain"].sudo()._find_by_name(domain_name)
        except EmbouxInputError:
            _logger.warning("Bounce/complaint event for an invalid domain %r", domain_name)
            return self.env["emboux.domain"].sudo().browse()

    @api.model
    def _claim_event(self, source, event_id, kind):
        """True when this event is new (and now recorded); the unique index
        decides between two concurrent deliveries."""
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO emboux_outbound_event
                       (source, event_id, kind, create_uid, write_uid, create_date, write_date)
                VALUES (%(source)s, %(event_id)s, %(kind)s, %(uid)s, %(uid)s, %(now)s, %(now)s)
                ON CONFLICT (source, event_id) DO NOTHING
                RETURNING id
                """,
                source=source or "api",
                event_id=event_id[:255],
                kind=kind,
                uid=self.env.uid,
                now=fields.Datetime.now(),
            )
        )
        return bool(rows)
