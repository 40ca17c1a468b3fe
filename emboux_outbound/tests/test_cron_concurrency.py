"""Scheduled actions beside API traffic: a cron that meets a concurrent
transaction on its rows (an API request writing a domain, a webhook
delivery, a send decision) rolls that unit back, logs INFO (no ERROR, no
"bad query") and does the work at its next run.

Real concurrency: the crons run as the scheduler runs them
(``method_direct_trigger``: their own cursor, ``_commit_progress``), while
another cursor, standing for the API request, holds or updates the same
row. Everything committed is removed at the end."""

from contextlib import contextmanager
from datetime import timedelta
import logging
import threading
import time
import uuid

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged

from ..models.emboux_outbound_counter import LAST_DAILY_RESET_PARAM
from .provider_common import ProviderServersMixin

POLL_CRON = "emboux_outbound.ir_cron_emboux_provider_poll"
GC_CRON = "emboux_outbound.ir_cron_emboux_webhook_event_gc"
RESET_CRON = "emboux_outbound.ir_cron_outbound_reset_daily"


@contextmanager
def captured_logs():
    """Every record of INFO and above logged meanwhile (any logger)."""
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Capture(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


class CronRaceCase(TransactionCase):
    def setUp(self):
        super().setUp()
        self.holder = None
        self.cron_state = {}

    @contextmanager
    def env_cr(self):
        with self.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    def remember_cron(self, xmlid):
        """The cron's schedule, put back at the end (a run moves it)."""
        with self.env_cr() as env:
            cron = env.ref(xmlid)
            self.cron_state[cron.id] = (cron.nextcall, cron.lastcall or None)
            env.cr.execute("SELECT COALESCE(max(id), 0) FROM ir_cron_trigger")
            self.first_trigger = env.cr.fetchone()[0] + 1
            cron_id = cron.id
        self.addCleanup(self._restore_cron, cron_id)
        return cron_id

    def _restore_cron(self, cron_id):
        with self.env_cr() as env:
            nextcall, lastcall = self.cron_state[cron_id]
            env.cr.execute(
                "UPDATE ir_cron SET nextcall = %s, lastcall = %s WHERE id = %s",
                [nextcall, lastcall, cron_id],
            )
            env.cr.execute(
                "DELETE FROM ir_cron_trigger WHERE cron_id = %s AND id >= %s",
                [cron_id, self.first_trigger],
            )

    def run_cron(self, cron_id):
        """Run the cron as the scheduler does; answers the log records (a
        record at ERROR or above fails the test)."""
        with captured_logs() as records, self.env_cr() as env:
            env["ir.cron"].browse(cron_id).method_direct_trigger()
        errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
        self.assertEqual(errors, [])
        return records

    def triggers(self, cron_id):
        """The retries the test's runs scheduled."""
        with self.env_cr() as env:
            env.cr.execute(
                "SELECT call_at FROM ir_cron_trigger"
                " WHERE cron_id = %s AND call_at > %s AND id >= %s",
                [cron_id, fields.Datetime.now(), self.first_trigger],
            )
            return [row[0] for row in env.cr.fetchall()]

    def hold(self, query, params):
        """The API request: runs ``query`` (an update of the row) and keeps
        its transaction open, so the row stays locked, until released."""
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        cr.execute(query, params)
        self.holder = cr
        return cr

    def release_when_waited_on(self):
        """Commit the holder as soon as another backend of this database
        waits for one of its locks (the cron met the row): the cron's
        snapshot is then older than the committed update. Answers the
        thread, to join."""
        holder = self.holder

        def run():
            with self.registry.cursor() as watch:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    watch.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                    waiting = watch.fetchone()[0]
                    watch.rollback()  # a fresh view of pg_stat_activity
                    if waiting:
                        break
                    time.sleep(0.05)
            holder.commit()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def messages(self, records, logger, level=logging.INFO):
        return [r.getMessage() for r in records if r.name == logger and r.levelno == level]


@tagged("post_install", "-at_install")
class TestPollCronConcurrency(ProviderServersMixin, CronRaceCase):
    LOGGER = "odoo.addons.emboux_outbound.models.emboux_domain_provider_sync"

    def setUp(self):
        super().setUp()
        self.cron_id = self.remember_cron(POLL_CRON)
        tag = uuid.uuid4().hex[:8]
        self.names = [f"poll{i}-{tag}.test" for i in range(3)]
        with self.env_cr() as env:
            domains = env["emboux.domain"].create(
                [{"name": name, "provider": "mailgun"} for name in self.names]
            )
            self.ids = domains.ids
            # set up at the provider, as the cron their creation woke does
            domains._provider_start_verification()
            env.flush_all()
            # checked an hour ago: due for this run
            env.cr.execute(
                "UPDATE emboux_domain SET provider_checked_at = %s WHERE id = ANY(%s)",
                [fields.Datetime.now() - timedelta(hours=1), self.ids],
            )
        self.addCleanup(self._drop_domains)
        # the provider verified them all meanwhile: the poll will tell
        for name in self.names:
            self.mailgun.domains[name]["state"] = "active"

    def _drop_domains(self):
        with self.env_cr() as env:
            env["emboux.domain"].browse(self.ids).exists().unlink()

    def statuses(self):
        with self.env_cr() as env:
            env.cr.execute(
                "SELECT name, verification_status FROM emboux_domain WHERE id = ANY(%s)",
                [self.ids],
            )
            return dict(env.cr.fetchall())

    def test_domain_held_by_a_request_is_left_for_the_next_run(self):
        busy = self.names[1]
        self.hold(
            "UPDATE emboux_domain SET write_date = now() AT TIME ZONE 'UTC' WHERE id = %s",
            [self.ids[1]],
        )
        records = self.run_cron(self.cron_id)
        self.assertEqual(
            self.statuses(),
            {self.names[0]: "verified", busy: "pending", self.names[2]: "verified"},
        )
        retried = self.messages(records, self.LOGGER)
        self.assertTrue(any("LockNotAvailable" in m for m in retried), retried)
        self.assertTrue(any(busy in m and "retried in" in m for m in retried), retried)
        self.assertEqual(len(self.triggers(self.cron_id)), 1)  # the retry
        # the request ends; the next run (the trigger's) verifies it
        self.holder.commit()
        self.run_cron(self.cron_id)
        self.assertEqual(set(self.statuses().values()), {"verified"})

    def test_update_committed_during_the_run_is_retried_at_once(self):
        self.hold(
            "UPDATE emboux_domain SET write_date = now() AT TIME ZONE 'UTC' WHERE id = %s",
            [self.ids[1]],
        )
        thread = self.release_when_waited_on()
        try:
            records = self.run_cron(self.cron_id)
        finally:
            thread.join(60)
        retried = self.messages(records, self.LOGGER)
        self.assertTrue(any("SerializationFailure" in m for m in retried), retried)
        # the batch was rolled back, then each domain polled again on a
        # fresh snapshot: nothing is left for later
        self.assertEqual(set(self.statuses().values()), {"verified"})
        self.assertEqual(self.triggers(self.cron_id), [])


@tagged("post_install", "-at_install")
class TestMaintenanceCronConcurrency(CronRaceCase):
    def test_webhook_purge_meets_a_delivery(self):
        cron_id = self.remember_cron(GC_CRON)
        key = "race-" + uuid.uuid4().hex
        with self.env_cr() as env:
            env.cr.execute(
                "INSERT INTO emboux_webhook_event (source, key, received_at)"
                " VALUES ('mailgun', %s, %s) RETURNING id",
                [key, fields.Datetime.now() - timedelta(days=30)],
            )
            event_id = env.cr.fetchone()[0]
        self.addCleanup(self._drop_event, event_id)
        self.hold("UPDATE emboux_webhook_event SET outcome = 'ignored' WHERE id = %s", [event_id])
        thread = self.release_when_waited_on()
        try:
            records = self.run_cron(cron_id)
        finally:
            thread.join(60)
        logger = "odoo.addons.emboux_outbound.models.emboux_webhook_event"
        self.assertTrue(
            any("not purged" in m for m in self.messages(records, logger)),
            [r.getMessage() for r in records],
        )
        self.assertTrue(self.event_exists(event_id))
        self.assertEqual(len(self.triggers(cron_id)), 1)
        self.run_cron(cron_id)
        self.assertFalse(self.event_exists(event_id))

    def event_exists(self, event_id):
        with self.env_cr() as env:
            env.cr.execute("SELECT 1 FROM emboux_webhook_event WHERE id = %s", [event_id])
            return bool(env.cr.fetchall())

    def _drop_event(self, event_id):
        with self.env_cr() as env:
            env.cr.execute("DELETE FROM emboux_webhook_event WHERE id = %s", [event_id])

    def test_daily_reset_meets_a_send_decision(self):
        cron_id = self.remember_cron(RESET_CRON)
        tag = uuid.uuid4().hex[:8]
        with self.env_cr() as env:
            last_reset = env["ir.config_parameter"].get_param(LAST_DAILY_RESET_PARAM)
            domain = env["emboux.domain"].create({"name": f"reset-{tag}.test"})
            domain_id = domain.id
            env.cr.execute(
                "UPDATE emboux_outbound_counter SET sent_today = 4, sent_this_month = 4"
                " WHERE domain_id = %s",
                [domain_id],
            )
        self.addCleanup(self._drop_reset_data, domain_id, last_reset)
        # a send decision counting one more message on that row
        self.hold(
            "UPDATE emboux_outbound_counter SET sent_today = sent_today + 1,"
            " sent_this_month = sent_this_month + 1 WHERE domain_id = %s",
            [domain_id],
        )
        thread = self.release_when_waited_on()
        try:
            records = self.run_cron(cron_id)
        finally:
            thread.join(60)
        logger = "odoo.addons.emboux_outbound.models.emboux_outbound_counter"
        self.assertTrue(
            any("lost a race" in m for m in self.messages(records, logger)),
            [r.getMessage() for r in records],
        )
        with self.env_cr() as env:
            env.cr.execute(
                "SELECT c.sent_today, (SELECT sum(sent) FROM emboux_outbound_daily h"
                " WHERE h.domain_id = c.domain_id) FROM emboux_outbound_counter c"
                " WHERE c.domain_id = %s",
                [domain_id],
            )
            # reset on the retry: nothing lost, the 5th message included
            self.assertEqual(env.cr.fetchone(), (0, 5))

    def _drop_reset_data(self, domain_id, last_reset):
        with self.env_cr() as env:
            env["ir.config_parameter"].set_param(LAST_DAILY_RESET_PARAM, last_reset)
            env["emboux.domain"].browse(domain_id).exists().unlink()
