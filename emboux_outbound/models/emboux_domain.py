"""Outbound and verification settings of a domain, and their inheritance.

A subdomain linked to a wildcard parent (``parent_id``, emboux_saas) sends
with its parent's verification, outbound tier and enforcement. The
domain those come from is ``_inheritance_root()`` (emboux_saas): the top of
the chain of parents, else the domain itself. Two readings of the same rule:

- Python: the ``effective_*`` fields, ``inherited_from_id`` and
  ``verified_via_parent``. They are computed, **not stored**: every read
  resolves the chain again, so a change on a parent reaches its children at
  once, whichever way it was written (ORM, raw SQL, another worker), and a
  change on a parent never rewrites its children's rows (the hot rows of the
  send decision). Their dependencies (``parent_id`` and the parent's own
  effective fields, recursively) invalidate the cached values of every
  descendant in the same transaction.
- SQL: the view ``emboux_domain_effective_outbound`` (domain_id, tier_id,
  enforcement, verification_status, inherited_from), for the set-based and
  per-message readers (the send decision, searches). It walks the same chain
  with a recursive query per linked subdomain (LATERAL), so ``WHERE domain_id = X``
  costs a few index lookups. The tests check that both readings agree.
"""

from collections import defaultdict
import logging

import psycopg2

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_saas.models.emboux_domain import check_tenant_fields

_logger = logging.getLogger(__name__)

ENFORCEMENT_SELECTION = [
    ("hard", "Hard (refuse over a limit)"),
    ("soft", "Soft (allow and flag)"),
    ("off", "Off (only count)"),
]
OUTBOUND_STATUS_SELECTION = [
    ("active", "Active"),
    ("paused", "Paused"),
    ("guillotined", "Guillotined"),
]
PROVIDER_SELECTION = [("mailgun", "Mailgun"), ("ses", "Amazon SES")]
VERIFICATION_SELECTION = [
    ("not_started", "Not Started"),
    ("pending", "Pending"),
    ("verified", "Verified"),
    ("failed", "Failed"),
]

# the selection fields validated with an error naming the field
SELECTION_FIELDS = (
    "outbound_enforcement",
    "outbound_status",
    "provider",
    "verification_status",
    "dkim_status",
)
# what a subdomain inherits from its inheritance root
INHERITED_FIELDS = ("outbound_tier_id", "outbound_enforcement", "verification_status")

