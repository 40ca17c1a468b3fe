from odoo import api, fields, models
from odoo.tools import SQL

# the objects a delta sync reports as deleted, as the API contract names them
DELETION_TYPES = [("domain", "Domain"), ("user", "Mailbox"), ("alias", "Alias")]


class EmbouxDeletionLog(models.Model):
    """What was deleted, for the delta sync of ``GET /api-keys/{token}/usage``.
    Rows are written by set-based INSERT ... SELECT in the same transaction
    as the deletion (a rolled back deletion leaves no row). A domain that
    moves to another tenant is logged as deleted for its former tenant."""

    _name = "emboux.deletion.log"
    _description = "Emboux deletion log"
    _order = "deleted_at desc, id desc"
    _log_access = False

    type = fields.Selection(DELETION_TYPES, required=True, readonly=True)
    key = fields.Char(
        required=True, readonly=True, help="Domain name, mailbox address or alias source."
    )
    destination = fields.Char(readonly=True, help="The destination of a deleted alias row.")
    tenant_id = fields.Many2one("emboux.tenant", ondelete="cascade", index=True, readonly=True)
    partner_id = fields.Many2one("res.partner", ondelete="set null", readonly=True)
    deleted_at = fields.Datetime(
        required=True,
        readonly=True,
        index=True,
        help="The start time of the deleting transaction, like write_date.",
    )

    def _as_dict(self):
        self.ensure_one()
        entry = {"type": self.type, "key": self.key, "deleted_at": self.deleted_at}
        if self.type == "alias":
            entry["destination"] = self.destination
        return entry

    @api.model
    def _log_rows(self, log_type, table, key_column, ids, destination_column=None, tenant_sql=None):
        """Log the rows ``ids`` of ``table`` (still present) as deleted, in
        one statement. ``tenant_sql`` gives the tenant per row (default: the
        row's own domain's tenant through ``domain_id``, or ``tenant_id``)."""
        if not ids:
            return
        table_sql = SQL.identifier(table)
        if tenant_sql is None:
            if table == "emboux_domain":
                tenant_sql = SQL("r.tenant_id")
            else:
                tenant_sql = SQL(
                    "(SELECT d.tenant_id FROM emboux_domain d WHERE d.id = r.domain_id)"
                )
        self.env.execute_query(
            SQL(
                """INSERT INTO emboux_deletion_log
                          (type, key, destination, tenant_id, partner_id, deleted_at)
                   SELECT %(type)s, r.%(key)s, %(dest)s, t.id, t.partner_id,
                          date_trunc('second', now() AT TIME ZONE 'UTC')
                     FROM %(table)s r
                     JOIN emboux_tenant t ON t.id = %(tenant)s
                    WHERE r.id IN %(ids)s""",
                type=log_type,
                key=SQL.identifier(key_column),
                dest=SQL("r.%s", SQL.identifier(destination_column))
                if destination_column
                else SQL("NULL"),
                table=table_sql,
                tenant=tenant_sql,
                ids=tuple(ids),
            )
        )
