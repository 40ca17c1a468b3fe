from collections import Counter

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .emboux_domain import check_tenant_fields


class EmbouxAlias(models.Model):
    _inherit = "emboux.alias"

    partner_id = fields.Many2one(
        related="domain_id.partner_id", store=True, index=True, string="Customer"
    )
    tenant_id = fields.Many2one(related="domain_id.tenant_id", string="Tenant")

    @api.model
    def _tenant_fields(self, operation):
        """Fields a customer may give to ``create`` or ``write``."""
        return {"source", "destination", "domain_id"}

    @api.model
    def _normalize_pair(self, source, destination):
        source, destination, domain = super()._normalize_pair(source, destination)
        if self.env["emboux.tenant"]._is_tenant_caller() and not domain.with_env(
            self.env
        ).has_access("read"):
            raise EmbouxInputError(
                "source",
                self.env._(
                    "'%(src)s' is on an unknown domain '%(domain)s'; create the domain first",
                    src=source,
                    domain=domain.name,
                ),
            )
        return source, destination, domain

    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [dict(vals) for vals in vals_list]
        if self.env["emboux.tenant"]._is_tenant_caller():
            for vals in vals_list:
                check_tenant_fields(self, vals, self._tenant_fields("create"))
        new = []
        for vals in vals_list:
            if vals.get("source") and vals.get("destination"):
                _src, dst, domain = self._normalize_pair(vals["source"], vals["destination"])
                new.append((domain.id, dst))
        with self.env.cr.savepoint():
            self._check_alias_quota(new)
            return super().create(vals_list)

    def write(self, vals):
        if self.env["emboux.tenant"]._is_tenant_caller():
            check_tenant_fields(self, vals, self._tenant_fields("write"))
        if ("source" in vals or "destination" in vals) and len(self) == 1:
            _src, dst, domain = self._normalize_pair(
                vals.get("source", self.source), vals.get("destination", self.destination)
            )
            if dst != self.destination or domain != self.domain_id:
                with self.env.cr.savepoint():
                    self._check_alias_quota([(domain.id, dst)], exclude=self)
                    return super().write(vals)
        return super().write(vals)

    @api.model
    def _check_alias_quota(self, new, exclude=None):
        """``max_aliases_per_mailbox`` for ``[(source domain id,
        destination)]``: a tenant may have at most that many alias rows
        (catch-alls included) delivering to one address, counted over all
        its domains, under the tenant's quota lock."""
        if not new:
            return
        Domain = self.env["emboux.domain"].sudo()
        tenant_of = {d.id: d.tenant_id for d in Domain.browse({d for d, _dst in new})}
        wanted = Counter(
            (tenant_of[d].id, dst)
            for d, dst in new
            if tenant_of[d] and tenant_of[d].max_aliases_per_mailbox
        )
        if not wanted:
            return
        Domain._lock_tenant_quota([t for t, _dst in wanted])
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                """SELECT d.tenant_id, a.destination, count(*)
                     FROM emboux_alias a JOIN emboux_domain d ON d.id = a.domain_id
                    WHERE d.tenant_id IN %s AND a.destination IN %s AND a.id NOT IN %s
                 GROUP BY d.tenant_id, a.destination""",
                tuple({t for t, _dst in wanted}),
                tuple({dst for _t, dst in wanted}),
                tuple(exclude.ids if exclude else [0]),
            )
        )
        existing = {(t, dst): n for t, dst, n in rows}
        Tenant = self.env["emboux.tenant"].sudo()
        for (tenant_id, dst), count in wanted.items():
            tenant = Tenant.browse(tenant_id)
            limit = tenant.max_aliases_per_mailbox
            if existing.get((tenant_id, dst), 0) + count > limit:
                raise tenant._quota_error(
                    "max_aliases_per_mailbox", limit, self.env._("aliases to %(dst)s", dst=dst)
                )

    def unlink(self):
        if self:
            self.env.flush_all()
            self.env["emboux.deletion.log"]._log_rows(
                "alias", "emboux_alias", "source", self.ids, destination_column="destination"
            )
        return super().unlink()
