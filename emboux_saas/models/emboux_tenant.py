from datetime import UTC, datetime
import logging
import re

import psycopg2

from odoo import Command, api, fields, models
from odoo.exceptions import ConcurrencyError, UserError
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import (
    CONCURRENCY_ERRORS,
    check_non_negative_int,
    quiet_concurrency_errors,
)
from odoo.addons.emboux_core.unique import check_unique, unique_key

from ..exceptions import EmbouxQuotaError

_logger = logging.getLogger(__name__)

PARTNER_REF_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The quotas of a tenant; 0 means unlimited for each of them.
QUOTA_FIELDS = ("max_domains", "max_mailboxes_per_domain", "max_aliases_per_mailbox")
TECHNICAL_LOGIN = "tenant-{ref}@emboux.invalid"


class EmbouxTenant(models.Model):
    """A customer of the hosting service: a partner with a ``partner_ref``,
    quotas, API keys and a technical portal user that its REST requests run
    as, so that record rules confine them to the tenant's data.

    Quotas are non-negative whole numbers; **0 means unlimited** (a client
    always reads a number). ``domains_used`` is an exact counter: it moves in
    the same transaction as every domain create, delete and transfer, by one
    SQL statement that also checks the quota, and it is reconciled with the
    real count whenever the server starts.
    """

    _name = "emboux.tenant"
    _inherit = "emboux.audit.mixin"
    _description = "Mail hosting tenant"
    _rec_name = "partner_ref"
    _rec_names_search = ("partner_ref", "name")
    _order = "partner_ref"

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        ondelete="restrict",
        index=False,  # the UNIQUE constraint carries the index
        help="The customer: a company, or a person without a parent company.",
    )
    name = fields.Char(related="partner_id.name", string="Name")
    partner_ref = fields.Char(
        string="Partner Reference",
        required=True,
        copy=False,
        tracking=1,
        help="The tenant's reference in the REST API: 1-64 letters, digits, dots, "
        "underscores or hyphens. Case matters.",
    )
    max_domains = fields.Integer(default=10, tracking=2, help="0 means unlimited.")
    max_mailboxes_per_domain = fields.Integer(
        string="Max Mailboxes per Domain", default=50, tracking=3, help="0 means unlimited."
    )
    max_aliases_per_mailbox = fields.Integer(
        string="Max Aliases per Mailbox",
        default=20,
        tracking=4,
        help="How many alias rows may deliver to one address. 0 means unlimited.",
    )
    domains_used = fields.Integer(
        readonly=True,
        copy=False,
        default=0,
        help="Exact count of the tenant's domains, kept in the same transaction as "
        "every create, delete and transfer, and reconciled at every server start.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="API User",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="Technical portal user (no password, cannot log in) that the "
        "tenant's REST requests run as, so record rules confine them.",
    )
    domain_ids = fields.One2many("emboux.domain", "tenant_id", string="Domains")
    api_key_ids = fields.One2many("emboux.api.key", "tenant_id", string="API Keys")
    mailbox_count = fields.Integer(compute="_compute_usage", string="Mailboxes")
    alias_count = fields.Integer(compute="_compute_usage", string="Aliases")
    active_key_count = fields.Integer(compute="_compute_usage", string="Active API Keys")
    domains_usage_display = fields.Char(compute="_compute_usage", string="Domains against Quota")

    _partner_uniq = models.Constraint("UNIQUE(partner_id)", "This customer is already a tenant.")
    _partner_ref_uniq = models.Constraint("UNIQUE(partner_ref)", "This reference is already used.")
    _max_domains_positive = models.Constraint(
        "CHECK(max_domains >= 0)", "The maximum number of domains must not be negative."
    )
    _max_mailboxes_positive = models.Constraint(
        "CHECK(max_mailboxes_per_domain >= 0)",
        "The maximum number of mailboxes per domain must not be negative.",
    )
    _max_aliases_positive = models.Constraint(
        "CHECK(max_aliases_per_mailbox >= 0)",
        "The maximum number of aliases per mailbox must not be negative.",
    )
    _domains_used_positive = models.Constraint(
        "CHECK(domains_used >= 0)", "The number of domains used must not be negative."
    )

    # ------------------------------------------------------------------
    # computes
    # ------------------------------------------------------------------
    def _compute_usage(self):
        tenants = self.filtered("id")
        partners = tenants.partner_id
        mailboxes = aliases = keys = {}
        if tenants:
            mailboxes = dict(
                self.env["emboux.mailbox"]
                .sudo()
                .with_context(active_test=False)
                ._read_group([("partner_id", "in", partners.ids)], ["partner_id"], ["__count"])
            )
            aliases = dict(
                self.env["emboux.alias"]
                .sudo()
                ._read_group([("partner_id", "in", partners.ids)], ["partner_id"], ["__count"])
            )
            keys = dict(
                self.env["emboux.api.key"]
                .sudo()
                ._read_group(
                    [("tenant_id", "in", tenants.ids)] + self.env["emboux.api.key"]._valid_domain(),
                    ["tenant_id"],
                    ["__count"],
                )
            )
        for tenant in self:
            partner = tenant.partner_id.sudo()
            tenant.mailbox_count = mailboxes.get(partner, 0)
            tenant.alias_count = aliases.get(partner, 0)
            tenant.active_key_count = keys.get(tenant.sudo(), 0) if tenant.id else 0
            tenant.domains_usage_display = f"{tenant.domains_used} / {tenant.max_domains or '∞'}"

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    @api.model
    def _normalize_ref(self, ref):
        """``ref`` stripped; 1-64 characters of ``[A-Za-z0-9._-]``, else
        EmbouxInputError naming ``partner_ref``."""
        value = ref.strip() if isinstance(ref, str) else ref
        if not isinstance(value, str) or not PARTNER_REF_RE.match(value):
            shown = str(ref)[:80]
            raise EmbouxInputError(
                "partner_ref",
                self.env._(
                    "'%(ref)s' is not valid (1-64 letters, digits, dots, underscores or hyphens)",
                    ref=shown,
                ),
            )
        return value

    def _prepare_vals(self, vals):
        if "partner_ref" in vals:
            vals["partner_ref"] = self._normalize_ref(vals["partner_ref"])
        for fname in QUOTA_FIELDS:
            if fname in vals:
                value = vals[fname]
                vals[fname] = check_non_negative_int(0 if value in (None, False) else value, fname)
        if vals.get("partner_id"):
            partner = self.env["res.partner"].sudo().browse(vals["partner_id"])
            if partner.commercial_partner_id != partner:
                # Record rules compare with the user's commercial partner.
                raise EmbouxInputError(
                    "partner_id",
                    self.env._(
                        "'%(name)s' belongs to '%(parent)s'; make the company the tenant",
                        name=partner.display_name,
                        parent=partner.commercial_partner_id.display_name,
                    ),
                )
        return vals

    def _ref_taken(self, refs):
        return EmbouxConflictError(
            "partner_ref", self.env._("'%(ref)s' is already used", ref=", ".join(refs))
        )

    def _partner_taken(self, partner_ids):
        return EmbouxConflictError("partner_id", self.env._("This customer is already a tenant"))

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self._prepare_vals(dict(vals)) for vals in vals_list]
        for vals in vals_list:
            vals.pop("domains_used", None)  # counted, never given
        refs = [vals.get("partner_ref") for vals in vals_list if vals.get("partner_ref")]
        partners = [vals.get("partner_id") for vals in vals_list if vals.get("partner_id")]
        check_unique(self, "partner_id", partners, self._partner_taken)
        with unique_key(self, "partner_ref", refs, self._ref_taken):
            tenants = super(EmbouxTenant, self._emboux_audit_creating()).create(vals_list)
            tenants = tenants.with_env(self.env)
        tenants._create_technical_users()
        return tenants

    def write(self, vals):
        vals = self._prepare_vals(dict(vals))
        # the counter moves only by the SQL of domain create, delete and transfer
        vals.pop("domains_used", None)
        if "partner_id" in vals and any(t.partner_id.id != vals["partner_id"] for t in self):
            raise EmbouxInputError(
                "partner_id", self.env._("The customer of a tenant cannot change")
            )
        if "partner_ref" in vals:
            if len(self) > 1:
                raise EmbouxConflictError(
                    "partner_ref",
                    self.env._("Several tenants cannot share a reference"),
                )
            with unique_key(self, "partner_ref", [vals["partner_ref"]], self._ref_taken):
                res = super().write(vals)
            for tenant in self.filtered("user_id"):
                tenant.user_id.sudo().login = TECHNICAL_LOGIN.format(ref=tenant.partner_ref)
            return res
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_owning_domains(self):
        if self.sudo().domain_ids:
            raise UserError(
                self.env._(
                    "A tenant that owns domains cannot be deleted; delete or transfer them first."
                )
            )

    def unlink(self):
        self.check_access("unlink")
        users = self.sudo().user_id
        partners = users.partner_id
        res = super().unlink()
        # the technical users go with their tenants (their login is freed)
        users.with_context(active_test=False).unlink()
        partners.filtered(lambda p: not p.with_context(active_test=False).user_ids).unlink()
        return res

    # pylint: disable-next=method-required-super
    def copy(self, default=None):  # refused: nothing of the original to copy
        raise UserError(self.env._("A tenant cannot be duplicated."))

    def _create_technical_users(self):
        """One share user per tenant, in ``base.group_portal``, without a
        password: REST requests of the tenant run as it. Its partner is a
        contact (type "other") of the tenant's partner, so its commercial
        partner is the tenant's and the portal record rules apply; it does
        not take the tenant partner's own place in "Grant portal access"."""
        portal = self.env.ref("base.group_portal")
        Users = self.env["res.users"].sudo().with_context(no_reset_password=True)
        for tenant in self.sudo():
            partner = (
                self.env["res.partner"]
                .sudo()
                .create(
                    {
                        "name": self.env._("%(name)s (API)", name=tenant.partner_id.name),
                        "parent_id": tenant.partner_id.id,
                        "type": "other",
                    }
                )
            )
            tenant.user_id = Users.create(
                {
                    "login": TECHNICAL_LOGIN.format(ref=tenant.partner_ref),
                    "partner_id": partner.id,
                    "group_ids": [Command.set([portal.id])],
                }
            )

    # ------------------------------------------------------------------
    # lookups
    # ------------------------------------------------------------------
    @api.model
    def _find_by_ref(self, ref):
        """The tenant of ``ref`` (stripped, exact case), or an empty
        recordset. EmbouxInputError for a malformed reference."""
        ref = self._normalize_ref(ref)
        return self.search([("partner_ref", "=", ref)], limit=1)

    @api.model
    def _get_or_create(self, partner_ref, name=None):
        """The tenant of ``partner_ref``, created with a new company partner
        (called ``name``, else the reference) when new (``POST /api-keys/``)."""
        ref = self._normalize_ref(partner_ref)
        tenant = self.search([("partner_ref", "=", ref)], limit=1)
        if tenant:
            return tenant
        self.check_access("create")
        partner = (
            self.env["res.partner"]
            .sudo()
            .create({"name": (name or "").strip() or ref, "is_company": True})
        )
        try:
            with self.env.cr.savepoint():
                return self.create({"partner_id": partner.id, "partner_ref": ref})
        except EmbouxConflictError:
            if self.sudo().search_count([("partner_ref", "=", ref)], limit=1):
                return self.search([("partner_ref", "=", ref)], limit=1)
            # made by a concurrent transaction after our snapshot: retry
            raise ConcurrencyError(f"tenant {ref} created concurrently") from None

    @api.model
    def _is_tenant_caller(self):
        """True when the environment acts for a customer (a portal user,
        the technical user of a tenant included) rather than for staff or
        the master; sudo never is."""
        return not self.env.su and self.env.user._is_portal()

    @api.model
    def _current_tenant(self):
        """The tenant the current user acts for: the one whose technical user
        it is, else (portal users) the tenant of its commercial partner.
        Empty for staff, the master and the public user."""
        user = self.env.user
        if not user._is_portal():
            return self.browse()
        Tenant = self.sudo()
        tenant = Tenant.search([("user_id", "=", user.id)], limit=1) or Tenant.search(
            [("partner_id", "=", user.commercial_partner_id.id)], limit=1
        )
        return tenant.with_env(self.env)

    @api.model
    def _resolve(self, tenant):
        """A tenant record from a record, an id or a ``partner_ref``;
        EmbouxInputError("partner_ref") when there is none."""
        if isinstance(tenant, models.BaseModel):
            return tenant.with_env(self.env)
        if isinstance(tenant, int) and not isinstance(tenant, bool):
            record = self.browse(tenant).exists()
        else:
            record = self._find_by_ref(tenant)
        if not record:
            raise EmbouxInputError(
                "partner_ref",
                self.env._("Unknown tenant '%(ref)s'", ref=tenant),
            )
        return record

    # ------------------------------------------------------------------
    # quotas and the domain counter
    # ------------------------------------------------------------------
    def set_quotas(self, **quotas):
        """``max_domains``, ``max_mailboxes_per_domain``,
        ``max_aliases_per_mailbox``: non-negative whole numbers, 0 meaning
        unlimited (``PUT /tenants/{partner_ref}``). Unknown keys refused."""
        check_master(self.env)
        unknown = set(quotas) - set(QUOTA_FIELDS)
        if unknown:
            field = min(unknown)
            raise EmbouxInputError(field, self.env._("Not a quota"))
        vals = {fname: check_non_negative_int(value, fname) for fname, value in quotas.items()}
        if vals:
            self.write(vals)
        return True

    def set_name(self, name):
        """Rename the tenant's customer (``PUT /tenants/{partner_ref}``):
        a manager only, a non-empty name."""
        check_master(self.env)
        self.ensure_one()
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            raise EmbouxInputError("name", self.env._("Must not be empty"))
        # a manager may rename any tenant's customer, contacts' rights aside
        self.sudo().partner_id.write({"name": name})
        return True

    def _quota_error(self, quota, limit, what):
        return EmbouxQuotaError(
            quota,
            self.env._(
                "The quota of %(limit)s %(what)s is reached for %(ref)s",
                limit=limit,
                what=what,
                ref=self.sudo().partner_ref,
            ),
        )

    def _take_domain_slots(self, count=1):
        """Take ``count`` domain slots in one statement that also checks
        ``max_domains``: the row lock it takes makes a parallel transaction
        wait, then re-check against the committed counter (or fail to
        serialize and be retried), so the last slot is never taken twice."""
        self.ensure_one()
        self.flush_model(["max_domains", "domains_used"])
        rows = self.env.execute_query(
            SQL(
                """UPDATE emboux_tenant
                      SET domains_used = domains_used + %(n)s
                    WHERE id = %(id)s
                      AND (max_domains = 0 OR domains_used + %(n)s <= max_domains)
                RETURNING domains_used""",
                n=count,
                id=self.id,
            )
        )
        self.invalidate_recordset(["domains_used"])
        if not rows:
            tenant = self.sudo()
            raise tenant._quota_error("max_domains", tenant.max_domains, self.env._("domains"))
        return rows[0][0]

    def _release_domain_slots(self, count=1):
        self.ensure_one()
        self.flush_model(["domains_used"])
        self.env.execute_query(
            SQL(
                "UPDATE emboux_tenant SET domains_used = GREATEST(domains_used - %s, 0) "
                "WHERE id = %s",
                count,
                self.id,
            )
        )
        self.invalidate_recordset(["domains_used"])

    @api.model
    def _lock_tenants(self, tenant_ids):
        """Row-lock tenants in id order (the one order every transfer uses,
        so two opposite transfers cannot deadlock)."""
        ids = sorted(set(tenant_ids))
        if ids:
            self.flush_model(["domains_used"])
            self.env.execute_query(
                SQL(
                    "SELECT id FROM emboux_tenant WHERE id IN %s ORDER BY id FOR NO KEY UPDATE",
                    tuple(ids),
                )
            )

    @api.model
    def _reconcile_domains_used(self):
        """Set every tenant's ``domains_used`` to the real count of its
        domains in one statement; returns how many tenants drifted."""
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                """UPDATE emboux_tenant t
                      SET domains_used = c.n
                     FROM (SELECT t2.id, count(d.id) AS n
                             FROM emboux_tenant t2
                        LEFT JOIN emboux_domain d ON d.tenant_id = t2.id
                         GROUP BY t2.id) c
                    WHERE c.id = t.id AND t.domains_used IS DISTINCT FROM c.n
                RETURNING t.id"""
            )
        )
        if rows:
            _logger.info("emboux_saas: reconciled domains_used of %s tenant(s)", len(rows))
            self.browse([r[0] for r in rows]).invalidate_recordset(["domains_used"])
        return len(rows)

    def _register_hook(self):
        super()._register_hook()
        # cure old drift at every server start. A concurrent change
        # makes this fail to serialize; that worker then simply skips it
        # (the next start reconciles): INFO, without Odoo's "bad query".
        try:
            with quiet_concurrency_errors(), self.env.cr.savepoint(flush=False):
                self._reconcile_domains_used()
        except CONCURRENCY_ERRORS as exc:
            _logger.info("emboux_saas: domains_used not reconciled at start (%s)", exc)
        except psycopg2.Error as exc:
            _logger.warning("emboux_saas: domains_used not reconciled at start: %s", exc)

    def _has_active_key(self):
        self.ensure_one()
        Key = self.env["emboux.api.key"].sudo()
        return bool(Key.search_count([("tenant_id", "=", self.id)] + Key._valid_domain(), limit=1))

    def _check_can_receive_domains(self):
        """A domain moves only to a tenant with an active API key (owner
        transfer): EmbouxConflictError naming ``partner_ref``."""
        self.ensure_one()
        if not self.sudo()._has_active_key():
            raise EmbouxConflictError(
                "partner_ref",
                self.env._(
                    "The tenant '%(ref)s' has no active API key; "
                    "give it a key before transferring domains to it",
                    ref=self.sudo().partner_ref,
                ),
            )

    # ------------------------------------------------------------------
    # usage and delta sync (GET /api-keys/{token}/usage)
    # ------------------------------------------------------------------
    @api.model
    def _server_time(self):
        """The time a client passes back as ``since`` to miss nothing.

        Rows carry ``write_date`` = the start time of the transaction that
        wrote them (Odoo's ``cr.now()``), which commits later. So the
        server time is the start of the oldest transaction still open on
        the database (ours included, so never after ``now()``): whatever
        commits after this answer was written by a transaction started at
        or after it, and ``write_date >= since`` finds it next time. The
        price is some rows sent twice, which a sync tolerates. Truncated
        down to the second (earlier is always safe)."""
        rows = self.env.execute_query(
            SQL(
                """SELECT date_trunc('second', LEAST(now(), COALESCE(
                              (SELECT min(xact_start) FROM pg_stat_activity
                                WHERE datname = current_database() AND xact_start IS NOT NULL),
                              now())) AT TIME ZONE 'UTC')"""
            )
        )
        return rows[0][0]

    @api.model
    def _parse_time(self, value, field="since"):
        """A naive UTC datetime from an ISO 8601 string or a datetime (an
        aware one is converted to UTC); None for an empty value."""
        if not value:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError as exc:
                raise EmbouxInputError(
                    field,
                    self.env._("'%(v)s' is not an ISO 8601 time", v=value[:40]),
                ) from exc
        elif not isinstance(value, datetime):
            raise EmbouxInputError(field, self.env._("An ISO 8601 time is required"))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def _usage(self, since=None):
        """Quotas, usage and, with ``since``, what changed at or after it.

        ``{"partner_ref", "name", "quotas": {...}, "usage": {"domains_used",
        "mailboxes", "aliases"}, "server_time"}`` plus, with ``since``,
        ``"changes": {"domains": emboux.domain, "users": emboux.mailbox,
        "aliases": emboux.alias, "deleted": [{"type", "key", "deleted_at"}
        (+ "destination" for an alias)]}``. The changed objects are
        recordsets in the caller's environment, for the caller's own
        serialisers. Pass the last ``server_time`` back as ``since``."""
        self.ensure_one()
        self.check_access("read")
        since = self._parse_time(since, "since")
        server_time = self._server_time()
        tenant = self.sudo()
        Mailbox = self.env["emboux.mailbox"].with_context(active_test=False)
        Alias = self.env["emboux.alias"]
        Domain = self.env["emboux.domain"].with_context(active_test=False)
        mine = [("partner_id", "=", tenant.partner_id.id)]
        result = {
            "partner_ref": tenant.partner_ref,
            "name": tenant.name,
            "quotas": {fname: tenant[fname] for fname in QUOTA_FIELDS},
            "usage": {
                "domains_used": tenant.domains_used,
                "mailboxes": Mailbox.sudo().search_count(mine),
                "aliases": Alias.sudo().search_count(mine),
            },
            "server_time": server_time,
        }
        if since is None:
            return result
        changed = [("write_date", ">=", since)]
        domains = Domain.search([("tenant_id", "=", tenant.id)] + changed)
        aliases = Alias.search(mine + changed)
        deleted = (
            self.env["emboux.deletion.log"]
            .sudo()
            .search(
                [("tenant_id", "=", tenant.id), ("deleted_at", ">=", since)], order="deleted_at, id"
            )
        )
        # a mailbox's catch_all flag lives in its catch-all alias
        catch_all_targets = set(aliases.filtered("catch_all").mapped("destination")) | {
            log.destination for log in deleted if log.type == "alias" and log.key.startswith("@")
        }
        users = Mailbox.search(
            mine + ["|", ("write_date", ">=", since), ("email", "in", list(catch_all_targets))]
        )
        result["changes"] = {
            "domains": domains,
            "users": users,
            "aliases": aliases,
            "deleted": [log._as_dict() for log in deleted],
        }
        return result

    # ------------------------------------------------------------------
    # staff UI
    # ------------------------------------------------------------------
    def action_generate_key(self):
        check_master(self.env)
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Generate API Key"),
            "res_model": "emboux.api.key.generate",
            "view_mode": "form",
            "target": "new",
            "context": {"default_tenant_id": self.id},
        }

    def action_grant_portal_access(self):
        """Open Odoo's portal access wizard on the tenant's partner and its
        contacts (the technical API user's contact left out)."""
        check_master(self.env)
        self.ensure_one()
        partner = self.partner_id.sudo()
        technical = self.sudo().user_id.partner_id
        contacts = (
            partner | partner.child_ids.filtered(lambda p: p.type in ("contact", "other"))
        ) - technical
        wizard = self.env["portal.wizard"].create({"partner_ids": [Command.set(contacts.ids)]})
        return wizard._action_open_modal()

    def action_view_domains(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("emboux_core.action_emboux_domain")
        action["domain"] = [("tenant_id", "=", self.id)]
        action["context"] = {"default_tenant_id": self.id}
        return action
