"""The SQL views Postfix and Dovecot read, and their read-only role.

The lookups below are the queries of the example configuration in
mailserver/ (Postfix pgsql maps, Dovecot dovecot-sql.conf.ext); the mail
servers themselves are exercised by e2e/test_mail_e2e.py.
"""

import base64
import os
from unittest.mock import patch
import uuid

import psycopg2
import psycopg2.errors

from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from odoo.addons.emboux_core.models.mail_server_views import VIEWS, scram_sha256_verifier
from odoo.addons.emboux_core.tools import verify_password

from .common import all_logs_with_sql, run_as_role

LOGGER = "odoo.addons.emboux_core.models.mail_server_views"
PASSWORD = "correct horse battery"


@tagged("post_install", "-at_install")
class TestMailServerViews(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Domain = cls.env["emboux.domain"]
        Mailbox = cls.env["emboux.mailbox"]
        Alias = cls.env["emboux.alias"]
        cls.dom_a, cls.dom_b, cls.dom_s = Domain.create(
            [{"name": "views-a.test"}, {"name": "views-b.test"}, {"name": "views-s.test"}]
        )
        cls.alice, cls.bob, cls.carol, cls.dave, cls.erin = Mailbox.create(
            [
                {"email": "alice@views-a.test", "password": PASSWORD, "quota_mb": 500},
                {"email": "bob@views-a.test", "password": PASSWORD, "active": False},
                {"email": "carol@views-b.test", "password": PASSWORD, "catch_all": True},
                {"email": "dave@views-s.test", "password": PASSWORD},
                {"email": "erin@views-b.test", "password": PASSWORD, "quota_mb": 0},
            ]
        )
        Alias.upsert("info@views-a.test", "alice@views-a.test")
        Alias.upsert("sales@views-s.test", "dave@views-s.test")
        Alias.upsert("ext@views-a.test", "someone@elsewhere.example")
        cls.dom_s.action_suspend()

    def query(self, query, *args):
        self.env.flush_all()
        return self.env.execute_query(SQL(query, *args))

    # the lookups of the example configuration ---------------------------
    def postfix_alias(self, key):
        return sorted(
            r[0]
            for r in self.query(
                "SELECT destination FROM emboux_postfix_aliases WHERE source = %s", key
            )
        )

    def postfix_resolve(self, address):
        """virtual(5) table search order: user@domain, then @domain."""
        found = self.postfix_alias(address)
        return found or self.postfix_alias("@" + address.split("@")[1])

    def dovecot_login(self, email, password):
        rows = self.query(
            "SELECT password FROM emboux_dovecot_users WHERE email = %s AND login_allowed", email
        )
        return bool(rows) and verify_password(password, rows[0][0])

    # views --------------------------------------------------------------
    def test_views_exist(self):
        self.assertFalse(self.env["emboux.mail.server.views"]._missing_views())

    def test_domains(self):
        domains = {r[0] for r in self.query("SELECT domain FROM emboux_postfix_domains")}
        # a suspended domain is still hosted
        self.assertLessEqual({"views-a.test", "views-b.test", "views-s.test"}, domains)

    def test_mailboxes(self):
        rows = dict(
            self.query(
                "SELECT email, maildir FROM emboux_postfix_mailboxes WHERE email LIKE %s",
                "%@views-_.test",
            )
        )
        self.assertEqual(
            rows,
            {
                "alice@views-a.test": "views-a.test/alice/",
                "carol@views-b.test": "views-b.test/carol/",
                "erin@views-b.test": "views-b.test/erin/",
                # suspended: deferred at RCPT time, but nothing already queued bounces
                "dave@views-s.test": "views-s.test/dave/",
            },
        )

    def test_aliases_and_identity_rows(self):
        self.assertEqual(self.postfix_alias("info@views-a.test"), ["alice@views-a.test"])
        self.assertEqual(self.postfix_alias("ext@views-a.test"), ["someone@elsewhere.example"])
        for mailbox in ("alice@views-a.test", "carol@views-b.test", "erin@views-b.test"):
            self.assertEqual(self.postfix_alias(mailbox), [mailbox])
        # no identity row for an inactive mailbox: it receives nothing
        self.assertEqual(self.postfix_alias("bob@views-a.test"), [])
        self.assertEqual(self.postfix_resolve("bob@views-a.test"), [])
        # aliases of a suspended domain are gone until activation
        self.assertEqual(self.postfix_alias("sales@views-s.test"), [])

    def test_catch_all_never_swallows_a_mailbox(self):
        self.assertEqual(self.postfix_alias("@views-b.test"), ["carol@views-b.test"])
        self.assertEqual(self.postfix_resolve("nobody@views-b.test"), ["carol@views-b.test"])
        self.assertEqual(self.postfix_resolve("erin@views-b.test"), ["erin@views-b.test"])
        self.assertEqual(self.postfix_resolve("carol@views-b.test"), ["carol@views-b.test"])
        # a domain without catch-all resolves unknown addresses to nothing
        self.assertEqual(self.postfix_resolve("nobody@views-a.test"), [])
        # unticking catch-all removes the row
        self.carol.catch_all = False
        self.assertEqual(self.postfix_resolve("nobody@views-b.test"), [])

    # smtpd_sender_login_maps ---------------------------------------------
    def sender_logins(self, key):
        """The query of mailserver/postfix/sender_login_maps.cf: the rows
        Postfix joins with commas."""
        return sorted(
            r[0]
            for r in self.query(
                "SELECT login FROM emboux_postfix_sender_logins WHERE sender = %s", key
            )
        )

    def may_send_as(self, login, sender):
        """reject_sender_login_mismatch: the owners of the first key found
        (user@domain, then @domain: smtpd_sender_login_maps in postconf(5))
        must include the SASL login."""
        owners = self.sender_logins(sender) or self.sender_logins("@" + sender.split("@")[1])
        return login in owners

    def test_sender_logins_own_address_and_aliases(self):
        for mailbox in ("alice@views-a.test", "carol@views-b.test", "erin@views-b.test"):
            self.assertEqual(self.sender_logins(mailbox), [mailbox])
        # an alias lets the mailbox it delivers to send as its source
        self.assertEqual(self.sender_logins("info@views-a.test"), ["alice@views-a.test"])
        self.assertTrue(self.may_send_as("alice@views-a.test", "info@views-a.test"))
        # an alias to an outside address grants nobody
        self.assertEqual(self.sender_logins("ext@views-a.test"), [])
        # several destinations: each mailbox among them (not the outside one)
        Alias = self.env["emboux.alias"]
        for destination in ("carol@views-b.test", "erin@views-b.test", "x@elsewhere.example"):
            Alias.upsert("team@views-b.test", destination)
        self.assertEqual(
            self.sender_logins("team@views-b.test"), ["carol@views-b.test", "erin@views-b.test"]
        )
        # the alias's owner decides: an alias of views-a.test to a mailbox of
        # views-b.test lets that mailbox send as the views-a.test address
        Alias.upsert("partner@views-a.test", "erin@views-b.test")
        self.assertTrue(self.may_send_as("erin@views-b.test", "partner@views-a.test"))
        # removing the alias takes the right away
        Alias._find_by_source("partner@views-a.test").unlink()
        self.assertFalse(self.may_send_as("erin@views-b.test", "partner@views-a.test"))

    def test_sender_logins_refuse_other_addresses(self):
        # another tenant's address, another mailbox of the same domain
        self.assertFalse(self.may_send_as("alice@views-a.test", "erin@views-b.test"))
        self.assertFalse(self.may_send_as("erin@views-b.test", "alice@views-a.test"))
        self.assertFalse(self.may_send_as("erin@views-b.test", "carol@views-b.test"))
        # an address nobody owns: no row, Postfix refuses every login
        self.assertEqual(self.sender_logins("nobody@views-a.test"), [])
        self.assertFalse(self.may_send_as("alice@views-a.test", "nobody@views-a.test"))

    def test_sender_logins_catch_all_grants_nothing(self):
        # carol is views-b.test's catch-all: she receives any unknown address,
        # but sends only as her own address and her explicit aliases
        self.assertEqual(self.postfix_alias("@views-b.test"), ["carol@views-b.test"])
        self.assertFalse(self.may_send_as("carol@views-b.test", "nobody@views-b.test"))
        self.assertFalse(self.may_send_as("carol@views-b.test", "erin@views-b.test"))
        self.assertTrue(self.may_send_as("carol@views-b.test", "carol@views-b.test"))
        # no '@domain' key at all (Postfix's last lookup), nor a bare user
        self.assertFalse(
            self.query(
                "SELECT 1 FROM emboux_postfix_sender_logins"
                " WHERE sender LIKE %s OR sender NOT LIKE %s",
                "@%",
                "_%@_%",
            )
        )

    def test_sender_logins_inactive_and_suspended(self):
        # an inactive mailbox owns nothing, not even through an alias
        self.env["emboux.alias"].upsert("old@views-a.test", "bob@views-a.test")
        self.assertEqual(self.sender_logins("bob@views-a.test"), [])
        self.assertEqual(self.sender_logins("old@views-a.test"), [])
        # a suspended domain's mailboxes and aliases own nothing (they cannot
        # log in either) until activation
        self.assertEqual(self.sender_logins("dave@views-s.test"), [])
        self.assertEqual(self.sender_logins("sales@views-s.test"), [])
        self.dom_s.action_activate()
        self.bob.active = True
        self.assertEqual(self.sender_logins("dave@views-s.test"), ["dave@views-s.test"])
        self.assertEqual(self.sender_logins("sales@views-s.test"), ["dave@views-s.test"])
        self.assertEqual(self.sender_logins("old@views-a.test"), ["bob@views-a.test"])
        # deactivating a mailbox takes its rights away at once
        self.alice.active = False
        self.assertEqual(self.sender_logins("alice@views-a.test"), [])
        self.assertEqual(self.sender_logins("info@views-a.test"), [])

    def test_recipient_access_of_suspended_domain(self):
        rows = dict(
            self.query(
                "SELECT key, action FROM emboux_postfix_recipient_access WHERE key LIKE %s",
                "views-_.test",
            )
        )
        self.assertEqual(list(rows), ["views-s.test"])
        self.assertRegex(rows["views-s.test"], r"^450 4\.\d\.\d ")

    def test_dovecot_users(self):
        rows = {
            r[0]: r[1:]
            for r in self.query(
                "SELECT email, password, quota_rule, maildir, login_allowed"
                " FROM emboux_dovecot_users WHERE email LIKE %s",
                "%@views-_.test",
            )
        }
        self.assertEqual(len(rows), 5)  # inactive ones too: retention and quota reach them
        password, quota_rule, maildir, login_allowed = rows["alice@views-a.test"]
        self.assertTrue(password.startswith("{SHA512-CRYPT}$6$"))
        self.assertEqual(
            (quota_rule, maildir, login_allowed), ("*:storage=500M", "views-a.test/alice/", True)
        )
        self.assertEqual(rows["erin@views-b.test"][1], "*:storage=0")  # 0 = unlimited
        self.assertEqual(rows["carol@views-b.test"][1], "*:storage=1024M")
        self.assertFalse(rows["bob@views-a.test"][3])  # inactive mailbox
        self.assertFalse(rows["dave@views-s.test"][3])  # suspended domain
        self.assertTrue(self.dovecot_login("alice@views-a.test", PASSWORD))
        self.assertFalse(self.dovecot_login("alice@views-a.test", "wrong password!"))
        self.assertFalse(self.dovecot_login("bob@views-a.test", PASSWORD))
        self.assertFalse(self.dovecot_login("dave@views-s.test", PASSWORD))

    def test_password_change_reaches_dovecot(self):
        self.alice.set_password("another long secret")
        self.assertFalse(self.dovecot_login("alice@views-a.test", PASSWORD))
        self.assertTrue(self.dovecot_login("alice@views-a.test", "another long secret"))

    def test_activation_restores_everything(self):
        self.dom_s.action_activate()
        self.assertTrue(self.dovecot_login("dave@views-s.test", PASSWORD))
        self.assertEqual(self.postfix_alias("sales@views-s.test"), ["dave@views-s.test"])
        self.assertFalse(
            self.query(
                "SELECT 1 FROM emboux_postfix_recipient_access WHERE key = %s", "views-s.test"
            )
        )
        self.bob.active = True
        self.assertTrue(self.dovecot_login("bob@views-a.test", PASSWORD))
        self.assertEqual(self.postfix_resolve("bob@views-a.test"), ["bob@views-a.test"])

    def test_deleting_a_domain_empties_its_rows(self):
        self.dom_b.unlink()
        for view, column in (
            ("emboux_postfix_domains", "domain"),
            ("emboux_postfix_mailboxes", "email"),
            ("emboux_postfix_aliases", "source"),
            ("emboux_postfix_sender_logins", "sender"),
            ("emboux_postfix_sender_logins", "login"),
            ("emboux_dovecot_users", "email"),
        ):
            self.assertFalse(
                self.query(
                    "SELECT 1 FROM %s WHERE %s LIKE %s",
                    SQL.identifier(view),
                    SQL.identifier(column),
                    "%views-b.test",
                ),
                view,
            )

    def test_missing_view_rebuilt_at_registry_load(self):
        self.env.cr.execute("DROP VIEW emboux_postfix_aliases")
        Views = self.env["emboux.mail.server.views"]
        self.assertEqual(Views._missing_views(), ["emboux_postfix_aliases"])
        with self.assertLogs(LOGGER, "WARNING"):
            Views._register_hook()
        self.assertFalse(Views._missing_views())
        self.assertEqual(self.postfix_alias("info@views-a.test"), ["alice@views-a.test"])

    # the read-only role -------------------------------------------------
    def _new_role(self, password="role password 1"):
        role = "emboux_ms_test_" + uuid.uuid4().hex[:12]
        Views = self.env["emboux.mail.server.views"]
        if not Views._ensure_role(role, password):
            self.skipTest("the database user may not create roles")
        return role

    def _as_role(self, role, query):
        return run_as_role(self.env, role, query)

    def test_role_reads_views_only(self):
        role = self._new_role()
        Views = self.env["emboux.mail.server.views"]
        self.assertTrue(Views._grant_views(role))
        su, createrole, createdb, login = Views._role_info(role)
        self.assertEqual((su, createrole, createdb, login), (False, False, False, True))
        for view in VIEWS:
            result = self._as_role(role, SQL("SELECT * FROM %s", SQL.identifier(view)))
            self.assertIsInstance(result, list, view)
        rows = self._as_role(
            role,
            SQL(
                "SELECT destination FROM emboux_postfix_aliases WHERE source = %s", "@views-b.test"
            ),
        )
        self.assertEqual(rows, [("carol@views-b.test",)])
        denied = psycopg2.errors.InsufficientPrivilege
        for table in (
            "emboux_mailbox",
            "emboux_domain",
            "emboux_alias",
            "res_users",
            "ir_config_parameter",
        ):
            with mute_logger("odoo.sql_db"):
                result = self._as_role(role, SQL("SELECT * FROM %s LIMIT 1", SQL.identifier(table)))
            self.assertIs(result, denied, table)
        # read-only even where a view is auto-updatable
        with mute_logger("odoo.sql_db"):
            result = self._as_role(role, SQL("UPDATE emboux_postfix_domains SET domain = 'x.test'"))
        self.assertIs(result, denied)

    def test_grant_revokes_other_rights(self):
        role = self._new_role()
        self.env.cr.execute(SQL("GRANT SELECT ON emboux_mailbox TO %s", SQL.identifier(role)))
        self.assertIsInstance(self._as_role(role, SQL("SELECT 1 FROM emboux_mailbox")), list)
        self.env["emboux.mail.server.views"]._grant_views(role)
        with mute_logger("odoo.sql_db"):
            result = self._as_role(role, SQL("SELECT 1 FROM emboux_mailbox"))
        self.assertIs(result, psycopg2.errors.InsufficientPrivilege)

    def test_role_made_by_a_dba_granted_at_registry_load(self):
        role = "emboux_ms_test_" + uuid.uuid4().hex[:12]
        self.env.cr.execute(SQL("CREATE ROLE %s LOGIN", SQL.identifier(role)))
        Views = self.env["emboux.mail.server.views"]
        self.assertTrue(Views._role_lacks_grants(role))
        with mute_logger("odoo.sql_db"):
            self.assertIs(
                self._as_role(role, SQL("SELECT 1 FROM emboux_postfix_domains")),
                psycopg2.errors.InsufficientPrivilege,
            )
        with patch.dict(os.environ, {"EMBOUX_MAILSERVER_DB_ROLE": role}):
            Views._register_hook()
        self.assertFalse(Views._role_lacks_grants(role))
        self.assertIsInstance(
            self._as_role(role, SQL("SELECT 1 FROM emboux_postfix_domains")), list
        )
        self.assertFalse(Views._role_lacks_grants("emboux_no_such_role_" + uuid.uuid4().hex[:8]))

    def test_role_made_by_hand_granted_on_demand(self):
        """The README's manual path: a role created by hand reads nothing
        until ``_apply_mailserver_grants()`` (``make mailserver-grants``)
        runs; then it reads every view and no table, without a restart."""
        role = "emboux_ms_hand_" + uuid.uuid4().hex[:12]
        ident = SQL.identifier(role)
        self.env.cr.execute(
            SQL(
                "CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
                " NOREPLICATION PASSWORD 'hand made 1'",
                ident,
            )
        )

        def drop():
            self.env.cr.execute(SQL("DROP OWNED BY %s", ident))
            self.env.cr.execute(SQL("DROP ROLE %s", ident))

        self.addCleanup(drop)
        Views = self.env["emboux.mail.server.views"]
        denied = psycopg2.errors.InsufficientPrivilege
        with mute_logger("odoo.sql_db"):
            self.assertIs(self._as_role(role, SQL("SELECT 1 FROM emboux_postfix_domains")), denied)
        with patch.dict(os.environ, {"EMBOUX_MAILSERVER_DB_ROLE": role}):
            self.assertTrue(Views._apply_mailserver_grants())
            # idempotent
            self.assertTrue(Views._apply_mailserver_grants())
            self.assertTrue(Views._apply_mailserver_grants(only_if_needed=True))
        self.assertFalse(Views._role_lacks_grants(role))
        for view in VIEWS:
            result = self._as_role(role, SQL("SELECT * FROM %s", SQL.identifier(view)))
            self.assertIsInstance(result, list, view)
        with mute_logger("odoo.sql_db"):
            self.assertIs(self._as_role(role, SQL("SELECT * FROM emboux_mailbox")), denied)

    def test_role_with_createdb_refused(self):
        role = "emboux_ms_hand_" + uuid.uuid4().hex[:12]
        self.env.cr.execute(SQL("CREATE ROLE %s LOGIN CREATEDB", SQL.identifier(role)))
        Views = self.env["emboux.mail.server.views"]
        with (
            patch.dict(os.environ, {"EMBOUX_MAILSERVER_DB_ROLE": role}),
            self.assertLogs(LOGGER, "ERROR"),
        ):
            self.assertFalse(Views._apply_mailserver_grants())
        with mute_logger("odoo.sql_db"):
            self.assertIs(
                self._as_role(role, SQL("SELECT 1 FROM emboux_postfix_domains")),
                psycopg2.errors.InsufficientPrivilege,
            )

    def test_register_hook_never_breaks_loading(self):
        Views = self.env["emboux.mail.server.views"]
        with (
            patch.object(
                type(Views), "_apply_mailserver_grants", side_effect=psycopg2.OperationalError
            ),
            self.assertLogs(LOGGER, "WARNING") as logs,
        ):
            Views._register_hook()
        self.assertIn("make mailserver-grants", logs.output[0])

    def test_existing_role_password_reset(self):
        role = self._new_role()
        Views = self.env["emboux.mail.server.views"]
        self.assertTrue(Views._ensure_role(role, "new role password"))
        self.assertEqual(Views._role_info(role), (False, False, False, True))

    def test_without_createrole_fails_soft(self):
        """A database user without CREATEROLE: a warning, no error, and the
        install goes on."""
        weak = self._new_role()  # LOGIN NOCREATEROLE
        cr = self.env.cr
        Views = self.env["emboux.mail.server.views"]
        cr.execute(SQL("SET LOCAL ROLE %s", SQL.identifier(weak)))
        try:
            with self.assertLogs(LOGGER, "WARNING") as logs, mute_logger("odoo.sql_db"):
                done = Views._ensure_role(
                    "emboux_ms_test_" + uuid.uuid4().hex[:12], "some password"
                )
        finally:
            cr.execute("RESET ROLE")
        self.assertFalse(done)
        self.assertIn("CREATEROLE", logs.output[0])

    def test_superuser_role_refused(self):
        Views = self.env["emboux.mail.server.views"]
        superuser = self.env.execute_query(SQL("SELECT current_user"))[0][0]
        if not Views._role_info(superuser)[0]:
            self.skipTest("the database user is not a superuser")
        with self.assertLogs(LOGGER, "ERROR"):
            self.assertFalse(Views._ensure_role(superuser, "whatever password"))
            self.assertFalse(Views._grant_views(superuser))


@tagged("post_install", "-at_install")
class TestRolePasswordNeverLogged(TransactionCase):
    """The mail servers' role password (and its verifier) never reach a log,
    at ``--log-sql`` nor when the statement fails."""

    # make test's marker secret, searched for in the whole log at the end
    PASSWORD = os.environ.get("EMBOUX_TEST_SECRET") or "role-secret-" + uuid.uuid4().hex

    def setUp(self):
        super().setUp()
        self.Views = self.env["emboux.mail.server.views"]
        self.superuser = self.Views._role_info(
            self.env.execute_query(SQL("SELECT current_user"))[0][0]
        )[0]

    def stored_verifier(self, role):
        rows = self.env.execute_query(
            SQL("SELECT rolpassword FROM pg_authid WHERE rolname = %s", role)
        )
        return rows[0][0] if rows else None

    def assertNoSecret(self, lines, *secrets):
        text = "\n".join(lines)
        self.assertTrue(lines)  # the capture works: the other queries are there
        for secret in secrets:
            self.assertNotIn(secret, text)
        self.assertNotIn("SCRAM-SHA-256$", text)

    def test_create_and_reset_at_log_sql(self):
        role = "emboux_ms_test_" + uuid.uuid4().hex[:12]
        with all_logs_with_sql() as lines:
            if not self.Views._ensure_role(role, self.PASSWORD):
                self.skipTest("the database user may not create roles")
            self.assertTrue(self.Views._ensure_role(role, self.PASSWORD + "-new"))
        self.assertTrue(any("pg_roles" in line for line in lines))  # queries were logged
        self.assertNoSecret(lines, self.PASSWORD)
        if self.superuser:
            verifier = self.stored_verifier(role)
            self.assertTrue(verifier.startswith("SCRAM-SHA-256$4096:"), verifier[:20])
            self.assertNotIn(verifier, "\n".join(lines))

    def test_failure_logs_and_raises_no_password(self):
        # "pg_" names are reserved: CREATE ROLE fails in PostgreSQL itself
        role = "pg_emboux_test_" + uuid.uuid4().hex[:8]
        with all_logs_with_sql() as lines, self.assertRaises(psycopg2.Error) as caught:
            self.Views._ensure_role(role, self.PASSWORD)
        self.assertNoSecret(lines, self.PASSWORD)
        self.assertFalse([line for line in lines if line.startswith("ERROR")], lines)
        exc = caught.exception
        self.assertNotIn(self.PASSWORD, str(exc))
        self.assertNotIn("SCRAM", str(exc))
        self.assertIsNone(exc.__cause__)
        self.assertIsNone(exc.__context__)
        # the transaction goes on (the savepoint was rolled back)
        self.assertEqual(self.env.execute_query(SQL("SELECT 1")), [(1,)])

    def test_verifier_is_postgresql_own(self):
        """Our verifier is the one PostgreSQL computes from the clear
        password with the same salt (SASLprep included: a soft hyphen is
        dropped, a ligature folded)."""
        if not self.superuser:
            self.skipTest("pg_authid needs a superuser")
        for password in ("plain ascii password", "pass\u00adword \ufb01ne ünïcode"):
            role = "emboux_ms_test_" + uuid.uuid4().hex[:12]
            cr = self.env.cr
            with cr.savepoint(flush=False):
                # PostgreSQL hashes it: the clear password only in this test
                cr._obj.execute("SET LOCAL password_encryption = 'scram-sha-256'")
                query = SQL("CREATE ROLE %s PASSWORD %s", SQL.identifier(role), password)
                cr._obj.execute(query.code, query.params)
            stored = self.stored_verifier(role)
            head, _sep, _keys = stored.partition("$")[2].partition("$")
            iterations, salt = head.split(":")
            self.assertEqual(
                scram_sha256_verifier(password, base64.b64decode(salt), int(iterations)), stored
            )
