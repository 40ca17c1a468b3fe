from collections import Counter

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain


def ancestor_names(name):
    """The parent domains of ``name``, nearest first, of two labels at
    least: ``a.b.example.com`` -> ``b.example.com``, ``example.com``."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def check_tenant_fields(model, vals, allowed):
    """A customer (portal user, tenant API user) may set only ``allowed``;
    AccessError naming the first other field."""
    forbidden = sorted(set(vals) - set(allowed))
    if forbidden:
        field = model._fields.get(forbidden[0])
        raise AccessError(
            model.env._(
                "Only staff can set %(field)s on %(model)s",
                field=field.string if field else forbidden[0],
                model=model._description,
            )
        )


class EmbouxDomain(models.Model):
    _name = "emboux.domain"
    _inherit = ("emboux.domain", "emboux.audit.mixin")

    # the audit trail (emboux.audit.mixin) of emboux_core's fields
    name = fields.Char(tracking=1)
    status = fields.Selection(tracking=2)
    retention_days = fields.Integer(tracking=True)
    monthly_transfer_limit_mb = fields.Integer(tracking=True)

    tenant_id = fields.Many2one(
        "emboux.tenant",
        index=True,
        ondelete="restrict",
        copy=False,
        tracking=3,
        help="The customer owning the domain. Empty: the operator's own domain.",
    )
    partner_id = fields.Many2one(
        related="tenant_id.partner_id", store=True, index=True, string="Customer"
    )
    # tenant_id is tracked; a related field would copy its target's tracking
    partner_ref = fields.Char(
        related="tenant_id.partner_ref", string="Partner Reference", tracking=False
    )
    parent_id = fields.Many2one(
        "emboux.domain",
        string="Parent Domain",
        index=True,
        ondelete="set null",
        copy=False,
        tracking=True,
        help="The wildcard parent this subdomain inherits verification, outbound tier "
        "and enforcement from. Set automatically when the subdomain is created.",
    )
    child_ids = fields.One2many("emboux.domain", "parent_id", string="Subdomains")
    is_wildcard = fields.Boolean(
        string="Wildcard Parent",
        copy=False,
        tracking=True,
        help="New subdomains of this domain link to it and inherit its settings.",
    )

    # ------------------------------------------------------------------
    # what a customer may set (emboux_outbound and others extend these)
    # ------------------------------------------------------------------
    @api.model
    def _tenant_fields(self, operation):
        """Fields a customer may give to ``create`` or ``write``; every
        other one is refused with an AccessError naming it. Actions
        (suspend, activate) check their own rules."""
        if operation == "create":
            return {"name"}
        return set()

    # ------------------------------------------------------------------
    # wildcard parents
    # ------------------------------------------------------------------
    @api.model
    def _find_wildcard_parent(self, name):
        """The nearest existing ancestor of ``name`` that is a wildcard
        parent, or an empty recordset (sudo: ownership is checked apart)."""
        candidates = ancestor_names(name)
        if not candidates:
            return self.browse()
        parents = self.sudo().search([("name", "in", candidates), ("is_wildcard", "=", True)])
        by_name = {p.name: p for p in parents}
        return next((by_name[c] for c in candidates if c in by_name), self.sudo().browse())

    @api.model
    def _check_ancestors_owned(self, name, tenant):
        """A customer cannot create a subdomain of a domain it does not own
        (it would inherit that owner's verified identity)."""
        candidates = ancestor_names(name)
        if candidates and self.sudo().search_count(
            [("name", "in", candidates), ("tenant_id", "!=", tenant.id)], limit=1
        ):
            raise EmbouxConflictError(
                "name",
                self.env._(
                    "'%(name)s' is a subdomain of a domain hosted for someone else", name=name
                ),
            )

    def _inheritance_root(self):
        """The domain whose verification, outbound tier and enforcement
        apply to this one: the top of its chain of parents (a linked
        subdomain's wildcard parent, that one's own parent if any), else the
        domain itself. Read through ``sudo()`` when the caller may not read
        the parent (a parent linked by the master across customers)."""
        self.ensure_one()
        root = self.sudo()
        seen = set()
        while root.parent_id and root.parent_id.id not in seen:
            seen.add(root.id)
            root = root.parent_id
        return root.with_env(self.env)

    @api.model
    def _check_parent_name(self, name, parent):
        """A domain called ``name`` may link to ``parent`` only when it is a
        subdomain of it: EmbouxInputError naming ``parent`` otherwise."""
        if name and parent and not name.endswith("." + parent.name):
            raise EmbouxInputError(
                "parent",
                self.env._(
                    "'%(parent)s' is not a parent domain of '%(name)s'",
                    parent=parent.name,
                    name=name,
                ),
            )

    def set_parent(self, parent, wildcard=None):
        """``PUT /domains/{name}/parent``: link this domain to ``parent`` (a
        domain record or name; None/False unlinks it) and, when ``wildcard``
        is given, make this domain a wildcard parent or not. A new wildcard
        parent adopts its existing subdomains; one that stops being a
        wildcard parent lets them go (to the next wildcard ancestor).
        Master only."""
        check_master(self.env)
        self.ensure_one()
        if isinstance(parent, str):
            name = parent
            parent = self._find_by_name(name, field="parent")
            if not parent:
                raise EmbouxInputError("parent", self.env._("Unknown domain '%(name)s'", name=name))
        vals = {"parent_id": parent.id if parent else False}
        if wildcard is not None:
            vals["is_wildcard"] = bool(wildcard)
        self.write(vals)
        return True

    def _relink_subdomains(self):
        """Link every existing subdomain of these domains to its nearest
        wildcard parent (after ``is_wildcard`` changed on them)."""
        Domain = self.sudo()
        for domain in self:
            subs = Domain.search([("name", "=like", "%." + domain.name)])
            for sub in subs:
                current = sub.parent_id
                nearest = self._find_wildcard_parent(sub.name)
                # keep a link the master made to a nearer domain
                if current and current != domain and current.name.endswith("." + domain.name):
                    continue
                if current != nearest and (not current or current == domain or nearest):
                    sub.parent_id = nearest

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model
    def _prepare_create_vals(self, vals_list):
        """The values of new domains once their owner and parent are known
        and the customer's own fields checked: addons add what follows from
        them (emboux_outbound: the provider set-up to do), so that the row
        is inserted complete, without a second write."""
        return vals_list

    @api.model_create_multi
    def create(self, vals_list):
        Tenant = self.env["emboux.tenant"]
        vals_list = [dict(vals) for vals in vals_list]
        caller_tenant = Tenant.browse()
        if Tenant._is_tenant_caller():
            # a customer owns what it creates, whatever it sends
            caller_tenant = Tenant._current_tenant()
            if not caller_tenant:
                raise AccessError(self.env._("This user acts for no tenant."))
            allowed = self._tenant_fields("create")
            for vals in vals_list:
                vals.pop("tenant_id", None)
                vals.pop("partner_ref", None)
                check_tenant_fields(self, vals, allowed)
                vals["tenant_id"] = caller_tenant.id
        else:
            for vals in vals_list:
                if "partner_ref" in vals:
                    ref = vals.pop("partner_ref")
                    if ref:
                        vals["tenant_id"] = Tenant._resolve(ref).id
        for vals in vals_list:
            if vals.get("name"):
                vals["name"] = normalize_domain(vals["name"], field="name")
                if caller_tenant:
                    self._check_ancestors_owned(vals["name"], caller_tenant)
                if "parent_id" not in vals:
                    vals["parent_id"] = self._find_wildcard_parent(vals["name"]).id or False
            if vals.get("parent_id"):
                parent = self.sudo().browse(vals["parent_id"])
                self._check_parent_name(vals.get("name"), parent)
        vals_list = self._prepare_create_vals(vals_list)
        slots = Counter(vals["tenant_id"] for vals in vals_list if vals.get("tenant_id"))
        with self.env.cr.savepoint():
            for tenant_id in sorted(slots):
                Tenant.browse(tenant_id)._take_domain_slots(slots[tenant_id])
            domains = super(EmbouxDomain, self._emboux_audit_creating()).create(vals_list)
            domains = domains.with_env(self.env)
        wildcards = domains.filtered("is_wildcard")
        if wildcards:
            wildcards._relink_subdomains()
        return domains

    def write(self, vals):
        Tenant = self.env["emboux.tenant"]
        vals = dict(vals)
        if Tenant._is_tenant_caller():
            check_tenant_fields(self, vals, self._tenant_fields("write"))
        if "partner_ref" in vals:
            ref = vals.pop("partner_ref")
            vals["tenant_id"] = Tenant._resolve(ref).id if ref else False
        if vals.get("parent_id"):
            parent = self.sudo().browse(vals["parent_id"])
            for domain in self:
                self._check_parent_name(domain.name, parent)
        wildcard_changed = (
            self.filtered(lambda d: d.is_wildcard != bool(vals["is_wildcard"]))
            if "is_wildcard" in vals
            else self.browse()
        )
        if "tenant_id" in vals:
            new_tenant = Tenant.browse(vals["tenant_id"] or False)
            moving = self.filtered(lambda d: d.tenant_id != new_tenant)
            if moving and new_tenant:
                # the owner-transfer rule, for the API and the staff form alike
                new_tenant._check_can_receive_domains()
            if moving:
                with self.env.cr.savepoint():
                    moving._move_counters(new_tenant)
                    res = super().write(vals)
                    self.flush_recordset()
                if wildcard_changed:
                    wildcard_changed._relink_subdomains()
                return res
        res = super().write(vals)
        if wildcard_changed:
            wildcard_changed._relink_subdomains()
        return res

    def _move_counters(self, new_tenant):
        """Move these domains' slots to ``new_tenant`` (may be empty):
        lock every tenant involved in id order, take the new slots under
        ``max_domains``, give the old ones back, and log the domains, their
        mailboxes and aliases as deleted for their former tenant."""
        Tenant = self.env["emboux.tenant"]
        old = Counter(d.tenant_id.id for d in self.sudo() if d.tenant_id)
        Tenant._lock_tenants(list(old) + new_tenant.ids)
        if new_tenant:
            new_tenant._take_domain_slots(len(self))
        for tenant_id, count in old.items():
            Tenant.browse(tenant_id)._release_domain_slots(count)
        self._log_deleted(with_contents=True)

    def unlink(self):
        slots = Counter(d.tenant_id.id for d in self.sudo() if d.tenant_id)
        self._log_deleted()
        res = super().unlink()  # mailboxes and aliases log themselves
        Tenant = self.env["emboux.tenant"]
        for tenant_id in sorted(slots):
            Tenant.browse(tenant_id)._release_domain_slots(slots[tenant_id])
        return res

    def _log_deleted(self, with_contents=False):
        """Log these domains (and, for a transfer, their mailboxes and
        aliases) as deleted for their current tenant, set-based."""
        owned = self.sudo().filtered("tenant_id")
        if not owned:
            return
        self.env.flush_all()
        Log = self.env["emboux.deletion.log"]
        Log._log_rows("domain", "emboux_domain", "name", owned.ids)
        if with_contents:
            tenant = SQL("(SELECT d.tenant_id FROM emboux_domain d WHERE d.id = r.domain_id)")
            mailboxes = (
                self.env["emboux.mailbox"]
                .sudo()
                .with_context(active_test=False)
                .search([("domain_id", "in", owned.ids)])
            )
            aliases = self.env["emboux.alias"].sudo().search([("domain_id", "in", owned.ids)])
            Log._log_rows("user", "emboux_mailbox", "email", mailboxes.ids, tenant_sql=tenant)
            Log._log_rows(
                "alias",
                "emboux_alias",
                "source",
                aliases.ids,
                destination_column="destination",
                tenant_sql=tenant,
            )

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def action_transfer_owner(self, tenant):
        """``PUT /domains/{name}/owner``: give these domains, with
        their mailboxes and aliases, to ``tenant`` (record, id or
        partner_ref) atomically: both counters move in the same
        transaction, the target's ``max_domains`` holds, and a target
        without an active API key is refused (EmbouxConflictError). Master
        only."""
        check_master(self.env)
        target = self.env["emboux.tenant"]._resolve(tenant)
        self.write({"tenant_id": target.id})  # write() applies the transfer rule
        return True

    def action_suspend(self):
        if self.env["emboux.tenant"]._is_tenant_caller():
            # the status fields are not the customer's to write directly
            self.check_access("write")
            return super(EmbouxDomain, self.sudo()).action_suspend()
        return super().action_suspend()

    def action_activate(self):
        """A customer may activate what it suspended itself, not a domain
        that staff or the master suspended (AccessError)."""
        if self.env["emboux.tenant"]._is_tenant_caller():
            self.check_access("write")
            for domain in self.sudo().filtered(lambda d: d.status == "suspended"):
                if not (domain.suspended_by_id and domain.suspended_by_id._is_portal()):
                    raise AccessError(
                        self.env._(
                            "'%(name)s' was suspended by the provider; only staff can activate it",
                            name=domain.name,
                        )
                    )
            return super(EmbouxDomain, self.sudo()).action_activate()
        return super().action_activate()

    @api.model
    def _lock_tenant_quota(self, tenant_ids):
        """Serialise the per-domain and per-mailbox quota checks of these
        tenants: touch their rows (in id order). Under Odoo's REPEATABLE
        READ a mere ``SELECT ... FOR UPDATE`` would wait but then count with
        the old snapshot; touching the row makes the later transaction fail
        to serialize instead, and Odoo retries it with a fresh snapshot that
        sees the other's rows. Every quota-counted insert of a tenant passes
        here, so the count under the lock is exact."""
        ids = sorted(set(filter(None, tenant_ids)))
        if ids:
            self.env["emboux.tenant"].flush_model(["domains_used"])
            self.env.execute_query(
                SQL(
                    """UPDATE emboux_tenant SET domains_used = domains_used
                        WHERE id IN (SELECT id FROM emboux_tenant WHERE id IN %s
                                     ORDER BY id FOR NO KEY UPDATE)""",
                    tuple(ids),
                )
            )
