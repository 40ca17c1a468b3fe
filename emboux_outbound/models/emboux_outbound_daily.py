"""Daily sending history: one row per domain and day with messages,
bounces and complaints. Written only by the daily reset (an upsert per
domain and day), kept HISTORY_KEEP_DAYS (400) days for the usage history
(portal, staff graph and pivot, GET .../outbound/history); spike detection
(the 7-day average) and the bounce and complaint rates (the reputation
window) read only the last HISTORY_DAYS (7) of it."""

from odoo import fields, models


class EmbouxOutboundDaily(models.Model):
    _name = "emboux.outbound.daily"
    _description = "Outbound daily history of a domain"
    _rec_name = "domain_id"
    _order = "day desc, domain_id"

    domain_id = fields.Many2one("emboux.domain", required=True, ondelete="cascade", readonly=True)
    # not stored: the daily reset inserts rows in SQL, and a domain moved to
    # another tenant takes its history along; Odoo groups by it through a join
    tenant_id = fields.Many2one(related="domain_id.tenant_id", string="Tenant")
    day = fields.Date(required=True, readonly=True, index=True)
    sent = fields.Integer(default=0, readonly=True)
    bounces = fields.Integer(default=0, readonly=True)
    complaints = fields.Integer(default=0, readonly=True)

    _domain_day_uniq = models.Constraint(
        "UNIQUE(domain_id, day)", "One history row per domain and day."
    )
