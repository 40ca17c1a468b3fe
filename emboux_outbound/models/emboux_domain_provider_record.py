from odoo import fields, models

RECORD_TYPES = [("MX", "MX"), ("SPF", "SPF"), ("TXT", "TXT"), ("DKIM", "DKIM")]
RRTYPES = [("MX", "MX"), ("TXT", "TXT"), ("CNAME", "CNAME")]


class EmbouxDomainProviderRecord(models.Model):
    """A DNS record the domain's provider asks for (DKIM key or CNAMEs,
    ownership TXT), as the provider last answered it. Replaced on each
    answer; MX and SPF are not stored (they follow from the configuration,
    see ``emboux.domain._dns_records_to_publish``)."""

    _name = "emboux.domain.provider.record"
    _description = "DNS record asked for by a mail provider"
    _order = "domain_id, sequence, id"

    domain_id = fields.Many2one("emboux.domain", required=True, index=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    provider = fields.Selection([("mailgun", "Mailgun"), ("ses", "Amazon SES")], required=True)
    type = fields.Selection(RECORD_TYPES, required=True, help="What the record is for.")
    rrtype = fields.Selection(RRTYPES, string="DNS Type", required=True, help="What to publish.")
    name = fields.Char(required=True)
    value = fields.Char(required=True)
    priority = fields.Integer()

    def _as_dict(self):
        return [
            {
                "type": rec.type,
                "rrtype": rec.rrtype,
                "name": rec.name,
                "value": rec.value,
                "priority": rec.priority or None,
            }
            for rec in self
        ]
