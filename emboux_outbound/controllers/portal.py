"""The customer portal's domain page, with the provider: the DNS records
to publish come from ``emboux.domain._dns_records_to_publish()`` (the
provider's DKIM and ownership records with the MX and SPF), the page shows
the verification, and a button starts it (self-service verify). The
page also shows the domain's sending usage (its counts against each limit
and the last 30 days), the domain list today's count against the daily
limit.

What a customer does here over REST too, through the same model methods:
the DNS check (``_dns_check``, GET /domains/{name}/dns-check), its own lower
daily and monthly caps (``set_outbound_settings``, PUT .../outbound) and a
subdomain of its wildcard parent (``create``, POST /domains/, then
``action_provider_register_subdomain``, .../register-subdomain: the
parent must be verified)."""

from odoo import http
from odoo.http import request
from odoo.tools.translate import LazyTranslate

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_saas.controllers.portal import EmbouxCustomerPortal

_lt = LazyTranslate(__name__)

VERIFY_MESSAGES = {
    "verify_started": _lt("The verification was started at the mail provider."),
    "limits_changed": _lt("The sending limits were changed."),
    "subdomain_added": _lt(
        "The subdomain was added: it is registered with its parent's identity in a moment, "
        "and sends with it from then on."
    ),
    "subdomain_registered": _lt(
        "The subdomain was registered with its parent's identity: it can send at once."
    ),
}

CAP_FIELDS = ("daily_limit", "monthly_limit")


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
        # the customer's own caps against the plan's limits, lowered by any
        # staff cap (display only: set_outbound_settings decides)
        values["outbound_caps"] = {
            "daily_limit": domain.outbound_daily_cap,
            "monthly_limit": domain.outbound_monthly_cap,
            "plan_daily_limit": domain._outbound_cap_ceiling("daily"),
            "plan_monthly_limit": domain._outbound_cap_ceiling("monthly"),
        }
        values.setdefault("dns_check", None)
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
        return self._emboux_domain_post(
            domain_id, lambda d: d.action_provider_verify(), "verify_started"
        )

    @http.route(
        ["/my/domains/<int:domain_id>/dns-check"],
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def portal_emboux_domain_dns_check(self, domain_id, **kw):
        """The domain page with each record to publish looked up in the DNS
        (read only: a GET, as GET /domains/{name}/dns-check)."""
        domain = self._emboux_get("emboux.domain", domain_id)
        return self._emboux_domain_page(domain, 200, dns_check=domain._dns_check())

    @http.route(
        ["/my/domains/<int:domain_id>/limits"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_domain_limits(self, domain_id, **post):
        form = {key: (post.get(key) or "").strip() for key in CAP_FIELDS}

        def set_caps(domain):
            # empty: no cap of its own (the API's null)
            values = {key: self._emboux_int(form[key], key) if form[key] else None for key in form}
            # the model takes a cap above the plan's limit as "no cap": here
            # the customer asked for more than it gets, which the page
            # refuses rather than silently granting less
            for key, period in (("daily_limit", "daily"), ("monthly_limit", "monthly")):
                ceiling = domain._outbound_cap_ceiling(period)
                if values[key] and ceiling and values[key] > ceiling:
                    raise EmbouxInputError(
                        key,
                        request.env._(
                            "%(value)s is above the limit of your plan (%(limit)s); "
                            "enter %(limit)s or less, or leave it empty for the plan's limit",
                            value=values[key],
                            limit=ceiling,
                        ),
                    )
            domain.set_outbound_settings(values)

        return self._emboux_domain_post(
            domain_id, set_caps, "limits_changed", form=form, form_name="limits"
        )

    @http.route(
        ["/my/domains/<int:domain_id>/subdomains"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_subdomain_create(self, domain_id, **post):
        """A subdomain of this wildcard parent, as POST /domains/ creates
        it: linked to the parent and registered with its identity by the
        provider cron right after the commit (no provider call here: the
        tenant's quota row is locked until the commit). Its page then has
        the explicit registration (POST .../register-subdomain)."""
        parent = self._emboux_get("emboux.domain", domain_id)
        label = (post.get("label") or "").strip().lower().removesuffix(".")

        def create():
            if not label:
                raise EmbouxInputError("label", request.env._("A subdomain name is required"))
            return request.env["emboux.domain"].create({"name": f"{label}.{parent.name}"})

        def refused(error, error_field):
            if error_field in ("name", "label", "max_domains"):
                error_field = "label"
            return self._emboux_domain_page(
                parent,
                error=error,
                error_field=error_field,
                form={"label": label},
                form_name="subdomain",
            )

        return self._emboux_post(
            create,
            lambda domain: request.redirect(f"/my/domains/{domain.id}?msg=subdomain_added"),
            refused,
        )

    @http.route(
        ["/my/domains/<int:domain_id>/register-subdomain"],
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )
    def portal_emboux_subdomain_register(self, domain_id, **post):
        """Register (again) a linked subdomain with its parent's identity."""
        return self._emboux_domain_post(
            domain_id, lambda d: d.action_provider_register_subdomain(), "subdomain_registered"
        )
