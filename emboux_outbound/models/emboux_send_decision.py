"""The send decision's SQL: its functions, its settings row, and the
policy service's PostgreSQL role.

The rules of "may this domain send now?" and the counting live in
PostgreSQL (``emboux_outbound/sql/send_decision.sql``), so that Odoo
(``outbound_send_decision()``, ``POST .../outbound/increment``,
``/emboux/policy``) and the policy service of the mail hosts
(``mailserver/policyd``, which talks to PostgreSQL directly) run one rule,
at database speed.

When the SQL is (re)created
---------------------------
``init()`` queues :meth:`_setup_send_decision_sql` on the registry's
post-init queue (as emboux_core's mail server views): it runs after every
model of emboux_outbound has its table, at each install and upgrade. The
functions are replaced each time; a signature that changed makes them
dropped and created again. ``_register_hook()`` (every start) recreates
them when missing, writes the settings row from the configuration
(:meth:`_sync_settings`) and reapplies the policy role's grants when they
are missing.

Settings
--------
``emboux_outbound_settings`` (one row) holds what the functions read from
the suite's configuration (``sending_config``: hourly fraction, spike and
guillotine settings, warm-up start and factors, history window). The
configuration is read from the environment and odoo.conf, which change only
with a restart: the row is written at every start, and is what the
decisions use (``SELECT * FROM emboux_outbound_settings`` shows it).

The policy service's role
-------------------------
Name from ``emboux_policyd_db_role`` (env EMBOUX_POLICYD_DB_ROLE, default
``emboux_policyd``), password from ``emboux_policyd_db_password`` (env
EMBOUX_POLICYD_DB_PASSWORD). With a password the role is created (or its
password reset) as the mail servers' read-only role is. Whenever it exists
it may CONNECT, use the schema and EXECUTE ``emboux_policy_action`` (a
SECURITY DEFINER function), and nothing else: every right on the schema's
tables, sequences and functions is revoked from it, and the suite's
functions are not executable by PUBLIC.
"""

import json
import logging
from pathlib import Path

import psycopg2
import psycopg2.errors

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import get_config, normalize_domain

from .. import sending_config as config

_logger = logging.getLogger(__name__)

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "send_decision.sql"
DEFAULT_POLICYD_ROLE = "emboux_policyd"
# the suite's functions (signatures), executable by no one but their owner
# and the roles granted below
FUNCTIONS = (
    (
        "emboux_outbound_first_exceeded(bigint, bigint, bigint, bigint, numeric, numeric,"
        " bigint, bigint, bigint, numeric)"
    ),
    "emboux_outbound_inherited(integer)",
    "emboux_outbound_limits(integer[], date)",
    "emboux_outbound_ensure_counters(integer[])",
    "emboux_send_decision(integer, integer, bigint, text[], timestamp)",
    "emboux_normalized_domain(text)",
    "emboux_policy_action(text, text, text, integer, bigint, text)",
)
POLICY_FUNCTION = "emboux_policy_action(text, text, text, integer, bigint, text)"
# signatures of earlier versions, dropped at upgrade (CREATE OR REPLACE
# with other arguments makes a second function beside the old one)
OBSOLETE_FUNCTIONS = ("emboux_policy_action(text, text, text, integer, bigint)",)


