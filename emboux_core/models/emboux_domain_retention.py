"""The retention purge: Dovecot expunges, in every folder of every mailbox
of an active domain with ``retention_days`` > 0, the messages received more
than that many days ago (doveadm HTTP API, see ``..doveadm``).

No network call inside a transaction that holds a lock: the scheduled run
reads a domain and its mailboxes, commits, calls Dovecot, then records the
outcome in a short transaction of its own and commits again, domain after
domain, so one failing domain never stops the others. A call from the form
or the REST API does the same in its request's transaction, writing only
after Dovecot answered.
"""

from dataclasses import dataclass, field
import logging

from odoo import api, fields, models
from odoo.tools import SQL

from ..access import check_master
from ..doveadm import DoveadmClient, DoveadmError
from ..doveadm_run import ask_each, write_answers
from ..exceptions import EmbouxInputError

_logger = logging.getLogger(__name__)

# Dovecot failed this many domains in a row as a whole (unreachable, key
# refused): the rest of the run records that error without calling again
UNREACHABLE_DOMAINS_LIMIT = 3
MAX_LISTED_FAILURES = 5


@dataclass
class PurgeOutcome:
    """What Dovecot answered for the mailboxes of one domain."""

    days: int
    total: int
    purged: int = 0
    failures: list = field(default_factory=list)  # (address, message)
    fatal: str | None = None  # Dovecot failed as a whole

    @property
    def unreachable(self):
        return self.fatal is not None and not self.purged


