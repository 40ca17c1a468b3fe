"""Postfix's policy requests, answered with the send decision.

``mailserver/policyd/emboux_policyd.py`` relays each request of Postfix's
policy delegation protocol (SMTPD_POLICY_README) to ``/emboux/policy``;
this model turns it into the action Postfix applies. It holds no rule of
its own: the suppression list and ``outbound_send_decision()`` decide, the
same code the REST API's ``/outbound/increment`` runs.

The policy service is wired on the submission services only
(mailserver/postfix/master.cf.notes), so every request is outbound mail of
a hosted domain, identified by its envelope sender:

- ``RCPT``: a suppressed recipient is refused on its own (the message goes
  on to the others; when every recipient is suppressed none is accepted).
- ``END-OF-MESSAGE``: the message is counted once per accepted recipient
  (``recipient_count``) with its size, or refused: 4xx for a limit (the
  client retries later), 5xx for a domain that may not send at all.
- Any other state, a null sender (bounces), or a request Postfix did not
  mean for us: ``DUNNO`` (no opinion).
"""

import logging

from odoo import api, models

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain, normalize_email

_logger = logging.getLogger(__name__)

DUNNO = "DUNNO"
# reason of the send decision -> (SMTP reply code, enhanced status, text)
REFUSALS = {
    "suspended": ("554", "5.7.1", "sending is suspended for {domain}"),
    "unverified": ("554", "5.7.1", "{domain} is not verified at its mail provider yet"),
    "paused": ("554", "5.7.1", "sending is paused for {domain}"),
    "guillotined": (
        "554",
        "5.7.1",
        "sending is stopped for {domain}: bounce or complaint rate too high",
    ),
    "suppressed": ("550", "5.7.1", "every recipient is on the suppression list"),
    "daily_limit": ("451", "4.7.1", "daily sending limit reached for {domain}"),
    "monthly_limit": ("451", "4.7.1", "monthly sending limit reached for {domain}"),
    "hourly_limit": ("451", "4.7.1", "hourly sending limit reached for {domain}"),
    "warmup_cap": ("451", "4.7.1", "warm-up cap of today reached for {domain}"),
    "spike": ("451", "4.7.1", "unusual sending volume for {domain}, try again later"),
    "transfer_limit": ("451", "4.7.1", "monthly transfer limit reached for {domain}"),
}
REFUSAL_DEFAULT = ("451", "4.7.1", "sending refused for {domain} ({reason})")


def _int(value, default=0):
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return default


class EmbouxOutboundPolicy(models.AbstractModel):
    _name = "emboux.outbound.policy"
    _description = "Postfix policy requests (outbound send decision)"

    @api.model
    def _postfix_action(self, attrs):
        """The action (``DUNNO``, ``550 5.7.1 ...``, ...) for one policy
        request ``attrs`` (Postfix's attribute names and string values)."""
        if not isinstance(attrs, dict) or attrs.get("request") != "smtpd_access_policy":
            return DUNNO
        state = (attrs.get("protocol_state") or "").upper()
        if state not in ("RCPT", "END-OF-MESSAGE"):
            return DUNNO
        sender = (attrs.get("sender") or "").strip()
        if not sender:
            return DUNNO
        try:
            domain_name = normalize_domain(sender.rpartition("@")[2], field="sender")
        except EmbouxInputError:
            return "554 5.7.1 Sender address rejected: not a valid domain"
        domain = self.env["emboux.domain"].sudo()._find_by_name(domain_name)
        if not domain:
            return f"554 5.7.1 Sender address rejected: {domain_name} is not hosted here"
        if state == "RCPT":
            return self._rcpt_action(attrs.get("recipient") or "")
        decision = domain.outbound_send_decision(
            count=max(1, _int(attrs.get("recipient_count"), 1)),
            recipients=[],
            size_bytes=_int(attrs.get("size")),
        )
        if decision["allowed"]:
            if decision["reason"]:
                # soft enforcement: allowed over a limit, and flagged
                _logger.info(
                    "policy: %s sent over its %s (soft enforcement), queue id %s",
                    domain.name,
                    decision["reason"],
                    attrs.get("queue_id") or "-",
                )
            return DUNNO
        code, status, text = REFUSALS.get(decision["reason"], REFUSAL_DEFAULT)
        return f"{code} {status} " + text.format(domain=domain.name, reason=decision["reason"])

    @api.model
    def _rcpt_action(self, recipient):
        try:
            email = normalize_email(recipient, field="recipient")
        except EmbouxInputError:
            return DUNNO  # Postfix's own checks answer a malformed address
        suppression = self.env["emboux.suppression"].sudo()
        if suppression._suppressed_among([email]):
            return f"550 5.7.1 <{email}>: recipient is on the suppression list"
        return DUNNO