class EmbouxSendDecision(models.AbstractModel):
    _name = "emboux.send.decision"
    _description = "Emboux: the send decision's SQL functions and the policy service's role"

    def init(self):
        res = super().init()
        queue = getattr(self.pool, "_post_init_queue", None)
        if queue is not None:
            # after every emboux_outbound model has its table
            queue.append(self._setup_send_decision_sql)
        else:
            self._setup_send_decision_sql()
        return res

    def _register_hook(self):
        """At every start: the functions when missing, the settings from the
        configuration, the policy role's grants when missing. A failure is
        a warning, never a failed registry load."""
        super()._register_hook()
        try:
            with self.env.cr.savepoint():
                if self._missing_functions():
                    _logger.warning("Send decision functions missing: recreating them")
                    self._setup_send_decision_sql()
                else:
                    self._sync_settings()
                    self._apply_policyd_grants(only_if_needed=True)
        except Exception:
            _logger.warning(
                "Could not check the send decision's SQL functions and settings", exc_info=True
            )

    # ------------------------------------------------------------------
    # functions and settings
    # ------------------------------------------------------------------
    @api.model
    def _setup_send_decision_sql(self):
        """(Re)create the settings table and the functions, write the
        settings, make the missing counter rows, then the policy role and
        its grants."""
        cr = self.env.cr
        for signature in OBSOLETE_FUNCTIONS:
            cr.execute(SQL("DROP FUNCTION IF EXISTS %s", SQL(signature)))
        body = SQL_FILE.read_text(encoding="utf-8")
        try:
            with cr.savepoint(flush=False):
                cr.execute(body, log_exceptions=False)
        except psycopg2.Error:
            # e.g. a changed signature, which CREATE OR REPLACE refuses
            _logger.info("Send decision functions changed signature: dropping them first")
            for signature in reversed(FUNCTIONS):
                cr.execute(SQL("DROP FUNCTION IF EXISTS %s", SQL(signature)))
            cr.execute(body)
        schema = SQL.identifier(self.env["emboux.mail.server.views"]._schema())
        cr.execute(
            SQL(
                "ALTER FUNCTION %s SECURITY DEFINER SET search_path = %s, pg_temp",
                SQL(POLICY_FUNCTION),
                schema,
            )
        )
        for signature in FUNCTIONS:
            cr.execute(SQL("REVOKE ALL ON FUNCTION %s FROM PUBLIC", SQL(signature)))
        self._sync_settings()
        cr.execute(SQL("SELECT emboux_outbound_ensure_counters(NULL)"))
        password = get_config("emboux_policyd_db_password")
        if password:
            self.env["emboux.mail.server.views"]._ensure_role(
                self._policyd_role(),
                password,
                label="the policy service's role",
                command="make policyd (or env['emboux.send.decision']._apply_policyd_grants())",
            )
        self._grant_policy_function(self._policyd_role())

    @api.model
    def _missing_functions(self):
        rows = self.env.execute_query(
            SQL(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = current_schema() AND p.proname IN %s",
                tuple(signature.partition("(")[0] for signature in FUNCTIONS),
            )
        )
        return rows[0][0] < len(FUNCTIONS)

    @api.model
    def _settings_values(self):
        """The settings row's values, from the configuration."""
        fraction = config.hourly_fraction()
        return {
            "hourly_fraction_num": fraction.numerator,
            "hourly_fraction_den": fraction.denominator,
            "spike_max_multiplier": config.spike_max_multiplier(),
            "spike_min_volume": config.spike_min_volume(),
            "history_days": config.HISTORY_DAYS,
            "warmup_start_cap": config.WARMUP_START_CAP,
            "warmup_factors": json.dumps(config.WARMUP_FACTORS, sort_keys=True),
            "bounce_rate_threshold": config.bounce_rate_threshold(),
            "complaint_rate_threshold": config.complaint_rate_threshold(),
            "guillotine_min_volume": config.guillotine_min_volume(),
        }

    @api.model
    def _sync_settings(self):
        """Write the configuration into ``emboux_outbound_settings`` when it
        differs (an unchanged row is not rewritten: no lock, no bloat).
        True when the row changed."""
        values = self._settings_values()
        columns = [SQL.identifier(name) for name in values]
        params = [
            SQL("%s::jsonb", value) if name == "warmup_factors" else SQL("%s", value)
            for name, value in values.items()
        ]
        rows = self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_settings SET (%s, written_at) = (%s, now() AT TIME ZONE"
                " 'UTC') WHERE id AND (%s) IS DISTINCT FROM (%s) RETURNING 1",
                SQL(", ").join(columns),
                SQL(", ").join(params),
                SQL(", ").join(columns),
                SQL(", ").join(params),
            )
        )
        if rows:
            self.env["emboux.domain"]._invalidate_outbound_state()
            _logger.info("Sending settings written: %s", values)
        return bool(rows)

    # ------------------------------------------------------------------
    # the decision of a domain named
    # ------------------------------------------------------------------
    @api.model
    def _decide_by_name(self, name, count=1, recipients=None, size_bytes=0):
        """``outbound_send_decision()`` of the domain called ``name`` (as
        ``emboux.domain._find_by_name`` reads it), its lookup and the
        decision in one statement: the REST API's ``POST
        .../outbound/increment``, the master's (the ORM's search and
        browse took two thirds of the decision's time in the worker). None
        when there is no such domain."""
        check_master(self.env)
        Domain = self.env["emboux.domain"]
        try:
            name = normalize_domain(name)
        except EmbouxInputError:
            return None
        try:
            count, recipients, size = Domain._check_send_input(count, recipients, size_bytes)
        except EmbouxInputError:
            # an unknown domain is reported first, as outbound_send_decision's callers do
            if not Domain._find_by_name(name):
                return None
            raise
        query = SQL(
            "SELECT r.* FROM emboux_domain d CROSS JOIN LATERAL"
            " emboux_send_decision(d.id, %s, %s, %s::text[], %s) r WHERE d.name = %s",
            count,
            size,
            recipients,
            fields.Datetime.now(),
            name,
        )
        return Domain._run_send_decision(query, name)

    # ------------------------------------------------------------------
    # the policy service's role
    # ------------------------------------------------------------------
    @api.model
    def _policyd_role(self):
        return get_config("emboux_policyd_db_role", default=DEFAULT_POLICYD_ROLE)

    @api.model
    def _apply_policyd_grants(self, only_if_needed=False):
        """The policy service's role (created or its password reset when
        ``emboux_policyd_db_password`` is set) and its grants. Idempotent:
        run at every start and by ``make policyd``. With ``only_if_needed``
        nothing is written when the role may already execute the policy
        function, and a missing role is created only when a password is
        configured. True when the role exists and has its grants."""
        role = self._policyd_role()
        password = get_config("emboux_policyd_db_password")
        info = self.env["emboux.mail.server.views"]._role_info(role)
        if only_if_needed and info and self._policy_role_ready(role):
            return not any(info[:3])
        if only_if_needed and not info and not password:
            return False
        if password and not (only_if_needed and info):
            self.env["emboux.mail.server.views"]._ensure_role(
                role,
                password,
                label="the policy service's role",
                command="make policyd (or env['emboux.send.decision']._apply_policyd_grants())",
            )
        return self._grant_policy_function(role)

    @api.model
    def _policy_role_ready(self, role):
        rows = self.env.execute_query(
            SQL(
                "SELECT has_function_privilege(r.oid, %s, 'EXECUTE')"
                "   AND has_database_privilege(r.oid, current_database(), 'CONNECT')"
                "   AND has_schema_privilege(r.oid, current_schema(), 'USAGE')"
                "  FROM pg_roles r WHERE r.rolname = %s",
                POLICY_FUNCTION,
                role,
            )
        )
        return bool(rows and rows[0][0])

    @api.model
    def _grant_policy_function(self, role):
        """The policy role's grants (emboux_core's ``_grant_only``): EXECUTE
        on the policy function, CONNECT and USAGE, nothing else."""
        grant = SQL(
            "GRANT EXECUTE ON FUNCTION %s TO %s", SQL(POLICY_FUNCTION), SQL.identifier(role)
        )
        return self.env["emboux.mail.server.views"]._grant_only(role, grant, "the policy function")
