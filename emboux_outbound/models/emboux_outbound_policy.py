"""Postfix's policy requests, answered with the send decision.

The policy service of the mail hosts (``mailserver/policyd``) asks
PostgreSQL directly: the SQL function ``emboux_policy_action``
(sql/send_decision.sql) turns one request of Postfix's policy delegation
protocol (SMTPD_POLICY_README) into the action Postfix applies, with the
suppression list and the send decision (``emboux_send_decision``, the one
``outbound_send_decision()`` and the REST API's ``/outbound/increment``
run). This model answers the same requests for ``/emboux/policy`` (policy
services that speak HTTP to Odoo) through that function.

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
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain, normalize_email

_logger = logging.getLogger(__name__)

DUNNO = "DUNNO"


def _int(value, default=0):
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return default


def _ascii_address(address, normalize):
    """``address`` with its domain part as the suite stores it (punycode)
    when ``normalize`` accepts it, else as given: the SQL function judges."""
    try:
        return normalize(address)
    except EmbouxInputError:
        return address


class EmbouxOutboundPolicy(models.AbstractModel):
    _name = "emboux.outbound.policy"
    _description = "Postfix policy requests (outbound send decision)"

    @api.model
    def _postfix_action(self, attrs):
        """The action (``DUNNO``, ``550 5.7.1 ...``, ...) for one policy
        request ``attrs`` (Postfix's attribute names and string values):
        the SQL function ``emboux_policy_action``, which the policy service
        of the mail hosts calls directly."""
        if not isinstance(attrs, dict) or attrs.get("request") != "smtpd_access_policy":
            return DUNNO
        sender = (attrs.get("sender") or "").strip()
        local, at, domain = sender.rpartition("@")
        if at:
            domain = _ascii_address(domain, normalize_domain)
            sender = f"{local}@{domain}"
        recipient = _ascii_address((attrs.get("recipient") or "").strip(), normalize_email)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT action, reason FROM emboux_policy_action(%s, %s, %s, %s, %s, %s)",
                attrs.get("protocol_state") or "",
                sender,
                recipient,
                max(1, _int(attrs.get("recipient_count"), 1)),
                _int(attrs.get("size")),
                _ascii_address((attrs.get("sasl_username") or "").strip(), normalize_email),
            ),
            log_exceptions=False,  # a serialization failure: Odoo retries
        )
        action, reason = self.env.cr.fetchone()
        self.env["emboux.domain"]._invalidate_outbound_state()
        self.env["emboux.outbound.counter"].invalidate_model()
        if reason and action == DUNNO:
            # soft enforcement: allowed over a limit, and flagged
            _logger.info(
                "policy: %s sent over its %s (soft enforcement), queue id %s",
                domain,
                reason,
                attrs.get("queue_id") or "-",
            )
        return action
