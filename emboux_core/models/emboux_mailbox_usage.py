"""Storage used by each mailbox, as Dovecot's quota counts it (``doveadm
quota get`` through the doveadm HTTP API, see ``..doveadm``): read by a
cron and on demand from the mailbox form, stored with the time it was read.

As for the retention purge, no network call happens inside a transaction
holding a lock: the cron reads a batch of addresses, commits, asks
Dovecot, then writes the batch in one statement and commits.
"""

import logging
import math

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..access import check_staff
from ..doveadm import DoveadmClient, DoveadmError
from ..doveadm_run import ask_each, write_answers

_logger = logging.getLogger(__name__)

USAGE_BATCH = 200
USAGE_FIELDS = ("used_kb", "used_mb", "used_messages", "used_at")


class EmbouxMailbox(models.Model):
    _inherit = "emboux.mailbox"

    used_kb = fields.Integer(
        string="Storage Used (KiB)", readonly=True, copy=False, help="As Dovecot's quota counts it."
    )
    used_mb = fields.Integer(
        string="Storage Used (MB)", readonly=True, copy=False, help="Rounded up to the next MB."
    )
    used_messages = fields.Integer(string="Messages", readonly=True, copy=False)
    used_at = fields.Datetime(
        string="Usage Read At",
        readonly=True,
        copy=False,
        help="When Dovecot last reported the storage used; empty until first read.",
    )
    used_percent = fields.Float(
        string="Quota Used (%)",
        compute="_compute_used_percent",
        help="Storage used against the quota; 0 when unlimited or not read yet.",
    )

    @api.depends("used_kb", "quota_mb", "used_at")
    def _compute_used_percent(self):
        for mailbox in self:
            if mailbox.used_at and mailbox.quota_mb:
                mailbox.used_percent = min(100.0 * mailbox.used_kb / (mailbox.quota_mb * 1024), 100)
            else:
                mailbox.used_percent = 0.0

    # ------------------------------------------------------------------
    # the form's button
    # ------------------------------------------------------------------
    def action_refresh_usage(self):
        """Ask Dovecot now for the storage used by these mailboxes (Emboux
        staff only). An unconfigured or unreachable Dovecot is a UserError
        saying so; a mailbox Dovecot does not know is named in a warning."""
        check_staff(self.env)
        try:
            with DoveadmClient.from_config() as client:
                failures = self.sudo()._usage_read(client)
        except DoveadmError as exc:
            raise UserError(
                self.env._("The storage used could not be read: %(error)s", error=exc)
            ) from exc
        if failures:
            message = "\n".join(f"{email}: {error}" for email, error in failures)
            kind = "warning"
        else:
            message = self.env._(
                "Storage used read from Dovecot for %(count)s mailbox(es).", count=len(self)
            )
            kind = "success"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Storage Used"),
                "message": message,
                "type": kind,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------
    # the cron
    # ------------------------------------------------------------------
    @api.model
    def _cron_refresh_usage(self, batch_size=USAGE_BATCH):
        """Every mailbox (archived ones too), the longest unread first, in
        batches of ``batch_size``; in the cron each batch is committed and
        the run stops when its time is up (the next run goes on). Dovecot
        unreachable or not configured: a warning, and the next run tries
        again. Answers the number of mailboxes read."""
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        Cron = self.env["ir.cron"]
        # every mailbox, archived ones included (they keep their Maildir),
        # the least recently read first
        ids = [
            row[0]
            for row in self.env.execute_query(
                SQL("SELECT id FROM emboux_mailbox ORDER BY used_at ASC NULLS FIRST, id")
            )
        ]
        if in_cron:
            Cron._commit_progress(remaining=len(ids))
        if not ids:
            return 0
        try:
            client = DoveadmClient.from_config()
        except DoveadmError as exc:
            _logger.warning("Storage usage: %s", exc)
            return 0
        read = 0
        with client:
            for start in range(0, len(ids), batch_size):
                batch = self.sudo().browse(ids[start : start + batch_size]).exists()
                try:
                    failures = batch._usage_read(client, in_cron=in_cron)
                except DoveadmError as exc:
                    _logger.warning("Storage usage: %s; tried again at the next run", exc)
                    break
                if failures:
                    _logger.info(
                        "Storage usage not read for %s mailbox(es), e.g. %s: %s",
                        len(failures),
                        *failures[0],
                    )
                read += len(batch) - len(failures)
                if in_cron and Cron._commit_progress(len(batch)) <= 0:
                    break
        return read

    def _usage_read(self, client, in_cron=False):
        """Ask Dovecot for these mailboxes' usage and store it. A fatal
        DoveadmError (unreachable, refused) is raised before anything is
        written; the mailboxes Dovecot answered an error for are skipped
        and answered as ``[(address, message)]``."""
        ids = {mailbox.email: mailbox.id for mailbox in self}
        answers, failures, fatal = ask_each(self.env.cr, list(ids), client.quota_get, in_cron)
        if fatal:
            raise fatal
        rows = [
            (ids[email], usage.storage_kb, math.ceil(usage.storage_kb / 1024), usage.messages)
            for email, usage in answers
        ]
        if rows:
            self._usage_write(rows, in_cron)
        return failures

    def _usage_write(self, rows, in_cron):
        """One UPDATE for ``[(id, kb, mb, messages)]`` (SQL: a reading, not
        an edit, so the mailboxes' write date stays). In the cron a row
        another transaction holds is waited for a while (``write_answers``);
        a batch lost to a concurrent update is left for the next run."""
        values = SQL(", ").join(SQL("(%s, %s, %s, %s)", *row) for row in rows)
        query = SQL(
            """UPDATE emboux_mailbox m
                  SET used_kb = v.kb, used_mb = v.mb, used_messages = v.messages, used_at = %s
                 FROM (VALUES %s) AS v(id, kb, mb, messages)
                WHERE m.id = v.id""",
            fields.Datetime.now(),
            values,
        )
        self.flush_model(list(USAGE_FIELDS))
        lost = write_answers(self.env.cr, query, in_cron)
        if lost:
            _logger.info(
                "Storage usage of %s mailbox(es) not recorded (%s); read again at the next run",
                len(rows),
                lost,
            )
        self.browse([row[0] for row in rows]).invalidate_recordset([*USAGE_FIELDS, "used_percent"])
