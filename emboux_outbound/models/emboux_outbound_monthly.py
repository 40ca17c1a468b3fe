"""Monthly sending history: one row per domain and month (its first day),
frozen by the monthly reset (an upsert per domain and month). Kept: it is
the record of what each domain sent, e.g. for billing."""

from odoo import fields, models


class EmbouxOutboundMonthly(models.Model):
    _name = "emboux.outbound.monthly"
    _description = "Outbound monthly history of a domain"
    _rec_name = "domain_id"
    _order = "month desc, domain_id"

    domain_id = fields.Many2one("emboux.domain", required=True, ondelete="cascade", readonly=True)
    month = fields.Date(required=True, readonly=True, help="First day of the month.")
    sent = fields.Integer(default=0, readonly=True)
    transfer_bytes = fields.Float(digits=(20, 0), default=0, readonly=True)

    _domain_month_uniq = models.Constraint(
        "UNIQUE(domain_id, month)", "One history row per domain and month."
    )
