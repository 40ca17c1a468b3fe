import hashlib
import hmac
import logging
import secrets

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master, is_master
from odoo.addons.emboux_core.exceptions import EmbouxInputError

_logger = logging.getLogger(__name__)

TOKEN_PREFIX = "emb_"
TOKEN_BYTES = 32
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is written at most this often per key
LAST_USED_RESOLUTION = "1 minute"


def hash_token(token):
    """sha256 hex of the token. A token carries 256 random bits, so a fast
    hash is right: there is nothing to brute-force, unlike a password, and
    every request can afford to hash it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class EmbouxApiKey(models.Model):
    """A customer API key. Only its sha256 is stored; the token is shown once,
    when generated. Several per tenant; each may expire and be revoked."""

    _name = "emboux.api.key"
    _inherit = "emboux.audit.mixin"
    _description = "Emboux API key"
    _order = "create_date desc, id desc"

    tenant_id = fields.Many2one(
        "emboux.tenant",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
    )
    partner_id = fields.Many2one(
        related="tenant_id.partner_id", store=True, index=True, string="Customer"
    )
    # tracked on the tenant; a related field would copy its tracking
    partner_ref = fields.Char(related="tenant_id.partner_ref", tracking=False)
    name = fields.Char(required=True, tracking=1)
    prefix = fields.Char(
        readonly=True, copy=False, help="The first characters of the token, to tell keys apart."
    )
    key_hash = fields.Char(readonly=True, copy=False, groups="base.group_system")
    expires_at = fields.Datetime(tracking=2, help="Empty: never expires.")
    revoked_at = fields.Datetime(readonly=True, copy=False, tracking=3)
    revoked_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    active = fields.Boolean(
        compute="_compute_active", store=True, help="A revoked key is archived."
    )
    last_used_at = fields.Datetime(readonly=True, copy=False)
    state = fields.Selection(
        [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")],
        compute="_compute_state",
    )

    _key_hash_uniq = models.Constraint("UNIQUE(key_hash)", "This key already exists.")

    @api.depends("revoked_at")
    def _compute_active(self):
        for key in self:
            key.active = not key.revoked_at

    @api.depends("revoked_at", "expires_at")
    def _compute_state(self):
        now = fields.Datetime.now()
        for key in self:
            if key.revoked_at:
                key.state = "revoked"
            elif key.expires_at and key.expires_at <= now:
                key.state = "expired"
            else:
                key.state = "active"

    @api.model
    def _valid_domain(self):
        """Keys that authenticate: not revoked, not expired."""
        return [
            ("revoked_at", "=", False),
            "|",
            ("expires_at", "=", False),
            ("expires_at", ">", fields.Datetime.now()),
        ]

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        # keys are made by generate(), which alone knows the token (the
        # context flag alone proves nothing: any RPC caller can set it)
        if vals_list and not (
            self.env.context.get("emboux_api_key_generate") and is_master(self.env)
        ):
            raise EmbouxInputError("name", self.env._("API keys are made with 'Generate key' only"))
        keys = super(EmbouxApiKey, self._emboux_audit_creating()).create(vals_list)
        return keys.with_env(self.env)

    def write(self, vals):
        forbidden = {"key_hash", "prefix", "tenant_id"} & set(vals)
        if self.env["emboux.tenant"]._is_tenant_caller():
            # a customer renames its keys; it revokes them with action_revoke
            forbidden = set(vals) - {"name"}
        if forbidden and not self.env.su:
            field = min(forbidden)
            label = self._fields[field].string if field in self._fields else field
            raise EmbouxInputError(field, self.env._("%(field)s cannot be changed", field=label))
        if "name" in vals:
            vals["name"] = self._check_name(vals["name"])
        return super().write(vals)

    # pylint: disable-next=method-required-super
    def copy(self, default=None):  # refused: nothing of the original to copy
        raise EmbouxInputError("name", self.env._("An API key cannot be duplicated."))

    @api.model
    def _check_name(self, name):
        if not isinstance(name, str) or not name.strip():
            raise EmbouxInputError("name", self.env._("A key name is required"))
        if len(name.strip()) > 128:
            raise EmbouxInputError("name", self.env._("At most 128 characters"))
        return name.strip()

    # ------------------------------------------------------------------
    # business methods: the one code path of forms, portal and API
    # ------------------------------------------------------------------
    @api.model
    def generate(self, tenant, name, expires_at=None):
        """Make a key for ``tenant`` (record, id or partner_ref) and return
        ``(key, token)``: the token is shown this once and never stored.
        The master (``POST /api-keys/``) makes keys of any tenant; a
        customer (the portal's API keys page) only of its own tenant."""
        Tenant = self.env["emboux.tenant"]
        if Tenant._is_tenant_caller():
            own = Tenant._current_tenant()
            if not own:
                raise AccessError(self.env._("Your account is not a mail hosting customer."))
            if Tenant._resolve(tenant) != own:
                raise AccessError(self.env._("You can only make keys of your own account."))
            own.check_access("read")
            self.check_access("create")
            key, token = self.sudo()._generate(own.sudo(), name, expires_at)
            return key.with_env(self.env), token
        check_master(self.env)
        return self._generate(Tenant._resolve(tenant), name, expires_at)

    @api.model
    def _generate(self, tenant, name, expires_at):
        name = self._check_name(name)
        expires_at = self.env["emboux.tenant"]._parse_time(expires_at, "expires_at")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        # the hash written as superuser: key_hash is readable by no one else
        key = self.with_context(emboux_api_key_generate=True).create(
            {"tenant_id": tenant.id, "name": name, "expires_at": expires_at or False}
        )
        key.sudo().write({"prefix": token[:PREFIX_LENGTH], "key_hash": hash_token(token)})
        return key, token

    @api.model
    def _for_usage(self, token, own_key=None, own_token=None):
        """The valid key of ``token`` whose usage the caller may read
        (``GET /api-keys/{token}/usage``): any for a master; for anyone
        else only ``own_key``, the key it authenticated with, when
        ``token`` is its token ``own_token``. Else empty: whether another
        token exists is never revealed."""
        if is_master(self.env):
            found = self.sudo().search(
                [("key_hash", "=", hash_token(token)), *self._valid_domain()], limit=1
            )
            return found.with_env(self.env)
        if (
            own_key
            and own_token
            and hmac.compare_digest(token.encode("utf-8"), own_token.encode("utf-8"))
        ):
            return own_key
        return self.browse()

    @api.model
    def _authenticate(self, token):
        """The valid key of ``token`` (not revoked, not expired), else an
        empty recordset. The stored hash is found by its index and compared
        again in constant time. ``last_used_at`` is refreshed at most once a
        minute, by a statement that skips a row another request is already
        updating, so parallel requests never wait or fail to serialize."""
        Key = self.sudo().with_context(active_test=False)
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 256:
            return self.browse()
        digest = hash_token(token)
        self.env["emboux.api.key"].flush_model(["key_hash", "revoked_at", "expires_at"])
        rows = self.env.execute_query(
            SQL(
                """SELECT id, key_hash FROM emboux_api_key
                    WHERE key_hash = %s AND revoked_at IS NULL
                      AND (expires_at IS NULL OR expires_at > (now() AT TIME ZONE 'UTC'))""",
                digest,
            )
        )
        if not rows or not hmac.compare_digest(rows[0][1], digest):
            return self.browse()
        key = Key.browse(rows[0][0])
        key._touch_last_used()
        return key.with_env(self.env)

    def _touch_last_used(self):
        self.ensure_one()
        self.flush_recordset(["last_used_at"])
        try:
            # an expected, caught refusal: not a "bad query" in the log
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        """UPDATE emboux_api_key SET last_used_at = now() AT TIME ZONE 'UTC'
                            WHERE id IN (SELECT id FROM emboux_api_key
                                          WHERE id = %s
                                            AND (last_used_at IS NULL OR last_used_at
                                                 < (now() AT TIME ZONE 'UTC') - interval %s)
                                            FOR NO KEY UPDATE SKIP LOCKED)""",
                        self.id,
                        LAST_USED_RESOLUTION,
                    ),
                    log_exceptions=False,
                )
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.LockNotAvailable):
            # another request has just recorded it: nothing to do
            _logger.debug("last_used_at of API key %s written by another request", self.id)
        self.invalidate_recordset(["last_used_at"])

    def action_revoke(self):
        """Revoke the keys (``DELETE /api-keys/{id}``): they answer 401 from
        now on. Revoking a revoked key changes nothing."""
        self.check_access("write")
        to_revoke = self.with_context(active_test=False).filtered(lambda k: not k.revoked_at)
        if to_revoke:
            to_revoke.sudo().write(
                {"revoked_at": fields.Datetime.now(), "revoked_by_id": self.env.uid}
            )
        return True

    def _usage(self, since=None):
        """``GET /api-keys/{token}/usage``: the tenant's usage (see
        ``emboux.tenant._usage``) with this key's ``name`` and ``expires_at``."""
        self.ensure_one()
        result = self.tenant_id._usage(since=since)
        result.update(name=self.name, expires_at=self.expires_at or None)
        return result
