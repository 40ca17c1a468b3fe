"""What the runs that ask Dovecot share (the retention purge, the storage
usage): read the database, commit in the cron, call Dovecot address after
address with no snapshot and no lock held, then write what it answered in
a short savepoint of its own."""

import logging

from odoo.tools import SQL

from .doveadm import DoveadmError
from .tools import CONCURRENCY_ERRORS, quiet_concurrency_errors

_logger = logging.getLogger(__name__)

# in the cron, the longest a write waits for a row another request holds
LOCK_TIMEOUT = "5s"


def ask_each(cr, emails, call, in_cron=False):
    """``call(address)`` (a doveadm call) for each of ``emails``, after a
    commit in the cron (no network call inside a transaction holding a
    lock). Answers ``(answers, failures, fatal)``: ``[(address, what call
    answered)]``; ``[(address, message)]`` for the addresses Dovecot
    answered an error for; the fatal :class:`DoveadmError` (unreachable,
    key refused) that stopped the calls, or None."""
    if in_cron:
        # no snapshot, no lock while Dovecot works
        cr.commit()  # pylint: disable=invalid-commit
    answers, failures = [], []
    for email in emails:
        try:
            answers.append((email, call(email)))
        except DoveadmError as exc:
            if exc.fatal:
                return answers, failures, exc
            failures.append((email, str(exc)))
    return answers, failures, None


def write_answers(cr, query, in_cron=False, attempts=1, what="Dovecot's answer"):
    """Execute ``query``, the UPDATE storing what Dovecot answered (SQL: a
    reading, not an edit, so the rows' write date stays), in a savepoint.
    In a request a concurrency error is raised (Odoo retries the request).
    In the cron a row another transaction holds is waited for
    ``LOCK_TIMEOUT`` at most, and a concurrency error is tried again on a
    fresh snapshot (a commit), ``attempts`` times in all. Answers None when
    written, else the name of the last error."""
    for attempt in range(1, attempts + 1):
        try:
            with quiet_concurrency_errors(), cr.savepoint(flush=False):
                if in_cron:
                    cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", LOCK_TIMEOUT))
                cr.execute(query)
            return None
        except CONCURRENCY_ERRORS as exc:
            if not in_cron:
                raise
            if attempt == attempts:
                return type(exc).__name__
            _logger.info("%s: recording retried", what)
            # a fresh snapshot
            cr.commit()  # pylint: disable=invalid-commit
    return None
