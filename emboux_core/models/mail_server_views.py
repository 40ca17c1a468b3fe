"""The SQL views that Postfix and Dovecot read, and their read-only role.

Postfix (``pgsql:`` lookup tables) and Dovecot (SQL passdb/userdb) never see
the suite's tables: they read six views, through a PostgreSQL role that may
SELECT those views and nothing else. The views run with their owner's rights
(the Odoo database user), so the role needs no right on the base tables.

When the SQL is (re)created
---------------------------
``init()`` of this model runs on every install and upgrade of emboux_core
(``Registry.init_models`` calls ``_auto_init()`` then ``init()`` of each model
of the module being loaded). The models of a module are initialised in the
order their files are imported, so ``init()`` does not build the views at
once: it queues the work on the registry's post-init queue, which
``init_models`` runs after *every* model of the module has created or updated
its table. The views therefore never depend on the import order in
``models/__init__.py``. The views are dropped and recreated each time, so
their definition always matches this file, and the grants are given again.

A later addon that changes the type of a column the views read makes Odoo
drop the dependent views (``odoo.tools.sql.drop_depending_views``) while
emboux_core's ``init()`` does not run. ``_register_hook()`` (run once per
registry load, i.e. at every start) therefore calls
``_apply_mailserver_grants(only_if_needed=True)``: two cheap catalog queries
check that the six views exist and that the role (when it exists) may use
them, and the views are rebuilt or the grants applied when not. A failure
there is a warning, never a failed registry load. ``make mailserver-grants``
(scripts/mailserver_grants.sh, an ``odoo shell`` beside the running server)
calls ``_apply_mailserver_grants()`` on demand, e.g. right after a DBA
created the role by hand: no restart needed.

The role
--------
Name from ``emboux_mailserver_db_role`` (env EMBOUX_MAILSERVER_DB_ROLE,
default ``emboux_mailserver``), password from
``emboux_mailserver_db_password`` (env EMBOUX_MAILSERVER_DB_PASSWORD). With a
password, the role is created (or its password reset) as a plain LOGIN role;
that needs CREATEROLE, and without it the suite logs a warning and goes on
(a DBA can create the role by hand). Whenever the role exists, it gets
CONNECT on the database, USAGE on the schema and SELECT on the six views,
and every other right on the schema's tables, views and sequences is revoked
from it. A role with SUPERUSER, CREATEROLE or CREATEDB is refused (neither
its password is set nor is it granted anything, an error is logged).

The role's password never reaches a log: it is sent as a SCRAM-SHA-256
verifier computed here (PostgreSQL stores a verifier it is given as is, so
the clear password never leaves the process), and the statement carrying it
runs on the raw psycopg2 cursor, which Odoo's cursor neither logs at
``--log-sql`` nor as a "bad query" when it fails; a failure is re-raised
without the statement.
"""

import base64
import hashlib
import hmac
import logging
import os

from passlib.utils import saslprep
import psycopg2
import psycopg2.errors

from odoo import api, models
from odoo.tools import SQL

from ..tools import get_config

_logger = logging.getLogger(__name__)

DEFAULT_ROLE = "emboux_mailserver"

# The temporary failure a suspended domain's recipients get at RCPT time.
SUSPENDED_ACTION = "450 4.2.1 Mailbox temporarily unavailable: domain suspended"

