"""The customer portal's domain page, with the provider: the DNS records
to publish come from ``emboux.domain._dns_records_to_publish()`` (the
provider's DKIM and ownership records with the MX and SPF), the page shows
the verification, and a button starts it (self-service verify). The
page also shows the domain's sending usage (its counts against each limit
and the last 30 days), the domain list today's count against the daily
limit."""

from odoo import http
from odoo.http import request
from odoo.tools.translate import LazyTranslate

from odoo.addons.emboux_saas.controllers.portal import EmbouxCustomerPortal

_lt = LazyTranslate(__name__)

VERIFY_MESSAGES = {
    "verify_started": _lt("The verification was started at the mail provider."),
}


class EmbouxOutboundPortal(EmbouxCustomerPortal):
    def _emboux_domain_values(self, domain, **extra):
        values = super()._emboux_domain_values(domain, **extra)
        values["dns_records"] = domain._dns_records_to_publish()
        values["provider_status"] = status = domain._provider_status()
        # no provider anywhere: nothing to verify at, no button
        values["provider_can_verify"] = bool(
            status["provider"] or request.env["emboux.domain"]._default_provider()
        )
        values["provider_status_labels"] = self._emboux_provider_status_labels(status)
        # sending usage: the figures and the chart (emboux_outbound.outbound_usage)
        values.update(domain._outbound_usage_values())
        return values

    def _emboux_provider_status_labels(self, status):
        """The verify-status values as the customer reads them: the
        selections' labels in the user's language, not their keys."""
        domain_fields = request.env["emboux.domain"]._fields

        def label(field_name, value):
            if not value:
                return ""
            labels = dict(domain_fields[field_name]._description_selection(request.env))
            return labels.get(value, value)

        return {
            "provider": label("provider", status["provider"]),
            "status": label("verification_status", status["status"]),
            "dkim_status": label("dkim_status", status["dkim_status"]),
        }

    def _emboux_message(self, kw):
        if kw.get("msg") in VERIFY_MESSAGES:
            return str(VERIFY_MESSAGES[kw["msg"]])
        return super()._emboux_message(kw)

    @http.route(
        ["/my/domains/<int:domain_id>/verify"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_verify(self, domain_id, **post):
        domain = self._emboux_get("emboux.domain", domain_id)
        _result, error, field = self._emboux_write(domain.action_provider_verify)
        if error:
            values = self._emboux_domain_values(domain, error=error, error_field=field)
            return self._emboux_render("emboux_saas.portal_my_emboux_domain", values, status=422)
        return request.redirect(f"/my/domains/{domain.id}?msg=verify_started")
