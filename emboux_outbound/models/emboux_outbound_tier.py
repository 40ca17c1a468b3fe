import re

from odoo import api, fields, models

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_core.tools import check_non_negative_int
from odoo.addons.emboux_core.unique import unique_key

# the limits of a tier, all non-negative whole numbers (0: no limit)
TIER_LIMIT_FIELDS = ("daily_limit", "monthly_limit")
_CODE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$")

# ir.config_parameter naming the code of the default tier of new domains
DEFAULT_TIER_PARAM = "emboux_outbound.default_tier"
DEFAULT_TIER_CODE = "free"


class EmbouxOutboundTier(models.Model):
    _name = "emboux.outbound.tier"
    _description = "Outbound sending tier"
    _order = "sequence, daily_limit, id"

    code = fields.Char(
        required=True,
        copy=False,
        help="Stable identifier, the API's outbound_tier: 1-32 lower-case letters, "
        "digits, '-' or '_'.",
    )
    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    daily_limit = fields.Integer(
        default=0, help="Messages a domain of this tier may send per day. 0 means no limit."
    )
    monthly_limit = fields.Integer(
        default=0,
        help="Messages a domain of this tier may send per calendar month. 0 means no limit.",
    )
    domain_count = fields.Integer(
        compute="_compute_domain_count",
        help="Domains with this tier of their own (subdomains that inherit it not counted).",
    )

    _code_uniq = models.Constraint("UNIQUE(code)", "This tier code already exists.")
    _daily_limit_positive = models.Constraint(
        "CHECK(daily_limit >= 0)", "The daily limit must not be negative."
    )
    _monthly_limit_positive = models.Constraint(
        "CHECK(monthly_limit >= 0)", "The monthly limit must not be negative."
    )

    def _compute_domain_count(self):
        counts = (
            dict(
                self.env["emboux.domain"]._read_group(
                    [("outbound_tier_id", "in", self.ids)], ["outbound_tier_id"], ["__count"]
                )
            )
            if self.ids
            else {}
        )
        for tier in self:
            tier.domain_count = counts.get(tier, 0)

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    @api.model
    def _prepare_vals(self, vals):
        """Normalise and validate ``vals`` in place (create and write);
        EmbouxInputError naming the field."""
        if "code" in vals:
            code = vals["code"]
            code = code.strip().lower() if isinstance(code, str) else ""
            if not _CODE_RE.match(code):
                raise EmbouxInputError(
                    "code",
                    self.env._(
                        "'%(code)s' is not a valid tier code (1-32 lower-case letters, "
                        "digits, '-' or '_')",
                        code=vals["code"],
                    ),
                )
            vals["code"] = code
        for fname in TIER_LIMIT_FIELDS:
            if fname in vals:
                value = vals[fname]
                vals[fname] = check_non_negative_int(0 if value in (None, False) else value, fname)
        return vals

    def _code_taken(self, codes):
        return EmbouxConflictError(
            "code", self.env._("The tier '%(code)s' already exists", code=", ".join(codes))
        )

    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self._prepare_vals(dict(vals)) for vals in vals_list]
        codes = [vals["code"] for vals in vals_list if vals.get("code")]
        with unique_key(self, "code", codes, self._code_taken):
            return super().create(vals_list)

    def write(self, vals):
        vals = self._prepare_vals(dict(vals))
        if vals.get("code"):
            if len(self) > 1:
                raise EmbouxConflictError(
                    "code", self.env._("Several tiers cannot get the same code")
                )
            with unique_key(self, "code", [vals["code"]], self._code_taken):
                return super().write(vals)
        return super().write(vals)

    def copy_data(self, default=None):
        default = dict(default or {})
        vals_list = super().copy_data(default=default)
        if "code" not in default:
            for tier, vals in zip(self, vals_list, strict=True):
                vals["code"] = f"{tier.code}-copy"[:32]
                vals["name"] = self.env._("%(name)s (copy)", name=tier.name)
        return vals_list

    # ------------------------------------------------------------------
    # lookups: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    @api.model
    def _find_by_code(self, code):
        """The tier with this code (any case), archived ones included, or
        an empty recordset."""
        if not isinstance(code, str) or not code.strip():
            return self.browse()
        return self.with_context(active_test=False).search(
            [("code", "=", code.strip().lower())], limit=1
        )

    @api.model
    def _resolve(self, tier):
        """A tier record from a record, an id or a code; EmbouxInputError
        ``outbound_tier`` when there is none."""
        if isinstance(tier, models.BaseModel):
            found = tier.exists()
        elif isinstance(tier, int) and not isinstance(tier, bool):
            found = self.browse(tier).exists()
        else:
            found = self._find_by_code(tier)
        if not found:
            raise EmbouxInputError(
                "outbound_tier",
                self.env._("Unknown tier '%(tier)s'", tier=tier),
            )
        return found

    @api.model
    def _default_tier(self):
        """The tier of a new domain: the active tier whose code the system
        parameter ``emboux_outbound.default_tier`` names, else ``free``,
        else none (read as superuser: customers create domains too)."""
        Tier = self.sudo()
        code = Tier.env["ir.config_parameter"].get_param(DEFAULT_TIER_PARAM) or ""
        for candidate in (code, DEFAULT_TIER_CODE):
            tier = Tier._find_by_code(candidate)
            if tier and tier.active:
                return tier.with_env(self.env)
        return self.browse()