# name -> SELECT; created in this order, dropped in the reverse order.
VIEWS = {
    # Every hosted domain, active or suspended: a suspended domain stays a
    # hosted domain (its mail is deferred, never bounced as "relay denied").
    "emboux_postfix_domains": """
        SELECT d.name::varchar AS domain
          FROM emboux_domain d
    """,
    # Active mailboxes; maildir relative to the mail root: 'domain/local/'.
    # Mailboxes of a suspended domain stay here: mail accepted before the
    # suspension is still delivered, and nothing answers "user unknown".
    "emboux_postfix_mailboxes": """
        SELECT m.email::varchar AS email,
               (d.name || '/' || split_part(m.email, '@', 1) || '/')::varchar AS maildir
          FROM emboux_mailbox m
          JOIN emboux_domain d ON d.id = m.domain_id
         WHERE m.active
    """,
    # Aliases of active domains, plus one identity row per active mailbox.
    # Postfix tries user@domain in every virtual_alias_maps table before
    # @domain, so the identity row keeps a catch-all from swallowing mail
    # for a real mailbox (virtual(5), TABLE SEARCH ORDER).
    "emboux_postfix_aliases": """
        SELECT a.source::varchar AS source, a.destination::varchar AS destination
          FROM emboux_alias a
          JOIN emboux_domain d ON d.id = a.domain_id
         WHERE d.status = 'active'
        UNION
        SELECT m.email::varchar, m.email::varchar
          FROM emboux_mailbox m
         WHERE m.active
    """,
    # smtpd_sender_login_maps (reject_sender_login_mismatch on submission):
    # sender address -> a SASL login (a mailbox address) that may use it as
    # envelope sender; one row per pair, Postfix joins the rows with commas.
    # An active mailbox owns its own address; an alias (never a catch-all)
    # whose destination is an active mailbox lets that mailbox send as the
    # alias's source. A catch-all grants nothing: no '@domain' row at all,
    # since Postfix looks up '@domain' after 'user@domain' and such a row
    # would let the catch-all's owner send as any address of the domain
    # that has no row of its own (a future mailbox's, a mistyped one's).
    # Rows only for active domains (a suspended domain's mailboxes cannot
    # log in anyway, and its aliases are off).
    "emboux_postfix_sender_logins": """
        SELECT m.email::varchar AS sender, m.email::varchar AS login
          FROM emboux_mailbox m
          JOIN emboux_domain d ON d.id = m.domain_id
         WHERE m.active AND d.status = 'active'
        UNION
        SELECT a.source::varchar, m.email::varchar
          FROM emboux_alias a
          JOIN emboux_domain d ON d.id = a.domain_id
          JOIN emboux_mailbox m ON m.email = a.destination
          JOIN emboux_domain md ON md.id = m.domain_id
         WHERE left(a.source, 1) <> '@' AND d.status = 'active'
           AND m.active AND md.status = 'active'
    """,
    # check_recipient_access: recipients of a suspended domain get a 4xx.
    "emboux_postfix_recipient_access": f"""
        SELECT d.name::varchar AS key,
               '{SUSPENDED_ACTION}'::varchar AS action
          FROM emboux_domain d
         WHERE d.status = 'suspended'
    """,
    # Dovecot passdb/userdb. Every mailbox is listed (retention and quota
    # commands reach inactive mailboxes too); only login_allowed rows may log
    # in (the example password_query filters on it).
    "emboux_dovecot_users": """
        SELECT m.email::varchar AS email,
               m.password_hash::varchar AS password,
               (CASE WHEN COALESCE(m.quota_mb, 0) > 0
                     THEN '*:storage=' || m.quota_mb || 'M'
                     ELSE '*:storage=0' END)::varchar AS quota_rule,
               (d.name || '/' || split_part(m.email, '@', 1) || '/')::varchar AS maildir,
               (m.active AND d.status = 'active'
                AND COALESCE(m.password_hash, '') <> '') AS login_allowed
          FROM emboux_mailbox m
          JOIN emboux_domain d ON d.id = m.domain_id
    """,
}


SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def scram_sha256_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` verifier
    PostgreSQL stores for ``password`` (RFC 5802 and 7677, as its
    ``pg_be_scram_build_secret``: the password SASLprep'ed, or taken as is
    when SASLprep refuses it)."""
    try:
        prepared = saslprep(password)
    except (ValueError, TypeError):
        prepared = password
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", prepared.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data):
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class EmbouxMailServerViews(models.AbstractModel):
    _name = "emboux.mail.server.views"
    _description = "Emboux: SQL views and read-only role for Postfix and Dovecot"

    def init(self):
        res = super().init()
        queue = getattr(self.pool, "_post_init_queue", None)
        if queue is not None:
            # after every emboux_core model has its table (see module doc)
            queue.append(self._setup_mail_server_sql)
        else:
            self._setup_mail_server_sql()
        return res

    def _register_hook(self):
        """At every start (registry load): the views and the role's grants,
        when one is missing. Never breaks the registry load: a failure is a
        warning in the log."""
        super()._register_hook()
        try:
            with self.env.cr.savepoint():
                self._apply_mailserver_grants(only_if_needed=True)
        except Exception:
            _logger.warning(
                "Could not check, recreate or grant the mail server views "
                "(make mailserver-grants retries)",
                exc_info=True,
            )

    @api.model
    def _apply_mailserver_grants(self, only_if_needed=False):
        """Recreate the views that are missing, then (re)apply the role's
        grants (:meth:`_grant_views`). Idempotent, plain SQL: run at every
        start and by ``make mailserver-grants`` (scripts/mailserver_grants.sh)
        beside a running Odoo. With ``only_if_needed``, nothing is written
        when the views exist and the role (if any) may already use them.
        Returns True when the role exists and has its grants."""
        role = get_config("emboux_mailserver_db_role", default=DEFAULT_ROLE)
        missing = self._missing_views()
        if missing:
            _logger.warning("Mail server views missing (%s): recreating them", ", ".join(missing))
            # as at install: the views, the role when a password is set, the grants
            self._setup_mail_server_sql()
            info = self._role_info(role)
            return bool(info and not any(info[:3]) and not self._role_lacks_grants(role))
        if only_if_needed and not self._role_lacks_grants(role):
            info = self._role_info(role)
            return bool(info and not any(info[:3]))
        # e.g. a role a DBA created by hand since the last upgrade
        return self._grant_views(role)

    # ------------------------------------------------------------------

    @api.model
    def _missing_views(self):
        rows = self.env.execute_query(
            SQL(
                "SELECT c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'v' AND c.relname IN %s AND n.nspname = current_schema()",
                tuple(VIEWS),
            )
        )
        present = {name for (name,) in rows}
        return [name for name in VIEWS if name not in present]

    @api.model
    def _role_lacks_grants(self, role):
        """True when ``role`` exists, is no superuser, and may not connect
        to the database, use the schema or SELECT one of the views."""
        rows = self.env.execute_query(
            SQL(
                "SELECT bool_or(NOT has_table_privilege(r.oid, v.oid, 'SELECT'))"
                "    OR bool_or(NOT has_database_privilege(r.oid, current_database(), 'CONNECT'))"
                "    OR bool_or(NOT has_schema_privilege(r.oid, n.oid, 'USAGE'))"
                "  FROM pg_roles r, pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace"
                " WHERE r.rolname = %s AND NOT r.rolsuper"
                "   AND v.relname IN %s AND n.nspname = current_schema()",
                role,
                tuple(VIEWS),
            )
        )
        return bool(rows and rows[0][0])

    @api.model
    def _setup_mail_server_sql(self):
        """(Re)create the views, then the role and its grants."""
        self._create_views()
        role = get_config("emboux_mailserver_db_role", default=DEFAULT_ROLE)
        password = get_config("emboux_mailserver_db_password")
        if password:
            self._ensure_role(role, password)
        self._grant_views(role)

    @api.model
    def _create_views(self):
        cr = self.env.cr
        for name in reversed(list(VIEWS)):
            cr.execute(SQL("DROP VIEW IF EXISTS %s", SQL.identifier(name)))
        for name, query in VIEWS.items():
            cr.execute(SQL("CREATE VIEW %s AS %s", SQL.identifier(name), SQL(query)))
        _logger.info("Mail server views created: %s", ", ".join(VIEWS))

    @api.model
    def _role_info(self, role):
        rows = self.env.execute_query(
            SQL(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin"
                " FROM pg_roles WHERE rolname = %s",
                role,
            )
        )
        return rows[0] if rows else None

    @api.model
    def _ensure_role(
        self,
        role,
        password,
        label="the mail servers' read-only role",
        command="make mailserver-grants",
    ):
        """Create ``role`` as a plain LOGIN role with ``password``, or reset
        the password of the existing role. Returns True when done; False
        (with a warning in the log) when the database user may not manage
        roles or the role is not a plain one. ``label`` names the role's
        purpose in the log, ``command`` what applies its grants after a DBA
        created it by hand."""
        info = self._role_info(role)
        if info and (info[0] or info[1] or info[2]):
            _logger.error(
                "PostgreSQL role %r exists with SUPERUSER, CREATEROLE or CREATEDB: "
                "refusing to use it as %s",
                role,
                label,
            )
            return False
        options = SQL(
            "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION PASSWORD %s",
            scram_sha256_verifier(password),
        )
        verb = SQL("ALTER ROLE") if info else SQL("CREATE ROLE")
        try:
            self._execute_unlogged(SQL("%s %s %s", verb, SQL.identifier(role), options))
        except psycopg2.errors.InsufficientPrivilege:
            _logger.warning(
                "The database user may not create or alter PostgreSQL roles (it lacks "
                "CREATEROLE): %s %r was not %s. Create it "
                "by hand (CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                "NOREPLICATION PASSWORD '...'), then run %s (mailserver/README.md).",
                label,
                role,
                "updated" if info else "created",
                role,
                command,
            )
            return False
        except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
            # created meanwhile by a concurrent install on the same cluster
            self._execute_unlogged(SQL("ALTER ROLE %s %s", SQL.identifier(role), options))
        _logger.info("PostgreSQL role %r (%s) %s", role, label, "updated" if info else "created")
        return True

    @api.model
    def _execute_unlogged(self, query):
        """Run ``query`` (one that carries a secret) in a savepoint on the
        raw psycopg2 cursor: Odoo's cursor would log it with its parameters
        at ``--log-sql`` and on failure. A failure is re-raised as the same
        psycopg2 class with PostgreSQL's message only (never the
        statement), and without the original exception, whose cursor still
        holds the statement."""
        cr = self.env.cr
        with cr.savepoint(flush=False):
            try:
                cr._obj.execute(query.code, query.params)
            except psycopg2.Error as exc:
                message = (exc.diag.message_primary if exc.diag else None) or type(exc).__name__
                error = type(exc)(message)
            else:
                error = None
            if error is not None:
                raise error from None

    @api.model
    def _grant_views(self, role):
        """:meth:`_grant_only` ``role`` SELECT on the mail server views."""
        views = SQL(", ").join(SQL.identifier(name) for name in VIEWS)
        return self._grant_only(
            role,
            SQL("GRANT SELECT ON %s TO %s", views, SQL.identifier(role)),
            "the mail server views",
        )

    @api.model
    def _grant_only(self, role, grant, what):
        """The grants of a mail host's role: when ``role`` exists (and is a
        plain role: no SUPERUSER, CREATEROLE or CREATEDB), revoke every right
        on the current schema's tables, views, sequences and functions, run
        ``grant`` (an SQL ``GRANT ... TO role``), then grant CONNECT on the
        database and USAGE on the schema. ``what`` names the grant in the
        log. Returns True when the grants were made."""
        info = self._role_info(role)
        if not info:
            return False
        if info[0] or info[1] or info[2]:
            _logger.error(
                "PostgreSQL role %r has SUPERUSER, CREATEROLE or CREATEDB: not granting it %s",
                role,
                what,
            )
            return False
        cr = self.env.cr
        ident = SQL.identifier(role)
        schema = SQL.identifier(self._schema())
        try:
            with cr.savepoint(flush=False):
                for query in (
                    SQL("REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM %s", schema, ident),
                    SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA %s FROM %s", schema, ident),
                    SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %s FROM %s", schema, ident),
                    grant,
                ):
                    cr.execute(query, log_exceptions=False)
        except psycopg2.errors.InsufficientPrivilege:
            _logger.warning("Could not grant %s to role %r", what, role, exc_info=True)
            return False
        # PUBLIC usually has both already; a DBA may have revoked them
        database = self.env.execute_query(SQL("SELECT current_database()"))[0][0]
        for query in (
            SQL("GRANT CONNECT ON DATABASE %s TO %s", SQL.identifier(database), ident),
            SQL("GRANT USAGE ON SCHEMA %s TO %s", schema, ident),
        ):
            try:
                with cr.savepoint(flush=False):
                    cr.execute(query, log_exceptions=False)
            except psycopg2.errors.InsufficientPrivilege:
                _logger.warning("Could not grant %s to role %r", query.code.split(" TO ")[0], role)
        _logger.info("Role %r may use %s only", role, what)
        return True

    @api.model
    def _schema(self):
        return self.env.execute_query(SQL("SELECT current_schema()"))[0][0]
