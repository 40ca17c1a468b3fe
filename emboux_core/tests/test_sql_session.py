import psycopg2

from odoo import sql_db
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from ..sql_session import reset_session


@tagged("post_install", "-at_install")
class TestSqlSession(BaseCase):
    """The pool's reset (emboux_core.sql_session): a lent connection's
    session is as clean as after DISCARD ALL; only the cached plans stay."""

    def setUp(self):
        super().setUp()
        _name, info = sql_db.connection_info_for(get_db_name())
        self.cnx = psycopg2.connect(connection_factory=sql_db.PsycoConnection, **info)
        self.addCleanup(self.cnx.close)

    def query(self, sql):
        with self.cnx.cursor() as cr:
            cr.execute(sql)
            return cr.fetchall() if cr.description else None

    def test_installed_for_the_pool(self):
        self.assertIs(sql_db.PsycoConnection.reset, reset_session)

    def test_session_state_is_gone(self):
        work_mem = self.query("SELECT current_setting('work_mem')")
        self.query("SET SESSION work_mem = '7MB'")
        self.query("CREATE TEMP TABLE emboux_reset_probe (x int)")
        self.query("PREPARE emboux_reset_stmt AS SELECT 1")
        self.query("LISTEN emboux_reset_channel")
        self.query("SELECT pg_advisory_lock(424242)")
        self.query("DECLARE emboux_reset_cursor CURSOR WITH HOLD FOR SELECT 1")
        self.cnx.commit()
        self.query("SELECT 1")  # a transaction left open
        self.cnx.reset()
        self.assertEqual(self.cnx.status, psycopg2.extensions.STATUS_READY)
        self.assertFalse(self.cnx.autocommit)
        self.assertEqual(self.query("SELECT current_setting('work_mem')"), work_mem)
        self.assertEqual(self.query("SELECT to_regclass('pg_temp.emboux_reset_probe')"), [(None,)])
        self.assertEqual(self.query("SELECT count(*) FROM pg_prepared_statements"), [(0,)])
        self.assertEqual(self.query("SELECT count(*) FROM pg_listening_channels()"), [(0,)])
        self.assertEqual(self.query("SELECT count(*) FROM pg_cursors"), [(0,)])
        locks = self.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        self.assertEqual(locks, [(0,)])

    def test_closed_connection(self):
        self.cnx.close()
        with self.assertRaises(psycopg2.InterfaceError):
            self.cnx.reset()

    def test_broken_connection(self):
        """A connection whose server process is gone fails its reset with
        OperationalError, the error on which the pool drops it."""
        pid = self.cnx.get_backend_pid()
        _name, info = sql_db.connection_info_for(get_db_name())
        with psycopg2.connect(**info) as other, other.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", [pid])
        with self.assertRaises(psycopg2.OperationalError):
            self.cnx.reset()