class EmbouxDomain(models.Model):
    _inherit = "emboux.domain"

    last_purge_at = fields.Datetime(
        string="Last Purge",
        readonly=True,
        copy=False,
        help="When the retention purge last ran for this domain, whatever Dovecot answered.",
    )
    last_purge_result = fields.Text(
        string="Last Purge Answer", readonly=True, copy=False, help="What Dovecot answered."
    )
    last_purge_error = fields.Text(
        readonly=True,
        copy=False,
        help="Why the last purge failed, wholly or for some mailboxes; the next run retries.",
    )

    # ------------------------------------------------------------------
    # business method: the form's button and POST /domains/{name}/retention/purge
    # ------------------------------------------------------------------
    def action_purge_retention(self):
        """Run the retention purge of these domains now (master only). A
        suspended domain or one that keeps mail forever is refused
        (EmbouxInputError naming ``status`` or ``retention_days``).
        Whatever Dovecot answers is recorded on the domain."""
        check_master(self.env)
        for domain in self:
            if domain.status != "active":
                raise EmbouxInputError(
                    "status",
                    self.env._(
                        "%(name)s is suspended; a suspended domain is never purged",
                        name=domain.name,
                    ),
                )
            if domain.retention_days <= 0:
                raise EmbouxInputError(
                    "retention_days",
                    self.env._(
                        "%(name)s keeps mail forever (0 days); nothing to purge",
                        name=domain.name,
                    ),
                )
        self.sudo()._retention_purge()
        failed = self.filtered("last_purge_error")
        lines = [
            f"{domain.name}: {domain.last_purge_error or domain.last_purge_result}"
            for domain in self
        ]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Retention Purge"),
                "message": "\n".join(lines),
                "type": "warning" if failed else "success",
                "sticky": bool(failed),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------
    # the daily cron
    # ------------------------------------------------------------------
    @api.model
    def _cron_retention_purge(self):
        """Every active domain with retention, the longest unpurged first
        (a run cut short by the cron's time limit goes on there next time).
        Then the storage usage is read again, lower after a purge."""
        in_cron = bool(self.env.context.get("ir_cron_progress_id"))
        domains = self.sudo().search(
            [("status", "=", "active"), ("retention_days", ">", 0)],
            order="last_purge_at asc nulls first, id",
        )
        domains._retention_purge(in_cron=in_cron)
        usage_cron = self.env.ref("emboux_core.ir_cron_emboux_mailbox_usage", False)
        if usage_cron and domains:
            usage_cron.sudo()._trigger()
        return len(domains)

    def _retention_purge(self, in_cron=False):
        """Purge these domains one after the other. Each is read again just
        before its purge (a domain suspended or set to keep mail meanwhile
        is skipped). In the cron, the transaction is committed before each
        call to Dovecot and after each domain's outcome is written."""
        Cron = self.env["ir.cron"]
        if in_cron:
            Cron._commit_progress(remaining=len(self))
        try:
            client = DoveadmClient.from_config()
        except DoveadmError as exc:
            client, skip_error = None, str(exc)
            if self:
                _logger.warning("Retention purge: %s", exc)
        else:
            skip_error = None
        streak = 0
        try:
            for domain in self:
                plan = domain._retention_plan()
                if plan is not None:
                    name, days, emails = plan
                    if skip_error:
                        outcome = PurgeOutcome(days, len(emails), fatal=skip_error)
                    else:
                        outcome = self._retention_purge_mailboxes(client, emails, days, in_cron)
                        if outcome.fatal or outcome.failures:
                            _logger.warning(
                                "Retention purge of %s: %s",
                                name,
                                domain._retention_error_text(outcome),
                            )
                    streak = streak + 1 if outcome.unreachable else 0
                    if streak >= UNREACHABLE_DOMAINS_LIMIT and not skip_error:
                        skip_error = self.env._(
                            "not tried in this run: %(error)s", error=outcome.fatal
                        )
                        _logger.warning(
                            "Retention purge: Dovecot failed %s domains in a row (%s); "
                            "the remaining ones are tried again at the next run",
                            streak,
                            outcome.fatal,
                        )
                    domain._retention_record(name, outcome, in_cron)
                if in_cron and Cron._commit_progress(1) <= 0:
                    break
        finally:
            if client is not None:
                client.close()

    def _retention_plan(self):
        """``(name, retention days, addresses of every mailbox, archived
        ones too: they keep their Maildir)``, or None when the domain is
        gone, suspended or keeps mail forever."""
        self.ensure_one()
        domain = self.sudo().exists()
        if not domain or domain.status != "active" or domain.retention_days <= 0:
            return None
        mailboxes = (
            self.env["emboux.mailbox"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch([("domain_id", "=", domain.id)], ["email"], order="email")
        )
        return domain.name, domain.retention_days, mailboxes.mapped("email")

    @api.model
    def _retention_purge_mailboxes(self, client, emails, days, in_cron=False):
        """Ask Dovecot to expunge, mailbox after mailbox (in the cron, after
        a commit); no database."""
        purged, failures, fatal = ask_each(
            self.env.cr, emails, lambda email: client.expunge_older_than(email, days), in_cron
        )
        return PurgeOutcome(days, len(emails), len(purged), failures, str(fatal) if fatal else None)

    def _retention_error_text(self, outcome):
        if outcome.fatal and not outcome.purged:
            return outcome.fatal
        lines = []
        if outcome.fatal:
            lines.append(
                self.env._(
                    "%(error)s after %(purged)s of %(total)s mailboxes",
                    error=outcome.fatal,
                    purged=outcome.purged,
                    total=outcome.total,
                )
            )
        if outcome.failures:
            lines.append(
                self.env._(
                    "%(count)s of %(total)s mailboxes failed:",
                    count=len(outcome.failures),
                    total=outcome.total,
                )
            )
            lines += [
                f"{email}: {error}" for email, error in outcome.failures[:MAX_LISTED_FAILURES]
            ]
            if len(outcome.failures) > MAX_LISTED_FAILURES:
                lines.append(
                    self.env._(
                        "... and %(count)s more",
                        count=len(outcome.failures) - MAX_LISTED_FAILURES,
                    )
                )
        return "\n".join(lines) or None

    def _retention_record(self, name, outcome, in_cron=False):
        """Write the outcome on the domain (SQL: a reading, not an edit of
        the domain, so its write date stays). In the cron a concurrent
        update of the row is waited for a while (``write_answers``) and
        retried once on a fresh snapshot; in a request it is raised, and
        Odoo retries the request."""
        self.ensure_one()
        error = self._retention_error_text(outcome)
        result = self.env._(
            "Dovecot expunged the messages received more than %(days)s days ago in every "
            "folder of %(purged)s of %(total)s mailboxes.",
            days=outcome.days,
            purged=outcome.purged,
            total=outcome.total,
        )
        query = SQL(
            "UPDATE emboux_domain SET last_purge_at = %s, last_purge_result = %s, "
            "last_purge_error = %s WHERE id = %s",
            fields.Datetime.now(),
            result,
            error,
            self.id,
        )
        self.flush_recordset(["last_purge_at", "last_purge_result", "last_purge_error"])
        lost = write_answers(
            self.env.cr, query, in_cron, attempts=2, what=f"Retention purge of {name}"
        )
        if lost:
            _logger.warning("Retention purge of %s: outcome not recorded (%s); it ran", name, lost)
        self.invalidate_recordset(["last_purge_at", "last_purge_result", "last_purge_error"])
