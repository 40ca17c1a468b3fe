"""Changing a domain's provider (``PUT /domains/{name}/provider``, the
staff form's buttons).

A verified domain moves: ``provider`` stays the one it sends through (the
relay credential, the SPF include, the DNS records, the verification all
stay) while ``provider_next`` is set up and verified. The identity there is
created after the commit (the polling cron, at once), the customer
publishes its records beside the old ones (``_dns_records_to_publish``
lists both while the move lasts), and once the new provider verifies the
domain (the cron, or ``GET .../verify-status``) it switches: ``provider``
becomes the new one, the old identity is removed after the commit and the
records to publish are the new provider's. A failure leaves the domain
sending through the old one, with the error in ``provider_next_error``.

A domain that sends through no provider yet (none, or not verified)
switches at once, and is set up at the new one as a new domain.
"""

import logging

from odoo import fields, models

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError

from ..providers import ProviderError, get_provider
from ..webhooks import sns
from .emboux_domain import PROVIDER_SELECTION, VERIFICATION_SELECTION
from .emboux_domain_provider import PROVIDER_ERROR_MAX, cleanup_provider_state

_logger = logging.getLogger(__name__)


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    provider_next = fields.Selection(
        PROVIDER_SELECTION,
        string="Moving To",
        readonly=True,
        copy=False,
        help="The provider this domain's identity moves to. The domain sends through "
        "its current provider until this one has verified it.",
    )
    provider_next_status = fields.Selection(
        VERIFICATION_SELECTION,
        string="Verification at the New Provider",
        readonly=True,
        copy=False,
    )
    provider_next_error = fields.Char(
        string="Provider Change Error",
        readonly=True,
        copy=False,
        help="Why the move has not gone through yet (the new provider failed or did not "
        "verify the domain). The domain keeps sending through its current provider.",
    )
    provider_next_requested_at = fields.Datetime(
        string="Provider Change Requested At", readonly=True, copy=False
    )

    # ------------------------------------------------------------------
    # business methods
    # ------------------------------------------------------------------
    def action_provider_change(self, provider):
        """``PUT /domains/{name}/provider``: move these domains' sending
        identity to ``provider`` (master only). A verified domain keeps
        sending through its current provider until the new one verified
        it; any other switches at once. The current provider again cancels
        a move; the same new provider again retries a failed one. An
        unknown provider is an EmbouxInputError naming ``provider``; a
        linked subdomain (it sends with its parent's identity) an
        EmbouxConflictError naming it. The provider work is done after the
        commit."""
        check_master(self.env)
        allowed = [key for key, _label in self._fields["provider"].selection]
        if not isinstance(provider, str) or provider not in allowed:
            raise EmbouxInputError(
                "provider",
                self.env._(
                    "'%(value)s' is not one of %(allowed)s",
                    value=provider,
                    allowed=", ".join(allowed),
                ),
            )
        for domain in self.sudo():
            domain._provider_change_to(provider)
        self._provider_trigger_sync()
        return True

    def _provider_change_to(self, code):
        self.ensure_one()
        root = self._inheritance_root()
        if root != self:
            raise EmbouxConflictError(
                "provider",
                self.env._(
                    "'%(name)s' sends with the identity of its parent %(parent)s; "
                    "change the parent's provider",
                    name=self.name,
                    parent=root.name,
                ),
            )
        if code == self.provider:
            self._provider_move_cancel()
        elif code == self.provider_next:
            # asked again: a move the new provider refused starts over (its
            # error stays shown until the new attempt's answer)
            if self.provider_next_status == "failed":
                self.write({"provider_next_status": "not_started"})
        elif self.provider and self.verification_status == "verified":
            self._provider_move_cancel()  # a move to a third one: its identity goes
            self.write(
                {
                    "provider_next": code,
                    "provider_next_status": "not_started",
                    "provider_next_error": False,
                    "provider_next_requested_at": fields.Datetime.now(),
                }
            )
        else:
            self._provider_switch(code)

    def _provider_move_cancel(self):
        """Give up the move: its identity at the new provider is removed
        after the commit, with its records."""
        self.ensure_one()
        code = self.provider_next
        if not code:
            return
        others = self.provider_record_ids.filtered(lambda r: r.provider == code)
        self.write(
            {
                "provider_next": False,
                "provider_next_status": False,
                "provider_next_error": False,
                "provider_next_requested_at": False,
                "provider_record_ids": [fields.Command.unlink(rec.id) for rec in others],
            }
        )
        items = [(self.name, "own", code)]
        self.env.cr.postcommit.add(lambda: cleanup_provider_state(items))

    def _provider_switch(self, code, dkim=None):
        """Make ``code`` this domain's provider. ``dkim`` given (the end of a
        move): its identity there is verified, with that DKIM status; else
        (a domain that sent through none) it is set up after the commit as a
        new domain's. The identities at the other providers are removed
        after the commit; the linked subdomains follow."""
        self.ensure_one()
        old_code = self.provider
        cleanup = [item for item in self._provider_identities() if item[2] != code]
        keep = code if dkim is not None else None
        stale = self.provider_record_ids.filtered(lambda r: r.provider != keep)
        provider = get_provider(code)
        vals = {
            "provider": code,
            "provider_next": False,
            "provider_next_status": False,
            "provider_next_error": False,
            "provider_next_requested_at": False,
            "provider_error": False,
            "smtp_login": False,
            "provider_record_ids": [fields.Command.unlink(rec.id) for rec in stale],
        }
        if not provider.notification_topics:
            vals["ses_notification_topic_arn"] = False
        if dkim is not None:
            vals.update(
                provider_identity="own",
                verification_status="verified",
                dkim_status=dkim,
                verified_at=fields.Datetime.now(),
                provider_setup_pending=False,
                provider_credential_pending=provider.per_domain_smtp_credentials,
            )
        else:
            vals.update(
                provider_identity=False,
                verification_status="pending",
                dkim_status="pending",
                provider_setup_pending=True,
                provider_credential_pending=False,
            )
        self.write(vals)
        self._store_smtp_password(False)
        self._provider_relink_children(old_code, code)
        if cleanup:
            self.env.cr.postcommit.add(lambda: cleanup_provider_state(cleanup))
        _logger.info("Provider of %s changed from %s to %s", self.name, old_code or "none", code)
        self._provider_trigger_sync()

    def _provider_relink_children(self, old_code, code):
        """The subdomains sending with this domain's identity follow it to
        ``code``: their registration at the old provider is removed after
        the commit, they are registered at the new one by the cron."""
        children = self.search([("id", "child_of", self.id), ("id", "!=", self.id)])
        moving = children.filtered(lambda c: c.provider in (False, old_code))
        if not moving:
            return
        cleanup = [
            (child.name, child.provider_identity, child.provider)
            for child in moving
            if child.provider_identity and child.provider
        ]
        stale = moving.provider_record_ids.filtered(lambda r: r.provider != code)
        stale.unlink()
        moving.write(
            {
                "provider": code,
                "provider_identity": False,
                "provider_error": False,
                "smtp_login": False,
                "provider_setup_pending": True,
                "provider_credential_pending": False,
            }
        )
        for child in moving:
            child._store_smtp_password(False)
        if cleanup:
            self.env.cr.postcommit.add(lambda: cleanup_provider_state(cleanup))

    # ------------------------------------------------------------------
    # the new provider: start, answers, polling
    # ------------------------------------------------------------------
    def _provider_move_plan(self):
        """Create (or reuse) the identity at the new provider and start its
        verification, with its SES feedback (the old identity keeps its own
        until the switch)."""
        self.ensure_one()
        plan = {"kind": "move", "code": self.provider_next, "name": self.name}
        topic = sns.notification_topic()
        if topic and getattr(get_provider(self.provider_next), "notification_topics", False):
            plan["topic"] = topic
        return plan

    def _provider_move_start(self):
        """Start the moves of these domains at their new provider now (the
        explicit verify)."""
        self._provider_run(
            [(domain, domain._provider_move_plan()) for domain in self.filtered("provider_next")]
        )

    def _provider_apply_move(self, plan, out):
        """The answer of the new provider to the start of the move."""
        self.ensure_one()
        if self.provider_next != plan["code"] or out.get("skipped"):
            return False
        now = fields.Datetime.now()
        if out.get("error"):
            self._provider_move_failed(out["error"])
            return False
        status = out["status"]
        vals = {
            "provider_next_status": status.verification,
            "provider_next_error": False,
            "provider_checked_at": now,
        }
        if out.get("topic_set"):
            vals["ses_notification_topic_arn"] = plan["topic"]
        elif out.get("topic_error"):
            vals["provider_next_error"] = str(out["topic_error"])[:PROVIDER_ERROR_MAX]
        self._provider_replace_records(status.records, plan["code"], vals)
        self.write(vals)
        self._provider_move_answered(status)
        return True

    def _provider_move_failed(self, error):
        _logger.warning(
            "Provider change of %s to %s failed: %s", self.name, self.provider_next, error
        )
        self.write(
            {
                "provider_next_error": str(error)[:PROVIDER_ERROR_MAX],
                "provider_checked_at": fields.Datetime.now(),
            }
        )

    def _provider_move_answered(self, status):
        """Verified at the new provider: switch. Failed there: say so, the
        domain keeps sending through its current provider."""
        if status.verification == "verified":
            self._provider_switch(self.provider_next, dkim=status.dkim)
        elif status.verification == "failed":
            providers = dict(self._fields["provider"]._description_selection(self.env))
            self._provider_move_failed(
                self.env._(
                    "%(provider)s did not verify the domain (check its DNS records); it keeps "
                    "sending through %(current)s",
                    provider=providers.get(self.provider_next, self.provider_next),
                    current=providers.get(self.provider, self.provider),
                )
            )

    def _provider_refresh_moves(self, providers=None):
        """Ask the new providers of these moving domains for their state
        (every call before any write); a domain whose identity there is
        missing is started again after the commit. Answers the domains
        that switched."""
        moving = self.filtered("provider_next")
        to_start = moving.filtered(lambda d: d.provider_next_status == "not_started")
        by_code = {}
        for domain in moving - to_start:
            by_code.setdefault(domain.provider_next, self.browse())
            by_code[domain.provider_next] |= domain
        answers = []
        for code, domains in by_code.items():
            provider = (providers or {}).get(code) or get_provider(code)
            try:
                answers.append((code, domains, provider.get_statuses(domains.mapped("name")), None))
            except ProviderError as exc:
                answers.append((code, domains, None, exc))
        switched = self.browse()
        for code, domains, statuses, error in answers:
            for domain in domains:
                status = statuses[domain.name] if statuses else None
                failure = error or (status and status.error)
                if failure:
                    domain._provider_move_failed(failure)
                    continue
                if not status.exists:
                    domain.write({"provider_next_status": "not_started"})
                    to_start |= domain
                    continue
                vals = {"provider_next_status": status.verification, "provider_next_error": False}
                domain._provider_replace_records(status.records, code, vals)
                domain.write(vals)
                domain._provider_move_answered(status)
                if domain.provider == code:
                    switched |= domain
        if to_start:
            self._provider_trigger_sync()
        return switched

    def _provider_change_info(self):
        """The answer of ``PUT /domains/{name}/provider``: the provider the
        domain sends through, its verification there, the move (new
        provider, its verification, its error) and the DNS records to
        publish."""
        self.ensure_one()
        domain = self.sudo()
        return {
            "domain": domain.name,
            "provider": domain.provider or None,
            "status": domain.verification_status,
            "dkim_status": domain.dkim_status,
            "verified_at": domain.verified_at or None,
            "provider_error": domain.provider_error or None,
            "next_provider": domain.provider_next or None,
            "next_status": domain.provider_next_status or None,
            "next_error": domain.provider_next_error or None,
            "records": self._dns_records_to_publish(),
        }

    # ------------------------------------------------------------------
    # the staff form's buttons
    # ------------------------------------------------------------------
    def button_provider_change(self):
        """Move to the provider the button names in its context
        (``emboux_provider``)."""
        self.ensure_one()
        self.action_provider_change(self.env.context.get("emboux_provider"))
        providers = dict(self._fields["provider"]._description_selection(self.env))
        if self.provider_next:
            return self._button_notification(
                self.env._("Provider change started"),
                self.env._(
                    "%(new)s sets up the domain now; it keeps sending through %(current)s until "
                    "%(new)s has verified it. Publish the new records below.",
                    new=providers.get(self.provider_next),
                    current=providers.get(self.provider),
                ),
            )
        return self._button_notification(
            self.env._("Provider changed"),
            self.env._(
                "%(new)s sets up the domain now, as a new one.",
                new=providers.get(self.provider),
            ),
        )

    def button_provider_change_cancel(self):
        self.ensure_one()
        self.action_provider_change(self.provider)
        return self._button_notification(
            self.env._("Provider change cancelled"),
            self.env._("The domain stays with its current provider."),
        )
