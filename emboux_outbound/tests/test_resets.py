from datetime import date, datetime

from odoo.tests import freeze_time, tagged
from odoo.tools import SQL

from ..models.emboux_outbound_counter import LAST_DAILY_RESET_PARAM, LAST_MONTHLY_RESET_PARAM
from .sending_common import SendingCase

MB = 1048576


@tagged("post_install", "-at_install")
class TestResets(SendingCase):
    def setUp(self):
        super().setUp()
        # counts already in the database are reset first (rolled back after),
        # so that the counts below are this test's
        self.Counter.reset_daily()
        self.Counter.reset_monthly()
        for param in (LAST_DAILY_RESET_PARAM, LAST_MONTHLY_RESET_PARAM):
            self.env["ir.config_parameter"].set_param(param, False)

    def history(self, model="emboux.outbound.daily", domain=None):
        domain = domain or self.domain_a
        rows = self.env[model].search([("domain_id", "=", domain.id)])
        if model == "emboux.outbound.daily":
            return {(r.day, r.sent, r.bounces, r.complaints) for r in rows}
        return {(r.month, r.sent, int(r.transfer_bytes)) for r in rows}

    def test_daily_reset_files_the_day_and_zeroes_it(self):
        with freeze_time("2026-03-10 00:00:05"):
            self.set_counters(
                sent_today=30,
                sent_this_month=400,
                bounces_today=2,
                complaints_today=1,
                sent_this_hour=5,
                hour_start=datetime(2026, 3, 9, 23, 0),
            )
            self.assertEqual(self.Counter.reset_daily(), 1)
            self.assertEqual(self.history(), {(date(2026, 3, 9), 30, 2, 1)})
            counters = self.counters()
            self.assertEqual(
                (
                    counters["sent_today"],
                    counters["sent_this_hour"],
                    counters["bounces_today"],
                    counters["complaints_today"],
                    counters["sent_this_month"],
                ),
                (0, 0, 0, 0, 400),
            )
            # twice on one day: nothing left to reset, nothing lost
            self.assertEqual(self.Counter.reset_daily(), 0)
            self.assertEqual(self.history(), {(date(2026, 3, 9), 30, 2, 1)})
        with freeze_time("2026-03-10 15:00:00"):
            self.send(count=4)
            # a second reset on the same day files what was sent since under that day
            self.assertEqual(self.Counter.reset_daily(), 1)
        with freeze_time("2026-03-11 00:00:03"):
            self.send(count=6)
            self.assertEqual(self.Counter.reset_daily(), 1)
        self.assertEqual(
            self.history(), {(date(2026, 3, 9), 30, 2, 1), (date(2026, 3, 10), 10, 0, 0)}
        )
        self.assertEqual(self.counters()["sent_this_month"], 410)

    def test_monthly_reset_freezes_the_month(self):
        with freeze_time("2026-04-01 00:00:10"):
            self.set_counters(sent_this_month=1234, transfer_bytes=5 * MB + 7)
            self.domain_a.flush_recordset()
            self.env.execute_query(
                SQL("UPDATE emboux_domain SET transfer_used_mb = 5 WHERE id = %s", self.domain_a.id)
            )
            self.assertEqual(self.Counter.reset_monthly(), 1)
            self.assertEqual(
                self.history("emboux.outbound.monthly"), {(date(2026, 3, 1), 1234, 5 * MB + 7)}
            )
            self.assertEqual(
                (self.counters()["sent_this_month"], self.counters()["transfer_bytes"]), (0, 0)
            )
            self.assertEqual(self.domain_a.transfer_used_mb, 0)
            self.assertEqual(self.Counter.reset_monthly(), 0)
            self.assertEqual(
                self.history("emboux.outbound.monthly"), {(date(2026, 3, 1), 1234, 5 * MB + 7)}
            )
        with freeze_time("2026-04-20 10:00:00"):
            self.send(count=3, size_bytes=10)
            self.Counter.reset_monthly()
        self.assertIn((date(2026, 4, 1), 3, 10), self.history("emboux.outbound.monthly"))

    def test_crons_run_the_resets(self):
        self.set_counters(sent_today=7, sent_this_month=7)
        daily = self.env.ref("emboux_outbound.ir_cron_outbound_reset_daily")
        monthly = self.env.ref("emboux_outbound.ir_cron_outbound_reset_monthly")
        self.assertEqual((daily.interval_type, monthly.interval_type), ("days", "months"))
        # their server action, in this transaction (method_direct_trigger
        # would run it in another one, which commits)
        daily.ir_actions_server_id.run()
        self.assertEqual(self.counters()["sent_today"], 0)
        monthly.ir_actions_server_id.run()
        self.assertEqual(self.counters()["sent_this_month"], 0)

    def test_resets_are_set_based(self):
        """The same few statements whatever the number of domains (2,000
        made in SQL here; `make bench` times the resets at 100,000)."""

        def queries(method):
            before = self.env.cr.sql_log_count
            method()
            return self.env.cr.sql_log_count - before

        # a first run creates the "last reset" parameters: not counted
        self.Counter.reset_daily()
        self.Counter.reset_monthly()
        self.set_counters(sent_today=1, sent_this_month=1)
        few = (queries(self.Counter.reset_daily), queries(self.Counter.reset_monthly))
        self.env.execute_query(
            SQL(
                """
                INSERT INTO emboux_domain (name, status, outbound_enforcement, outbound_status,
                                           verification_status, dkim_status, create_date)
                SELECT 'bulk' || n || '.test', 'active', 'hard', 'active', 'verified',
                       'verified', now() AT TIME ZONE 'UTC'
                  FROM generate_series(1, 2000) AS n
                """
            )
        )
        self.Counter._ensure_rows()
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET sent_today = 3, sent_this_month = 9,"
                " transfer_bytes = 100"
            )
        )
        self.assertGreaterEqual(self.Counter.reset_daily(), 2000)
        self.assertGreaterEqual(self.Counter.reset_monthly(), 2000)
        rows = self.env.execute_query(
            SQL(
                "SELECT count(*), sum(sent) FROM emboux_outbound_daily d"
                " JOIN emboux_domain x ON x.id = d.domain_id WHERE x.name LIKE %s",
                "bulk%",
            )
        )
        self.assertEqual(rows, [(2000, 6000)])
        self.env.execute_query(
            SQL(
                "UPDATE emboux_outbound_counter SET sent_today = 1, sent_this_month = 1"
                " WHERE domain_id = %s",
                self.domain_a.id,
            )
        )
        many = (queries(self.Counter.reset_daily), queries(self.Counter.reset_monthly))
        # a few statements whatever the number of domains (the parameter
        # cache may save or cost one)
        for small, big in zip(few, many, strict=True):
            self.assertLessEqual(big, small + 2, (few, many))
        self.assertLess(max(many), 12)
