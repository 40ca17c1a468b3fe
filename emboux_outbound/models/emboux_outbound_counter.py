"""Sending counters of a domain, one row per domain.

The rows the send decision updates for every message live apart from
``emboux_domain`` so that a busy domain's counting never locks (nor
conflicts with) an edit of its settings, its mailboxes' quota checks or a
tenant transfer. They are written only by single SQL statements (the send
decision in ``emboux_domain_sending.py``, the resets below, the bounce and
complaint counting of ``emboux.suppression``), never read-modify-write in
Python. A domain's row is made when the domain is created (and on demand
by the send decision, for domains inserted in plain SQL); it goes with the
domain (``ON DELETE CASCADE``).
"""

from datetime import timedelta
import logging
import random
import time

from odoo import api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from odoo.addons.emboux_core.access import check_master
from odoo.addons.emboux_core.tools import quiet_concurrency_errors

from ..sending_config import HISTORY_KEEP_DAYS

# parameters remembering the last reset, for the day/month the next one
# files its counts under
LAST_DAILY_RESET_PARAM = "emboux_outbound.last_daily_reset"
LAST_MONTHLY_RESET_PARAM = "emboux_outbound.last_monthly_reset"
# processed provider events kept for de-duplication
EVENT_RETENTION_DAYS = 30
# attempts of a reset cron that loses a race with a send decision; after
# the last one it runs again this many minutes later
CRON_TRIES = 5
CRON_RETRY_MINUTES = 5
RESET_CRONS = {
    "reset_daily": "emboux_outbound.ir_cron_outbound_reset_daily",
    "reset_monthly": "emboux_outbound.ir_cron_outbound_reset_monthly",
}

_logger = logging.getLogger(__name__)

COUNTER_COLUMNS = (
    "sent_today",
    "sent_this_month",
    "sent_this_hour",
    "transfer_bytes",
    "bounces_today",
    "complaints_today",
)