EFFECTIVE_OUTBOUND_VIEW = "emboux_domain_effective_outbound"
# One row per domain. A domain without a parent is its own root: the first
# branch reads it as it is, so a full walk (a search on an effective field)
# recurses only for the few linked subdomains. For those, ``up`` climbs the
# chain of parents (cycle-safe, as _inheritance_root); its last row is the
# root. ``WHERE domain_id = X`` reaches both branches through the primary key.
EFFECTIVE_OUTBOUND_QUERY = """
    SELECT d.id AS domain_id,
           d.outbound_tier_id AS tier_id,
           d.outbound_enforcement AS enforcement,
           d.verification_status AS verification_status,
           NULL::integer AS inherited_from
      FROM emboux_domain d
     WHERE d.parent_id IS NULL
    UNION ALL
    SELECT d.id,
           root.outbound_tier_id,
           root.outbound_enforcement,
           root.verification_status,
           NULLIF(root.id, d.id)
      FROM emboux_domain d
      CROSS JOIN LATERAL (
          WITH RECURSIVE up(id, parent_id, path) AS (
              SELECT d.id, d.parent_id, ARRAY[d.id]
              UNION ALL
              SELECT p.id, p.parent_id, up.path || p.id
                FROM up
                JOIN emboux_domain p ON p.id = up.parent_id
               WHERE NOT p.id = ANY(up.path)
          )
          SELECT up.id AS root_id FROM up ORDER BY cardinality(up.path) DESC LIMIT 1
      ) r
      JOIN emboux_domain root ON root.id = r.root_id
     WHERE d.parent_id IS NOT NULL
"""


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    # ------------------------------------------------------------------
    # own settings (staff and the master only)
    # ------------------------------------------------------------------
    outbound_tier_id = fields.Many2one(
        "emboux.outbound.tier",
        index=True,
        ondelete="restrict",
        default=lambda self: self.env["emboux.outbound.tier"]._default_tier(),
        tracking=10,
        help="Daily and monthly sending limits. A linked subdomain uses its parent's.",
    )
    outbound_enforcement = fields.Selection(
        ENFORCEMENT_SELECTION,
        string="Enforcement",
        required=True,
        default="hard",
        tracking=11,
        help="Hard refuses a message over a limit, soft allows it and flags it, off only "
        "counts. A linked subdomain uses its parent's.",
    )
    outbound_status = fields.Selection(
        OUTBOUND_STATUS_SELECTION,
        required=True,
        default="active",
        copy=False,
        tracking=12,
        help="Paused by staff, or guillotined for its bounce or complaint rate: the "
        "domain sends nothing. Its own, never inherited.",
    )
    provider = fields.Selection(
        PROVIDER_SELECTION,
        default=lambda self: self._default_provider(),
        tracking=20,
        help="The relay that signs and sends this domain's mail. Empty: none yet.",
    )
    verification_status = fields.Selection(
        VERIFICATION_SELECTION,
        string="Verification",
        required=True,
        default="not_started",
        copy=False,
        tracking=21,
        help="The domain's own verification at its provider. A linked subdomain is "
        "verified when its parent is.",
    )
    dkim_status = fields.Selection(
        VERIFICATION_SELECTION,
        string="DKIM",
        required=True,
        default="not_started",
        copy=False,
        tracking=22,
    )
    verified_at = fields.Datetime(
        compute="_compute_verified_at",
        store=True,
        readonly=True,
        copy=False,
        help="When the domain became verified; cleared when it stops being verified.",
    )

    # ------------------------------------------------------------------
    # effective settings (inheritance from the wildcard parent)
    # ------------------------------------------------------------------
    inherited_from_id = fields.Many2one(
        "emboux.domain",
        compute="_compute_effective_outbound",
        search="_search_inherited_from_id",
        recursive=True,
        compute_sudo=True,
        help="The parent whose verification, tier and enforcement this domain uses.",
    )
    effective_outbound_tier_id = fields.Many2one(
        "emboux.outbound.tier",
        string="Effective Tier",
        compute="_compute_effective_outbound",
        search="_search_effective_outbound_tier_id",
        recursive=True,
        compute_sudo=True,
    )
    effective_outbound_enforcement = fields.Selection(
        ENFORCEMENT_SELECTION,
        string="Effective Enforcement",
        compute="_compute_effective_outbound",
        search="_search_effective_outbound_enforcement",
        recursive=True,
        compute_sudo=True,
    )
    effective_verification_status = fields.Selection(
        VERIFICATION_SELECTION,
        string="Effective Verification",
        compute="_compute_effective_outbound",
        search="_search_effective_verification_status",
        recursive=True,
        compute_sudo=True,
    )
    verified_via_parent = fields.Boolean(
        string="Verified via Parent",
        compute="_compute_effective_outbound",
        search="_search_verified_via_parent",
        recursive=True,
        compute_sudo=True,
        help="A subdomain whose parent is verified: it sends with the parent's identity.",
    )

    @api.depends(
        "parent_id",
        *INHERITED_FIELDS,
        "parent_id.inherited_from_id",
        "parent_id.effective_outbound_tier_id",
        "parent_id.effective_outbound_enforcement",
        "parent_id.effective_verification_status",
    )
    def _compute_effective_outbound(self):
        for domain in self:
            # works on a form's new record too: its edited parent and values
            root = domain._inheritance_root()
            inherited = root != domain
            domain.inherited_from_id = root if inherited else False
            domain.effective_outbound_tier_id = root.outbound_tier_id
            domain.effective_outbound_enforcement = root.outbound_enforcement
            domain.effective_verification_status = root.verification_status
            domain.verified_via_parent = inherited and root.verification_status == "verified"

    @api.depends("verification_status")
    def _compute_verified_at(self):
        # becoming verified stamps the time, staying verified keeps it,
        # leaving verified clears it
        now = fields.Datetime.now()
        for domain in self:
            if domain.verification_status != "verified":
                domain.verified_at = False
            elif not domain.verified_at:
                domain.verified_at = now

    # ------------------------------------------------------------------
    # searches: through the SQL view, the same rule set-based
    # ------------------------------------------------------------------
    def _search_effective(self, column, values):
        """Domain matching the view's ``column`` in ``values`` (False: NULL)."""
        self.env["emboux.domain"].flush_model(["parent_id", *INHERITED_FIELDS])
        values = list(values)
        present = [v for v in values if v not in (False, None)]
        conditions = []
        if present:
            conditions.append(SQL("%s = ANY(%s)", SQL.identifier("e", column), present))
        if len(present) != len(values):
            conditions.append(SQL("%s IS NULL", SQL.identifier("e", column)))
        if not conditions:
            return [("id", "in", [])]
        return [
            (
                "id",
                "in",
                SQL(
                    "(SELECT e.domain_id FROM %s e WHERE %s)",
                    SQL.identifier(EFFECTIVE_OUTBOUND_VIEW),
                    SQL(" OR ").join(conditions),
                ),
            )
        ]

    def _search_effective_outbound_tier_id(self, operator, value):
        if operator != "in" or any(isinstance(v, str) for v in value):
            return NotImplemented
        return self._search_effective("tier_id", value)

    def _search_effective_outbound_enforcement(self, operator, value):
        if operator != "in":
            return NotImplemented
        return self._search_effective("enforcement", value)

    def _search_effective_verification_status(self, operator, value):
        if operator != "in":
            return NotImplemented
        return self._search_effective("verification_status", value)

    def _search_inherited_from_id(self, operator, value):
        if operator != "in" or any(isinstance(v, str) for v in value):
            return NotImplemented
        return self._search_effective("inherited_from", value)

    def _search_verified_via_parent(self, operator, value):
        if operator != "in":
            return NotImplemented
        self.env["emboux.domain"].flush_model(["parent_id", *INHERITED_FIELDS])
        via_parent = SQL(
            "(SELECT e.domain_id FROM %s e WHERE e.inherited_from IS NOT NULL"
            " AND e.verification_status = 'verified')",
            SQL.identifier(EFFECTIVE_OUTBOUND_VIEW),
        )
        wanted = {bool(v) for v in value}
        if wanted == {True, False}:
            return []
        if wanted == {True}:
            return [("id", "in", via_parent)]
        if wanted == {False}:
            return [("id", "not in", via_parent)]
        return [("id", "in", [])]

    # ------------------------------------------------------------------
    # the SQL view
    # ------------------------------------------------------------------
    def init(self):
        res = super().init()
        # The ORM always writes these; the database defaults keep a row
        # inserted in plain SQL (a script, an older addon's test) valid
        # under the NOT NULL of the required selections.
        for fname in (
            "outbound_enforcement",
            "outbound_status",
            "verification_status",
            "dkim_status",
        ):
            self.env.cr.execute(
                SQL(
                    "ALTER TABLE emboux_domain ALTER COLUMN %s SET DEFAULT %s",
                    SQL.identifier(fname),
                    self._fields[fname].default(self),
                )
            )
        self._create_effective_outbound_view()
        return res

    def _register_hook(self):
        super()._register_hook()
        # a later addon changing a column type drops dependent views
        # (odoo.tools.sql.drop_depending_views) without running our init()
        try:
            with self.env.cr.savepoint(flush=False):
                rows = self.env.execute_query(
                    SQL(
                        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind = 'v' AND c.relname = %s"
                        " AND n.nspname = current_schema()",
                        EFFECTIVE_OUTBOUND_VIEW,
                    )
                )
                if not rows and self._effective_outbound_columns_exist():
                    _logger.warning("View %s missing: recreating it", EFFECTIVE_OUTBOUND_VIEW)
                    self._create_effective_outbound_view()
        except psycopg2.Error:
            _logger.exception("Could not check the view %s", EFFECTIVE_OUTBOUND_VIEW)

    @api.model
    def _effective_outbound_columns_exist(self):
        rows = self.env.execute_query(
            SQL(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'emboux_domain'"
                " AND column_name IN %s",
                ("parent_id", *INHERITED_FIELDS),
            )
        )
        return rows[0][0] == 1 + len(INHERITED_FIELDS)

    @api.model
    def _create_effective_outbound_view(self):
        """(Re)create the view. CREATE OR REPLACE keeps views built on it
        (the send decision's); a changed column list drops and recreates it."""
        cr = self.env.cr
        query = SQL(
            "CREATE OR REPLACE VIEW %s AS %s",
            SQL.identifier(EFFECTIVE_OUTBOUND_VIEW),
            SQL(EFFECTIVE_OUTBOUND_QUERY),
        )
        try:
            with cr.savepoint(flush=False):
                cr.execute(query)
        except psycopg2.Error:
            cr.execute(SQL("DROP VIEW IF EXISTS %s", SQL.identifier(EFFECTIVE_OUTBOUND_VIEW)))
            cr.execute(query)

    def _read_effective_outbound_sql(self):
        """``{domain id: {"tier_id", "enforcement", "verification_status",
        "inherited_from"}}`` for these domains, read from the SQL view (after
        flushing pending writes): the set-based reading of the effective
        fields, for batch readers."""
        if not self.ids:
            return {}
        self.env["emboux.domain"].flush_model(["parent_id", *INHERITED_FIELDS])
        rows = self.env.execute_query_dict(
            SQL(
                "SELECT domain_id, tier_id, enforcement, verification_status, inherited_from"
                " FROM %s WHERE domain_id IN %s",
                SQL.identifier(EFFECTIVE_OUTBOUND_VIEW),
                tuple(self.ids),
            )
        )
        return {row.pop("domain_id"): row for row in rows}

    # ------------------------------------------------------------------
    # what a customer may set
    # ------------------------------------------------------------------
    @api.model
    def _tenant_fields(self, operation):
        # POST /domains/ takes "provider". Tier, enforcement, status and
        # verification stay staff/master-only.
        fields_ = super()._tenant_fields(operation)
        if operation == "create":
            fields_ = fields_ | {"provider"}
        return fields_

    # ------------------------------------------------------------------
    # validation and CRUD
    # ------------------------------------------------------------------
    @api.model
    def _prepare_vals(self, vals):
        vals = super()._prepare_vals(vals)
        for fname in SELECTION_FIELDS:
            if fname not in vals:
                continue
            value = vals[fname]
            allowed = [key for key, _label in self._fields[fname].selection]
            if value in (None, False, "") and not self._fields[fname].required:
                vals[fname] = False
            elif value not in allowed:
                raise EmbouxInputError(
                    fname,
                    self.env._(
                        "'%(value)s' is not one of %(allowed)s",
                        field=fname,
                        value=value,
                        allowed=", ".join(allowed),
                    ),
                )
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        """The addon's one ``create``: what follows from the values is in
        ``_prepare_create_vals`` (the provider set-up to do, emboux_saas
        calls it once owner and parent are known); here the rows beside
        the domain (its counter row) and the wake-up of the provider cron."""
        domains = super().create(vals_list)
        self.env["emboux.outbound.counter"]._ensure_rows(domains.ids)
        if any(domains.sudo().mapped("provider_setup_pending")):
            self._provider_trigger_sync()
        return domains

    def write(self, vals):
        """The addon's one ``write``. Each feature names the values that
        follow from ``vals`` for some of the records (a warm-up start, a
        fresh reputation window, a newly linked subdomain's provider set-up):
        the records are written once, in groups of the same values, and
        nothing re-enters ``write``."""
        vals = dict(vals)
        extras = defaultdict(dict)  # record id -> values of its own
        lifted = self._sending_prepare_write(vals, extras)
        provider_work = self._provider_prepare_write(vals, extras)
        if not extras:
            res = super().write(vals)
        else:
            groups = defaultdict(list)
            for domain in self:
                own = extras.get(domain.id, {})
                groups[tuple(sorted(own.items()))].append(domain.id)
            res = True
            for own, ids in groups.items():
                res = super(EmbouxDomain, self.browse(ids)).write({**vals, **dict(own)})
        if lifted:
            lifted._reset_reputation_counters()
        if provider_work:
            self._provider_trigger_sync()
        return res

    # ------------------------------------------------------------------
    # the form's buttons: a notification saying what happened
    # ------------------------------------------------------------------
    def _button_notification(self, title, message, kind="success"):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def set_outbound(self, tier=None, enforcement=None, status=None):
        """The master's part of ``PUT /domains/{name}/outbound``: set the
        tier (record, id or code), the enforcement and the status; None
        leaves a value as it is. A customer gets an AccessError naming the
        first field it gave (API: 403 master body); a bad value an
        EmbouxInputError naming ``outbound_tier``/``outbound_enforcement``/
        ``outbound_status`` (API: 422)."""
        given = {
            "outbound_tier_id": tier,
            "outbound_enforcement": enforcement,
            "outbound_status": status,
        }
        given = {key: value for key, value in given.items() if value is not None}
        if self.env["emboux.tenant"]._is_tenant_caller():
            check_tenant_fields(self, given, self._tenant_fields("write"))
        if "outbound_tier_id" in given:
            given["outbound_tier_id"] = self.env["emboux.outbound.tier"]._resolve(tier).id
        if given:
            self.write(given)
        return True

    def _set_verification(self, status, dkim_status=None):
        """Record the provider's answer (``status`` and, when given, the
        DKIM status); ``verified_at`` follows (computed). For the provider
        code, which runs as superuser on behalf of the customer's request."""
        vals = {"verification_status": status}
        if dkim_status is not None:
            vals["dkim_status"] = dkim_status
        self.write(vals)
        return True

    def _effective_outbound(self):
        """The effective outbound settings of one domain as plain values,
        for the API's Outbound and verify-status objects."""
        self.ensure_one()
        domain = self.sudo()
        root = domain._inheritance_root().sudo()
        return {
            "outbound_tier": domain.effective_outbound_tier_id.code or None,
            "daily_limit": domain.effective_outbound_tier_id.daily_limit,
            "monthly_limit": domain.effective_outbound_tier_id.monthly_limit,
            "outbound_enforcement": domain.effective_outbound_enforcement,
            "outbound_status": domain.outbound_status,
            "verification_status": domain.effective_verification_status,
            "verified_via_parent": domain.verified_via_parent,
            "dkim_status": root.dkim_status,
            "verified_at": root.verified_at,
            "provider": root.provider or None,
            "inherited_from": domain.inherited_from_id.name or None,
        }
