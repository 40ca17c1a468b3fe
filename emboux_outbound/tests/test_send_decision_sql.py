"""The send decision's SQL objects: the settings row follows the
configuration, the policy service's role may execute the policy function
and nothing else, and the functions come back when missing or changed."""

import os
from unittest.mock import patch
import uuid

import psycopg2
import psycopg2.errors

from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from odoo.addons.emboux_core.tests.common import run_as_role

from ..models.emboux_send_decision import FUNCTIONS
from .sending_common import SendingCase

DENIED = psycopg2.errors.InsufficientPrivilege


@tagged("post_install", "-at_install")
class TestSendDecisionSql(SendingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Decision = cls.env["emboux.send.decision"]

    def settings(self):
        return self.env.execute_query_dict(
            SQL(
                "SELECT hourly_fraction_num, hourly_fraction_den, spike_max_multiplier,"
                " spike_min_volume, guillotine_min_volume, warmup_factors"
                " FROM emboux_outbound_settings"
            )
        )

    def as_role(self, role, query):
        return run_as_role(self.env, role, query)

    def policyd_role(self):
        """A fresh policy role made as ``make policyd`` makes it."""
        role = "emboux_pd_test_" + uuid.uuid4().hex[:12]
        env = {"EMBOUX_POLICYD_DB_ROLE": role, "EMBOUX_POLICYD_DB_PASSWORD": "pd secret 1"}
        with patch.dict(os.environ, env):
            self.assertTrue(self.Decision._apply_policyd_grants())
            self.assertTrue(self.Decision._policy_role_ready(role))
        return role

    # settings -----------------------------------------------------------
    def test_settings_follow_the_configuration(self):
        self.assertFalse(self.Decision._sync_settings(), "unchanged: not rewritten")
        row = self.settings()[0]
        self.assertEqual((row["hourly_fraction_num"], row["hourly_fraction_den"]), (1, 6))
        self.assertEqual(
            row["warmup_factors"], {"fast": 1.8, "standard": 1.1, "conservative": 1.05}
        )
        with self.config(HOURLY_FRACTION="1/2", SPIKE_MAX_MULTIPLIER="3", GUILLOTINE_MIN_VOLUME=9):
            row = self.settings()[0]
            self.assertEqual((row["hourly_fraction_num"], row["hourly_fraction_den"]), (1, 2))
            self.assertEqual(row["spike_max_multiplier"], 3.0)
            self.assertEqual(row["guillotine_min_volume"], 9)
            # the decision reads it: half the free tier's 100 an hour
            self.assertEqual(self.domain_a._outbound_info()["hourly_limit"], 50)
        row = self.settings()[0]
        self.assertEqual((row["hourly_fraction_den"], row["spike_max_multiplier"]), (6, 5.0))
        self.assertEqual(self.domain_a._outbound_info()["hourly_limit"], 17)

    def test_invalid_configuration_keeps_the_default(self):
        with (
            mute_logger("odoo.addons.emboux_outbound.sending_config"),
            self.config(HOURLY_FRACTION="7/3"),
        ):
            row = self.settings()[0]
        self.assertEqual((row["hourly_fraction_num"], row["hourly_fraction_den"]), (1, 6))

    # the policy service's role -------------------------------------------
    def test_policy_role_executes_the_policy_function_only(self):
        role = self.policyd_role()
        rows = self.as_role(
            role,
            SQL(
                "SELECT action, reason FROM emboux_policy_action(%s, %s, %s, %s, %s, %s)",
                "END-OF-MESSAGE",
                "alice@acme.test",
                "",
                2,
                1000,
                "alice@acme.test",
            ),
        )
        self.assertEqual(rows, [("DUNNO", None)])
        self.assertEqual(self.counters()["sent_today"], 2)
        self.assertEqual(self.counters()["transfer_bytes"], 1000)
        with mute_logger("odoo.sql_db"):
            for query in (
                "SELECT * FROM emboux_outbound_counter",
                "SELECT * FROM emboux_domain",
                "SELECT * FROM emboux_outbound_settings",
                "SELECT * FROM emboux_suppression",
                "SELECT * FROM emboux_postfix_mailboxes",
                "SELECT * FROM emboux_dovecot_users",
                "UPDATE emboux_outbound_counter SET sent_today = 0",
                "UPDATE emboux_outbound_settings SET spike_min_volume = 0",
                f"SELECT * FROM emboux_send_decision({self.domain_a.id}, 1, 0, '{{}}')",
                f"SELECT * FROM emboux_outbound_limits(ARRAY[{self.domain_a.id}], current_date)",
                f"SELECT emboux_outbound_ensure_counters(ARRAY[{self.domain_a.id}])",
            ):
                self.assertIs(self.as_role(role, SQL(query)), DENIED, query)
        self.assertEqual(self.counters()["sent_today"], 2)

    def test_grants_revoke_what_a_dba_added(self):
        role = self.policyd_role()
        self.env.cr.execute(SQL("GRANT SELECT ON emboux_domain TO %s", SQL.identifier(role)))
        self.assertIsInstance(self.as_role(role, SQL("SELECT 1 FROM emboux_domain")), list)
        self.assertTrue(self.Decision._grant_policy_function(role))
        with mute_logger("odoo.sql_db"):
            self.assertIs(self.as_role(role, SQL("SELECT 1 FROM emboux_domain")), DENIED)

    def test_mail_server_role_cannot_decide(self):
        role = "emboux_ms_test_" + uuid.uuid4().hex[:12]
        Views = self.env["emboux.mail.server.views"]
        self.assertTrue(Views._ensure_role(role, "ms secret 1"))
        self.assertTrue(Views._grant_views(role))
        with mute_logger("odoo.sql_db"):
            result = self.as_role(
                role,
                SQL(
                    "SELECT * FROM emboux_policy_action("
                    "'END-OF-MESSAGE', 'a@acme.test', '', 1, 0, '')"
                ),
            )
        self.assertIs(result, DENIED)
        self.assertEqual(self.counters()["sent_today"], 0)

    def test_role_with_createdb_is_not_granted(self):
        role = "emboux_pd_test_" + uuid.uuid4().hex[:12]
        self.env.cr.execute(SQL("CREATE ROLE %s LOGIN CREATEDB", SQL.identifier(role)))
        with mute_logger("odoo.addons.emboux_core.models.mail_server_views"):
            self.assertFalse(self.Decision._grant_policy_function(role))
        self.assertFalse(self.Decision._policy_role_ready(role))

    def test_policy_role_made_by_a_dba_granted_at_registry_load(self):
        role = "emboux_pd_test_" + uuid.uuid4().hex[:12]
        self.env.cr.execute(SQL("CREATE ROLE %s LOGIN NOINHERIT", SQL.identifier(role)))
        self.assertFalse(self.Decision._policy_role_ready(role))
        with patch.dict(os.environ, {"EMBOUX_POLICYD_DB_ROLE": role}):
            self.Decision._register_hook()
        self.assertTrue(self.Decision._policy_role_ready(role))

    def test_policy_role_with_a_password_created_at_registry_load(self):
        role = "emboux_pd_test_" + uuid.uuid4().hex[:12]
        env = {"EMBOUX_POLICYD_DB_ROLE": role}
        with patch.dict(os.environ, env):
            self.Decision._register_hook()  # no password: no role
            self.assertIsNone(self.env["emboux.mail.server.views"]._role_info(role))
            with patch.dict(os.environ, {"EMBOUX_POLICYD_DB_PASSWORD": "pd secret 2"}):
                self.Decision._register_hook()
        self.assertTrue(self.Decision._policy_role_ready(role))

    # the functions --------------------------------------------------------
    def test_missing_function_recreated_at_registry_load(self):
        role = self.policyd_role()
        self.env.cr.execute(
            "DROP FUNCTION emboux_policy_action(text, text, text, integer, bigint, text)"
        )
        self.assertTrue(self.Decision._missing_functions())
        with (
            patch.dict(os.environ, {"EMBOUX_POLICYD_DB_ROLE": role}),
            self.assertLogs("odoo.addons.emboux_outbound.models.emboux_send_decision", "WARNING"),
        ):
            self.Decision._register_hook()
        self.assertFalse(self.Decision._missing_functions())
        self.assertTrue(self.Decision._policy_role_ready(role))
        self.assertEqual(self.send()["sent_today"], 1)

    def test_changed_signature_replaced_on_upgrade(self):
        """An older definition with another return type (CREATE OR REPLACE
        refuses it) is dropped and created again."""
        self.env.cr.execute(
            "DROP FUNCTION emboux_normalized_domain(text);"
            " CREATE FUNCTION emboux_normalized_domain(text) RETURNS integer"
            " LANGUAGE sql AS 'SELECT 1'"
        )
        self.Decision._setup_send_decision_sql()
        rows = self.env.execute_query(SQL("SELECT emboux_normalized_domain(' Acme.TEST. ')"))
        self.assertEqual(rows, [("acme.test",)])
        self.assertFalse(self.Decision._missing_functions())

    def test_older_policy_function_dropped_on_upgrade(self):
        """The five-argument function of before would stay beside the new
        one (another signature is another function): the upgrade drops it."""
        self.env.cr.execute(
            "CREATE FUNCTION emboux_policy_action(text, text, text, integer, bigint,"
            " OUT action text, OUT reason text) LANGUAGE sql AS $$ SELECT 'DUNNO', NULL $$"
        )
        self.Decision._setup_send_decision_sql()
        rows = self.env.execute_query(
            SQL("SELECT count(*) FROM pg_proc WHERE proname = 'emboux_policy_action'")
        )
        self.assertEqual(rows, [(1,)])

    def test_no_function_executable_by_public(self):
        for signature in FUNCTIONS:
            rows = self.env.execute_query(
                SQL(
                    "SELECT has_function_privilege('public', %s, 'EXECUTE')",
                    signature,
                )
            )
            self.assertEqual(rows, [(False,)], signature)

    def test_policy_function_is_security_definer_with_a_fixed_path(self):
        rows = self.env.execute_query(
            SQL(
                "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = %s::regprocedure",
                "emboux_policy_action(text, text, text, integer, bigint, text)",
            )
        )
        secdef, proconfig = rows[0]
        self.assertTrue(secdef)
        self.assertTrue(any(item.startswith("search_path=") for item in proconfig), proconfig)
        # planned once per connection, not at every call
        self.assertIn("plan_cache_mode=force_generic_plan", proconfig)

    def test_sender_domain_normalised_in_sql(self):
        cases = {
            "Acme.TEST.": "acme.test",
            " acme.test ": "acme.test",
            "xn--bcher-kva.example": "xn--bcher-kva.example",
            "localhost": None,
            "acme..test": None,
            "-acme.test": None,
            "acme.123": None,
            "": None,
            "a b.test": None,
        }
        for name, expected in cases.items():
            rows = self.env.execute_query(SQL("SELECT emboux_normalized_domain(%s)", name))
            self.assertEqual(rows, [(expected,)], name)
