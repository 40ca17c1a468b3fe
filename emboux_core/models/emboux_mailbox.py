from odoo import api, fields, models

from ..exceptions import EmbouxConflictError, EmbouxInputError
from ..tools import (
    check_non_negative_int,
    check_password_strength,
    get_config,
    hash_password,
    normalize_email,
    split_email,
)
from ..unique import unique_key

SMTP_PORT_STARTTLS = 587
SMTP_PORT_SSL = 465


class EmbouxMailbox(models.Model):
    _name = "emboux.mailbox"
    _description = "Mailbox"
    _rec_name = "email"
    _order = "email"

    email = fields.Char(
        required=True,
        copy=False,
        help="Stored lower-case; the domain part must be a hosted domain.",
    )
    local_part = fields.Char(compute="_compute_local_part", store=True)
    domain_id = fields.Many2one(
        "emboux.domain",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
        help="Set from the domain part of the address.",
    )
    name = fields.Char(string="Full Name", help="The display name of the mailbox owner.")
    password = fields.Char(
        compute="_compute_password",
        inverse="_inverse_password",
        copy=False,
        help="Write-only: hashed on save (SHA512-CRYPT), never stored or shown in clear.",
    )
    password_hash = fields.Char(copy=False, groups="base.group_system")
    quota_mb = fields.Integer(string="Storage Quota (MB)", default=1024, help="0 means unlimited.")
    active = fields.Boolean(default=True)
    catch_all = fields.Boolean(
        string="Catch-All",
        compute="_compute_catch_all",
        inverse="_inverse_catch_all",
        search="_search_catch_all",
        help="Receive the mail sent to unknown addresses of the domain "
        "(an alias '@domain' to this mailbox).",
    )
    # SMTP settings of an e-mail client / Odoo Outgoing Mail Server
    smtp_host = fields.Char(string="SMTP Host", compute="_compute_smtp")
    smtp_port_starttls = fields.Integer(string="STARTTLS Port", compute="_compute_smtp")
    smtp_port_ssl = fields.Integer(string="SSL/TLS Port", compute="_compute_smtp")
    smtp_user = fields.Char(string="SMTP Username", compute="_compute_smtp")

    _email_uniq = models.Constraint("UNIQUE(email)", "This mailbox already exists.")
    _quota_mb_positive = models.Constraint(
        "CHECK(quota_mb >= 0)", "The storage quota must not be negative."
    )

    # ------------------------------------------------------------------
    # computes
    # ------------------------------------------------------------------
    @api.depends("email")
    def _compute_local_part(self):
        for mailbox in self:
            mailbox.local_part = split_email(mailbox.email)[0] if mailbox.email else False

    def _compute_password(self):
        # never readable back
        self.password = False

    def _inverse_password(self):
        for mailbox in self:
            if mailbox.password:
                mailbox.sudo().password_hash = hash_password(
                    check_password_strength(mailbox.password)
                )
        # drop the clear value from the cache at once
        self.invalidate_recordset(["password"])

    @api.depends(
        "email", "domain_id.name", "domain_id.alias_ids.source", "domain_id.alias_ids.destination"
    )
    def _compute_catch_all(self):
        mailboxes = self.filtered(lambda m: m.id and m.email and m.domain_id)
        pairs = set()
        if mailboxes:
            aliases = (
                self.env["emboux.alias"]
                .sudo()
                .search(
                    [
                        ("catch_all", "=", True),
                        (
                            "source",
                            "in",
                            ["@" + name for name in mailboxes.domain_id.mapped("name")],
                        ),
                        ("destination", "in", mailboxes.mapped("email")),
                    ]
                )
            )
            pairs = {(alias.source, alias.destination) for alias in aliases}
        for mailbox in self:
            mailbox.catch_all = bool(
                mailbox.email
                and mailbox.domain_id
                and ("@" + mailbox.domain_id.name, mailbox.email) in pairs
            )

    def _inverse_catch_all(self):
        Alias = self.env["emboux.alias"]
        for mailbox in self:
            source = "@" + mailbox.domain_id.name
            existing = Alias.search([("source", "=", source), ("destination", "=", mailbox.email)])
            if mailbox.catch_all and not existing:
                Alias.upsert(source, mailbox.email)
            elif not mailbox.catch_all and existing:
                existing.unlink()

    def _search_catch_all(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        aliases = self.env["emboux.alias"].sudo().search([("catch_all", "=", True)])
        pairs = {(alias.source, alias.destination) for alias in aliases}
        candidates = self.with_context(active_test=False).search(
            [("email", "in", [alias.destination for alias in aliases])]
        )
        ids = [m.id for m in candidates if ("@" + m.domain_id.name, m.email) in pairs]
        positive = (operator == "=") == bool(value)
        return [("id", "in" if positive else "not in", ids)]

    @api.depends("domain_id.name", "email")
    def _compute_smtp(self):
        configured = get_config("emboux_smtp_host")
        for mailbox in self:
            mailbox.smtp_host = configured or (
                "mail." + mailbox.domain_id.name if mailbox.domain_id else False
            )
            mailbox.smtp_port_starttls = SMTP_PORT_STARTTLS
            mailbox.smtp_port_ssl = SMTP_PORT_SSL
            mailbox.smtp_user = mailbox.email

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    def _prepare_vals(self, vals):
        """Normalise and validate ``vals`` in place (create and write)."""
        if "email" in vals:
            email = normalize_email(vals["email"], field="email")
            domain = self._domain_of_email(email)
            if vals.get("domain_id") and vals["domain_id"] != domain.id:
                raise EmbouxInputError(
                    "email",
                    self.env._("'%(email)s' is not an address of the chosen domain", email=email),
                )
            vals["email"] = email
            vals["domain_id"] = domain.id
        elif "domain_id" in vals and any(m.domain_id.id != vals["domain_id"] for m in self):
            # the domain follows the address, never the other way round
            raise EmbouxInputError("domain_id", self.env._("The domain follows the e-mail address"))
        if "quota_mb" in vals:
            value = vals["quota_mb"]
            vals["quota_mb"] = check_non_negative_int(
                0 if value in (None, False) else value, "quota_mb"
            )
        if vals.get("password"):
            check_password_strength(vals["password"], field="password")
        return vals

    def _domain_of_email(self, email):
        """The hosted domain of a normalised address, or EmbouxInputError."""
        domain_name = split_email(email)[1]
        domain = self.env["emboux.domain"].sudo().search([("name", "=", domain_name)], limit=1)
        if not domain:
            raise EmbouxInputError(
                "email",
                self.env._(
                    "'%(email)s' is on an unknown domain '%(domain)s'; create the domain first",
                    email=email,
                    domain=domain_name,
                ),
            )
        return domain

    def _email_taken(self, emails):
        return EmbouxConflictError(
            "email",
            self.env._("The mailbox '%(email)s' already exists", email=", ".join(emails)),
        )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self._prepare_vals(dict(vals)) for vals in vals_list]
        for vals in vals_list:
            if not vals.get("password"):
                # required on create
                check_password_strength(vals.get("password"), field="password")
        emails = [vals["email"] for vals in vals_list if vals.get("email")]
        with unique_key(self, "email", emails, self._email_taken):
            return super().create(vals_list)

    def write(self, vals):
        vals = self._prepare_vals(dict(vals))
        if "email" in vals and any(m.email != vals["email"] for m in self):
            # the Maildir is named after the address: an address is for life
            raise EmbouxInputError(
                "email",
                self.env._("The address of a mailbox cannot be changed; create a new mailbox"),
            )
        return super().write(vals)

    def unlink(self):
        # aliases delivering to these mailboxes (their catch-all included)
        emails = [email for email in self.mapped("email") if email]
        if emails:
            self.env["emboux.alias"].search([("destination", "in", emails)]).unlink()
        return super().unlink()

    # pylint: disable-next=method-required-super
    def copy(self, default=None):  # refused: nothing of the original to copy
        raise EmbouxInputError("email", self.env._("A mailbox cannot be duplicated."))

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    def set_password(self, pw):
        """Hash and store a new password (at least 10 characters)."""
        check_password_strength(pw, field="password")
        self.write({"password": pw})
        return True

    def set_quota(self, mb):
        """Storage quota in MB, >= 0; ``None`` or 0 means unlimited."""
        mb = check_non_negative_int(0 if mb is None else mb, "quota_mb")
        self.write({"quota_mb": mb})
        return True

    @api.model
    def _find_by_email(self, email):
        """The mailbox (archived ones included) at ``email`` in any case, or
        an empty recordset. Raises EmbouxInputError for an invalid address."""
        email = normalize_email(email, field="email")
        return self.with_context(active_test=False).search([("email", "=", email)], limit=1)

    def action_create_mail_server(self):
        """Create (or find) the Odoo Outgoing Mail Server sending as this
        mailbox: SSL/TLS on port 465. The password is only known hashed, so
        the server is made without it and a notification says so."""
        self.ensure_one()
        MailServer = self.env["ir.mail_server"]
        server = MailServer.with_context(active_test=False).search(
            [("smtp_host", "=", self.smtp_host), ("smtp_user", "=", self.email)], limit=1
        )
        created = not server
        if created:
            server = MailServer.create(
                {
                    "name": self.email,
                    "smtp_host": self.smtp_host,
                    "smtp_port": SMTP_PORT_SSL,
                    "smtp_encryption": "ssl",
                    "smtp_authentication": "login",
                    "smtp_user": self.email,
                    "from_filter": self.email,
                }
            )
        if created:
            message = self.env._(
                "Outgoing mail server '%(name)s' created (%(host)s, SSL/TLS port %(port)s). "
                "The mailbox password is stored hashed only: enter it on the server before use.",
                name=server.name,
                host=server.smtp_host,
                port=SMTP_PORT_SSL,
            )
        else:
            message = self.env._(
                "An outgoing mail server for %(email)s already exists: '%(name)s'.",
                email=self.email,
                name=server.name,
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Outgoing Mail Server"),
                "message": message,
                "type": "warning" if created else "info",
                "sticky": created,
                "next": {
                    "type": "ir.actions.act_window",
                    "res_model": "ir.mail_server",
                    "res_id": server.id,
                    "views": [[False, "form"]],
                    "target": "current",
                },
            },
        }
