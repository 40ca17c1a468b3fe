from collections import defaultdict

from odoo import api, fields, models

from ..access import check_master
from ..exceptions import EmbouxConflictError, EmbouxInputError
from ..tools import check_non_negative_int, normalize_domain
from ..unique import unique_key

# numeric settings of a domain, all non-negative whole numbers
DOMAIN_NUMBER_FIELDS = ("retention_days", "monthly_transfer_limit_mb", "transfer_used_mb")


class EmbouxDomain(models.Model):
    _name = "emboux.domain"
    _description = "Hosted mail domain"
    _rec_name = "name"
    _order = "name"

    name = fields.Char(
        required=True,
        index=False,  # the UNIQUE constraint below carries an index
        copy=False,
        help="Stored lower-case; internationalised names are stored in punycode.",
    )
    status = fields.Selection(
        [("active", "Active"), ("suspended", "Suspended")],
        default="active",
        required=True,
        readonly=True,
        copy=False,
        help="A suspended domain receives no mail (temporary failure) and its "
        "mailboxes cannot log in; every message and setting is kept.",
    )
    suspended_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    suspended_at = fields.Datetime(readonly=True, copy=False)
    activated_by_id = fields.Many2one(
        "res.users", string="Last Activated By", readonly=True, copy=False
    )
    activated_at = fields.Datetime(string="Last Activated At", readonly=True, copy=False)
    retention_days = fields.Integer(
        default=0, help="Messages older than this many days are purged. 0 keeps mail forever."
    )
    monthly_transfer_limit_mb = fields.Integer(
        string="Monthly Transfer Limit (MB)", default=0, help="0 means unlimited."
    )
    transfer_used_mb = fields.Integer(string="Transfer Used This Month (MB)", default=0)
    mailbox_ids = fields.One2many("emboux.mailbox", "domain_id", string="Mailboxes")
    alias_ids = fields.One2many("emboux.alias", "domain_id", string="Aliases")
    mailbox_count = fields.Integer(compute="_compute_counts")
    alias_count = fields.Integer(compute="_compute_counts")

    _name_uniq = models.Constraint("UNIQUE(name)", "This domain already exists.")
    _retention_days_positive = models.Constraint(
        "CHECK(retention_days >= 0)", "The retention period must not be negative."
    )
    _monthly_transfer_limit_mb_positive = models.Constraint(
        "CHECK(monthly_transfer_limit_mb >= 0)", "The monthly transfer limit must not be negative."
    )
    _transfer_used_mb_positive = models.Constraint(
        "CHECK(transfer_used_mb >= 0)", "The transfer used this month must not be negative."
    )

    # ------------------------------------------------------------------
    # computes
    # ------------------------------------------------------------------
    def _compute_counts(self):
        # batched over self (the records being read together, e.g. a page of
        # the API's list): one grouped query per model, then one assignment
        # per distinct pair of counts rather than one per domain
        ids = [id_ for id_ in self._ids if id_]  # not the new records of a form
        mailbox_counts, alias_counts = {}, {}
        if ids:
            mailbox_counts = {
                domain.id: count
                for domain, count in self.env["emboux.mailbox"]
                .with_context(active_test=False)
                ._read_group([("domain_id", "in", ids)], ["domain_id"], ["__count"])
            }
            alias_counts = {
                domain.id: count
                for domain, count in self.env["emboux.alias"]._read_group(
                    [("domain_id", "in", ids)], ["domain_id"], ["__count"]
                )
            }
        by_counts = defaultdict(list)
        for id_ in self._ids:
            by_counts[mailbox_counts.get(id_, 0), alias_counts.get(id_, 0)].append(id_)
        for (mailbox_count, alias_count), same in by_counts.items():
            domains = self.browse(same)
            domains.mailbox_count = mailbox_count
            domains.alias_count = alias_count

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    @api.model
    def _prepare_vals(self, vals):
        """Normalise and validate ``vals`` in place (create and write)."""
        if "name" in vals:
            vals["name"] = normalize_domain(vals["name"], field="name")
        for fname in DOMAIN_NUMBER_FIELDS:
            if fname in vals:
                value = vals[fname]
                vals[fname] = check_non_negative_int(0 if value in (None, False) else value, fname)
        return vals

    def _name_taken(self, names):
        return EmbouxConflictError(
            "name",
            self.env._("The domain '%(name)s' already exists", name=", ".join(names)),
        )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self._prepare_vals(dict(vals)) for vals in vals_list]
        names = [vals.get("name") for vals in vals_list if vals.get("name")]
        with unique_key(self, "name", names, self._name_taken):
            return super().create(vals_list)

    def write(self, vals):
        vals = self._prepare_vals(dict(vals))
        if "name" in vals:
            renamed = self.filtered(lambda d: d.name != vals["name"])
            if renamed:
                if len(self) > 1:
                    raise EmbouxConflictError(
                        "name", self.env._("Several domains cannot get the same name")
                    )
                if (
                    renamed.sudo().with_context(active_test=False).mailbox_ids
                    or renamed.sudo().alias_ids
                ):
                    raise EmbouxInputError(
                        "name",
                        self.env._(
                            "The domain '%(name)s' has mailboxes or aliases and cannot be renamed",
                            name=renamed.name,
                        ),
                    )
                with unique_key(self, "name", [vals["name"]], self._name_taken):
                    return super().write(vals)
        return super().write(vals)

    def unlink(self):
        # Through the ORM, so that overrides (quotas, counters) see them go.
        self.env["emboux.alias"].search([("domain_id", "in", self.ids)]).unlink()
        self.env["emboux.mailbox"].with_context(active_test=False).search(
            [("domain_id", "in", self.ids)]
        ).unlink()
        return super().unlink()

    # pylint: disable-next=method-required-super
    def copy(self, default=None):  # refused: nothing of the original to copy
        raise EmbouxInputError("name", self.env._("A domain cannot be duplicated."))

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def action_suspend(self):
        """Freeze delivery and logins; keep every message and setting.
        Records who and when; suspending a suspended domain changes nothing."""
        to_suspend = self.filtered(lambda d: d.status != "suspended")
        if to_suspend:
            to_suspend.write(
                {
                    "status": "suspended",
                    "suspended_by_id": self.env.user.id,
                    "suspended_at": fields.Datetime.now(),
                }
            )
        return True

    def action_activate(self):
        """Restore a suspended domain. Records who and when; activating an
        active domain changes nothing."""
        to_activate = self.filtered(lambda d: d.status != "active")
        if to_activate:
            to_activate.write(
                {
                    "status": "active",
                    "suspended_by_id": False,
                    "suspended_at": False,
                    "activated_by_id": self.env.user.id,
                    "activated_at": fields.Datetime.now(),
                }
            )
        return True

    def set_retention(self, days):
        """``days`` >= 0; ``None`` or 0 keeps mail forever. Master only."""
        check_master(self.env)
        days = check_non_negative_int(0 if days is None else days, "retention_days")
        self.write({"retention_days": days})
        return True

    def set_transfer_limit(self, mb):
        """Monthly transfer limit in MB; ``None`` or 0 means unlimited.
        Master only."""
        check_master(self.env)
        mb = check_non_negative_int(0 if mb is None else mb, "monthly_transfer_limit_mb")
        self.write({"monthly_transfer_limit_mb": mb})
        return True

    @api.model
    def _find_by_name(self, name, field="name"):
        """The domain called ``name`` (any case, Unicode or punycode), or an
        empty recordset. Raises EmbouxInputError naming ``field`` for an
        invalid name."""
        name = normalize_domain(name, field=field)
        return self.search([("name", "=", name)], limit=1)

    # ------------------------------------------------------------------
    # UI
    # ------------------------------------------------------------------
    def action_view_mailboxes(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("emboux_core.action_emboux_mailbox")
        action["domain"] = [("domain_id", "=", self.id)]
        action["context"] = {"default_domain_id": self.id}
        return action

    def action_view_aliases(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("emboux_core.action_emboux_alias")
        action["domain"] = [("domain_id", "=", self.id)]
        action["context"] = {"default_domain_id": self.id}
        return action
