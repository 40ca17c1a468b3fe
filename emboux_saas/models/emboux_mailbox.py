from collections import Counter

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .emboux_domain import check_tenant_fields


class EmbouxMailbox(models.Model):
    _name = "emboux.mailbox"
    _inherit = ("emboux.mailbox", "emboux.audit.mixin")

    # the audit trail (emboux.audit.mixin) of emboux_core's fields
    email = fields.Char(tracking=1)
    name = fields.Char(tracking=2)
    active = fields.Boolean(tracking=3)
    quota_mb = fields.Integer(tracking=4)
    # "Messages" is the chatter's (message_ids) now
    used_messages = fields.Integer(string="Stored Messages")

    partner_id = fields.Many2one(
        related="domain_id.partner_id", store=True, index=True, string="Customer"
    )
    # tracked on the domain; a related field would copy its tracking
    tenant_id = fields.Many2one(related="domain_id.tenant_id", string="Tenant", tracking=False)

    @api.model
    def _tenant_fields(self, operation):
        """Fields a customer may give to ``create`` or ``write``."""
        return {"email", "domain_id", "name", "password", "quota_mb", "active", "catch_all"}

    def _domain_of_email(self, email):
        domain = super()._domain_of_email(email)
        if self.env["emboux.tenant"]._is_tenant_caller() and not domain.with_env(
            self.env
        ).has_access("read"):
            # another tenant's domain is unknown to this caller
            raise EmbouxInputError(
                "email",
                self.env._(
                    "'%(email)s' is on an unknown domain '%(domain)s'; create the domain first",
                    email=email,
                    domain=domain.name,
                ),
            )
        return domain

    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [dict(vals) for vals in vals_list]
        if self.env["emboux.tenant"]._is_tenant_caller():
            for vals in vals_list:
                check_tenant_fields(self, vals, self._tenant_fields("create"))
        domain_ids = []
        for vals in vals_list:
            if vals.get("email"):
                domain_ids.append(self._prepare_vals({"email": vals["email"]})["domain_id"])
            elif vals.get("domain_id"):
                domain_ids.append(vals["domain_id"])
        with self.env.cr.savepoint():
            self._check_mailbox_quota(Counter(domain_ids))
            mailboxes = super(EmbouxMailbox, self._emboux_audit_creating()).create(vals_list)
            return mailboxes.with_env(self.env)

    def write(self, vals):
        if self.env["emboux.tenant"]._is_tenant_caller():
            check_tenant_fields(self, vals, self._tenant_fields("write"))
        return super().write(vals)

    @api.model
    def _check_mailbox_quota(self, new_per_domain):
        """``max_mailboxes_per_domain`` for ``{domain id: mailboxes to add}``,
        archived mailboxes counted, under the tenants' quota lock."""
        if not new_per_domain:
            return
        domains = (
            self.env["emboux.domain"].sudo().browse(list(new_per_domain)).filtered("tenant_id")
        )
        if not domains:
            return
        self.env["emboux.domain"]._lock_tenant_quota(domains.tenant_id.ids)
        self.env.flush_all()
        counts = dict(
            self.env.execute_query(
                SQL(
                    "SELECT domain_id, count(*) FROM emboux_mailbox "
                    "WHERE domain_id IN %s GROUP BY domain_id",
                    tuple(domains.ids),
                )
            )
        )
        for domain in domains:
            limit = domain.tenant_id.max_mailboxes_per_domain
            if limit and counts.get(domain.id, 0) + new_per_domain[domain.id] > limit:
                raise domain.tenant_id._quota_error(
                    "max_mailboxes_per_domain",
                    limit,
                    self.env._("mailboxes on %(domain)s", domain=domain.name),
                )

    def unlink(self):
        if self:
            self.env.flush_all()
            self.env["emboux.deletion.log"]._log_rows("user", "emboux_mailbox", "email", self.ids)
        return super().unlink()
