"""Keep API tokens out of the server log.

``GET /api/api-keys/{token}/usage`` carries a customer's whole token in its
path, and Odoo's request log (logger ``werkzeug``, one line per request) and
any error line naming the path would write it out. :class:`TokenLogFilter`
rewrites every ``emb_`` token of a record to its prefix (the 12 characters
``emboux.api.key`` keeps as ``prefix``, enough to tell keys apart) followed
by ``…``. It is installed when the addon is imported: on the ``werkzeug``
logger, and on the handlers of the root logger (Odoo's console, file or
syslog handler, set up before the addons are imported), so that a path
logged by any other logger (``odoo.http``, the fastapi addon, our routes)
is cut too.
"""

import logging
import re

# emboux_saas.models.emboux_api_key: "emb_" + token_urlsafe(32), prefix 12
TOKEN_RE = re.compile(r"emb_[A-Za-z0-9_-]{9,}")
PREFIX_LENGTH = 12
ELLIPSIS = "…"


def redact_tokens(text):
    """``text`` with each API token cut to its prefix and ``…``."""
    if "emb_" not in text:
        return text
    return TOKEN_RE.sub(lambda match: match.group(0)[:PREFIX_LENGTH] + ELLIPSIS, text)


class TokenLogFilter(logging.Filter):
    """Rewrites the tokens of a record (message and arguments); never drops
    a record."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- a broken record is logging's to report
            return True
        if "emb_" in message and TOKEN_RE.search(message):
            # the formatted line, already cut: no argument is left to leak
            record.msg = redact_tokens(message)
            record.args = None
        if isinstance(record.exc_info, tuple) and not record.exc_text:
            # an exception's message may hold the path too (its traceback
            # is formatted once and cached in exc_text)
            text = logging.Formatter().formatException(record.exc_info)
            if "emb_" in text:
                record.exc_text = redact_tokens(text)
        return True


_FILTER = TokenLogFilter()


def install():
    """Add the filter to ``werkzeug`` and to the root logger's handlers,
    once (idempotent: a module reloaded keeps one filter)."""
    targets = [logging.getLogger("werkzeug"), *logging.getLogger().handlers]
    for target in targets:
        if not any(isinstance(f, TokenLogFilter) for f in target.filters):
            target.addFilter(_FILTER)