class EmbouxOutboundCounter(models.Model):
    _name = "emboux.outbound.counter"
    _description = "Outbound sending counters of a domain"
    _rec_name = "domain_id"
    _order = "domain_id"

    domain_id = fields.Many2one(
        "emboux.domain", required=True, ondelete="cascade", index=False, readonly=True
    )
    sent_today = fields.Integer(default=0, readonly=True, help="Since the last daily reset.")
    sent_this_month = fields.Integer(default=0, readonly=True, help="Since the last monthly reset.")
    sent_this_hour = fields.Integer(
        default=0, readonly=True, help="In the clock hour starting at Hour Start (UTC)."
    )
    hour_start = fields.Datetime(readonly=True, help="Start of the hour Sent This Hour counts.")
    # numeric(20, 0): bytes of a month overflow a 32-bit integer
    transfer_bytes = fields.Float(
        digits=(20, 0), default=0, readonly=True, help="Bytes sent since the last monthly reset."
    )
    bounces_today = fields.Integer(default=0, readonly=True)
    complaints_today = fields.Integer(default=0, readonly=True)

    _domain_uniq = models.Constraint("UNIQUE(domain_id)", "A domain has one counter row.")

    @api.model
    def _ensure_rows(self, domain_ids=None):
        """Make the missing counter rows (of ``domain_ids``, else of every
        domain) in one statement; safe against a concurrent insert. The SQL
        function ``emboux_outbound_ensure_counters``, which the send
        decision calls too; emboux.send.decision makes every domain's at
        install and upgrade."""
        self.env.execute_query(
            SQL(
                "SELECT emboux_outbound_ensure_counters(%s::integer[])",
                None if domain_ids is None else list(domain_ids),
            )
        )

    # ------------------------------------------------------------------
    # resets (API POST /outbound/reset-daily, reset-monthly, and crons)
    # ------------------------------------------------------------------
    @api.model
    def _period_day(self, param, now):
        """The day the counts being closed belong to: yesterday for the
        midnight run, but never before the day of the previous reset (a
        second run on one day files the new counts under that day)."""
        ICP = self.env["ir.config_parameter"].sudo()
        day = now.date() - timedelta(days=1)
        last = fields.Datetime.to_datetime(ICP.get_param(param) or False)
        if last and last.date() > day:
            day = min(last.date(), now.date())
        ICP.set_param(param, fields.Datetime.to_string(now))
        return day

    @api.model
    def reset_daily(self):
        """Close the day for every domain, set-based: add each domain's
        ``sent_today`` (and today's bounces and complaints) to its daily
        history row (upsert per domain and day, so a second run on one day
        adds to the same row and loses nothing), zero the day and the
        hour, drop history older than 400 days (HISTORY_KEEP_DAYS) and old processed events.
        Returns the number of domains whose counters were reset (those with
        anything to reset: idle domains' rows are not rewritten)."""
        check_master(self.env)
        self.env.flush_all()
        now = fields.Datetime.now()
        day = self._period_day(LAST_DAILY_RESET_PARAM, now)
        rows = self.env.execute_query(
            SQL(
                """
                WITH old AS (
                    SELECT id, domain_id, sent_today, bounces_today, complaints_today
                      FROM emboux_outbound_counter
                     WHERE sent_today <> 0 OR sent_this_hour <> 0
                        OR bounces_today <> 0 OR complaints_today <> 0
                       FOR UPDATE
                ), zeroed AS (
                    UPDATE emboux_outbound_counter c
                       SET sent_today = 0, sent_this_hour = 0, hour_start = NULL,
                           bounces_today = 0, complaints_today = 0,
                           write_date = %(now)s
                      FROM old
                     WHERE c.id = old.id
                    RETURNING c.id
                ), saved AS (
                    INSERT INTO emboux_outbound_daily
                           (domain_id, day, sent, bounces, complaints, create_date, write_date)
                    SELECT domain_id, %(day)s, sent_today, bounces_today, complaints_today,
                           %(now)s, %(now)s
                      FROM old
                     WHERE sent_today <> 0 OR bounces_today <> 0 OR complaints_today <> 0
                    ON CONFLICT (domain_id, day) DO UPDATE
                       SET sent = emboux_outbound_daily.sent + EXCLUDED.sent,
                           bounces = emboux_outbound_daily.bounces + EXCLUDED.bounces,
                           complaints = emboux_outbound_daily.complaints + EXCLUDED.complaints,
                           write_date = EXCLUDED.write_date
                )
                SELECT count(*) FROM zeroed
                """,
                now=now,
                day=day,
            )
        )
        self.env.execute_query(
            SQL(
                "DELETE FROM emboux_outbound_daily WHERE day < %s",
                now.date() - timedelta(days=HISTORY_KEEP_DAYS),
            )
        )
        self.env.execute_query(
            SQL(
                "DELETE FROM emboux_outbound_event WHERE create_date < %s",
                now - timedelta(days=EVENT_RETENTION_DAYS),
            )
        )
        self._invalidate_counters()
        return rows[0][0]

    @api.model
    def reset_monthly(self):
        """Freeze the month for every domain, set-based: add each domain's
        ``sent_this_month`` and transfer to its monthly history row (upsert
        per domain and month), then zero them, and the domain's
        ``transfer_used_mb``. Returns the number of domains reset (those
        with a count or a transfer to reset)."""
        check_master(self.env)
        self.env.flush_all()
        now = fields.Datetime.now()
        month = self._period_day(LAST_MONTHLY_RESET_PARAM, now).replace(day=1)
        rows = self.env.execute_query(
            SQL(
                """
                WITH old AS (
                    SELECT c.id, c.domain_id, c.sent_this_month, c.transfer_bytes
                      FROM emboux_outbound_counter c
                     WHERE c.sent_this_month <> 0 OR c.transfer_bytes <> 0
                       FOR UPDATE
                ), zeroed AS (
                    UPDATE emboux_outbound_counter c
                       SET sent_this_month = 0, transfer_bytes = 0, write_date = %(now)s
                      FROM old
                     WHERE c.id = old.id
                    RETURNING c.domain_id
                ), saved AS (
                    INSERT INTO emboux_outbound_monthly
                           (domain_id, month, sent, transfer_bytes, create_date, write_date)
                    SELECT domain_id, %(month)s, sent_this_month, transfer_bytes, %(now)s, %(now)s
                      FROM old
                    ON CONFLICT (domain_id, month) DO UPDATE
                       SET sent = emboux_outbound_monthly.sent + EXCLUDED.sent,
                           transfer_bytes = emboux_outbound_monthly.transfer_bytes
                                            + EXCLUDED.transfer_bytes,
                           write_date = EXCLUDED.write_date
                ), transfer AS (
                    UPDATE emboux_domain d SET transfer_used_mb = 0
                     WHERE d.transfer_used_mb <> 0
                    RETURNING d.id
                )
                SELECT count(*) FROM (SELECT domain_id FROM zeroed
                                      UNION SELECT id FROM transfer) reset
                """,
                now=now,
                month=month,
            )
        )
        self._invalidate_counters()
        self.env["emboux.domain"].invalidate_model(["transfer_used_mb"])
        return rows[0][0]

    @api.model
    def _cron_reset_daily(self):
        return self._run_reset_job(self.reset_daily)

    @api.model
    def _cron_reset_monthly(self):
        return self._run_reset_job(self.reset_monthly)

    @api.model
    def _run_reset_job(self, reset):
        """Run ``reset`` in the cron's own transaction, retried with a fresh
        snapshot when a concurrent send decision updated a counter row
        first (as Odoo retries an HTTP request): a failed cron would only
        run again at its next interval, a day or a month later. Losing a
        race is no error: INFO lines, no "bad query" ERROR; after
        ``CRON_TRIES`` lost races a WARNING, and the cron is triggered again
        ``CRON_RETRY_MINUTES`` later (answers None)."""
        name = reset.__name__
        for attempt in range(1, CRON_TRIES + 1):
            try:
                with quiet_concurrency_errors():
                    return reset()
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY as exc:
                self.env.cr.rollback()
                self.env.invalidate_all()
                if attempt == CRON_TRIES:
                    _logger.warning(
                        "%s lost %s races with send decisions (%s); retried in %s minutes",
                        name,
                        CRON_TRIES,
                        type(exc).__name__,
                        CRON_RETRY_MINUTES,
                    )
                    cron = name in RESET_CRONS and self.env.ref(RESET_CRONS[name], False)
                    if cron:
                        cron.sudo()._trigger(
                            fields.Datetime.now() + timedelta(minutes=CRON_RETRY_MINUTES)
                        )
                    return None
                _logger.info("%s lost a race with a send decision; retrying", name)
                time.sleep(random.uniform(0.0, 0.5 * attempt))
        return None

    @api.model
    def _invalidate_counters(self):
        self.invalidate_model()
        self.env["emboux.outbound.daily"].invalidate_model()
        self.env["emboux.outbound.monthly"].invalidate_model()
        self.env["emboux.domain"]._invalidate_outbound_state()
