from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError

from ..exceptions import EmbouxConflictError, EmbouxInputError
from ..tools import normalize_email, split_email
from ..unique import unique_key


class EmbouxAlias(models.Model):
    _name = "emboux.alias"
    _description = "Mail alias"
    _rec_name = "source"
    _order = "source, destination"

    source = fields.Char(
        required=True,
        index=True,
        help="The address that receives mail, or '@domain' for a catch-all "
        "(mail to any unknown address of the domain).",
    )
    destination = fields.Char(
        required=True, index=True, help="Where the mail goes; may be an external address."
    )
    domain_id = fields.Many2one(
        "emboux.domain",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
        help="Set from the domain part of the source.",
    )
    catch_all = fields.Boolean(
        string="Catch-All", compute="_compute_catch_all", store=True, index=True
    )

    _source_destination_uniq = models.Constraint(
        "UNIQUE(source, destination)", "This alias already exists."
    )

    @api.depends("source")
    def _compute_catch_all(self):
        for alias in self:
            alias.catch_all = bool(alias.source and alias.source.startswith("@"))

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    @api.model
    def _normalize_pair(self, source, destination):
        """``(source, destination, domain)`` normalised and checked."""
        source = normalize_email(source, field="source", allow_catch_all=True)
        destination = normalize_email(destination, field="destination")
        if source == destination:
            raise EmbouxInputError(
                "destination",
                self.env._("An alias cannot deliver to itself (%(src)s)", src=source),
            )
        domain_name = split_email(source)[1]
        domain = self.env["emboux.domain"].sudo().search([("name", "=", domain_name)], limit=1)
        if not domain:
            raise EmbouxInputError(
                "source",
                self.env._(
                    "'%(src)s' is on an unknown domain '%(domain)s'; create the domain first",
                    src=source,
                    domain=domain_name,
                ),
            )
        return source, destination, domain

    def _prepare_vals(self, vals):
        if "source" in vals or "destination" in vals:
            if len(self) > 1:
                raise EmbouxInputError("source", self.env._("Change the aliases one at a time"))
            source = vals.get("source", self.source)
            destination = vals.get("destination", self.destination)
            source, destination, domain = self._normalize_pair(source, destination)
            if vals.get("domain_id") and vals["domain_id"] != domain.id:
                raise EmbouxInputError(
                    "source",
                    self.env._("'%(src)s' is not an address of the chosen domain", src=source),
                )
            vals.update(source=source, destination=destination, domain_id=domain.id)
        elif (
            "domain_id" in vals and self and any(a.domain_id.id != vals["domain_id"] for a in self)
        ):
            raise EmbouxInputError("domain_id", self.env._("The domain follows the alias source"))
        return vals

    def _pair_taken(self, pairs):
        return EmbouxConflictError(
            "source",
            self.env._(
                "The alias %(pairs)s already exists",
                pairs=", ".join(f"{source} -> {destination}" for source, destination in pairs),
            ),
        )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self.browse()._prepare_vals(dict(vals)) for vals in vals_list]
        pairs = [(vals.get("source"), vals.get("destination")) for vals in vals_list]
        with unique_key(self, ("source", "destination"), pairs, self._pair_taken):
            return super().create(vals_list)

    def write(self, vals):
        vals = self._prepare_vals(dict(vals))
        if "source" in vals:
            pair = (vals["source"], vals["destination"])
            if pair != (self.source, self.destination):
                with unique_key(self, ("source", "destination"), [pair], self._pair_taken):
                    return super().write(vals)
        return super().write(vals)

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    @api.model
    def upsert(self, source, destination):
        """Create the alias ``source -> destination`` unless it exists.
        Returns ``(alias, created)``; an existing pair is answered as is."""
        source, destination, _domain = self._normalize_pair(source, destination)
        domain = [("source", "=", source), ("destination", "=", destination)]
        existing = self.search(domain, limit=1)
        if existing:
            return existing, False
        try:
            return self.create({"source": source, "destination": destination}), True
        except EmbouxConflictError:
            # created meanwhile by another transaction (or invisible to us)
            existing = self.search(domain, limit=1)
            if existing:
                return existing, False
            if not self.sudo().search_count(domain, limit=1):
                # committed by a concurrent transaction after our snapshot
                # began: let Odoo retry the whole request, it will find it
                raise ConcurrencyError(
                    f"alias {source} -> {destination} created concurrently"
                ) from None
            raise

    @api.model
    def _find_by_source(self, source):
        """The aliases of ``source`` (an address or '@domain')."""
        source = normalize_email(source, field="source", allow_catch_all=True)
        return self.search([("source", "=", source)])
