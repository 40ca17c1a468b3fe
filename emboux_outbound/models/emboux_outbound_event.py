"""Provider events (a Mailgun event id, an SES feedback id) already
processed by ``emboux.suppression._process_bounce_or_complaint``: a
webhook delivered twice counts once. The unique index decides between two
concurrent deliveries; rows older than 30 days go at the daily reset."""

from odoo import fields, models


class EmbouxOutboundEvent(models.Model):
    _name = "emboux.outbound.event"
    _description = "Processed bounce or complaint event"
    _rec_name = "event_id"
    _order = "id desc"

    source = fields.Char(required=True, readonly=True)
    event_id = fields.Char(required=True, readonly=True)
    kind = fields.Selection(
        [("bounce", "Bounce"), ("complaint", "Complaint")], required=True, readonly=True
    )

    _source_event_uniq = models.Constraint(
        "UNIQUE(source, event_id)", "This provider event was already processed."
    )
