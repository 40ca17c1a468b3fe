"""Client of Dovecot 2.3's doveadm HTTP API (``/doveadm/v1``), so that the
suite and the mail store may live on different hosts.

One command per request, as Dovecot's documentation advises: a JSON array
``[[command, {parameters}, tag]]`` posted with ``Authorization:
X-Dovecot-API <base64 of doveadm_api_key>``. Dovecot answers
``[["doveadmResponse", [rows...], tag]]``, or ``[["error", {"type":
"exitCode", "exitCode": N}, tag]]`` with doveadm's exit code (67: unknown
user, 68: no such mailbox...).

Configured by ``emboux_doveadm_url`` (env ``EMBOUX_DOVEADM_URL``, e.g.
``http://127.0.0.1:8080/doveadm/v1``), ``emboux_doveadm_api_key``
(``EMBOUX_DOVEADM_API_KEY``) and ``emboux_doveadm_timeout``
(``EMBOUX_DOVEADM_TIMEOUT``, seconds, default 30), read at each
:meth:`DoveadmClient.from_config`; the environment wins. The key is never
logged nor put in an error message; the messages of :class:`DoveadmError`
name neither the URL nor the key, so they can be shown to customers.
"""

import base64
from dataclasses import dataclass
import logging

import requests

from .tools import _, get_config

# no environment here: messages translated at once by tools._
# pylint: disable=prefer-env-translation

_logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
# doveadm's exit codes (sysexits.h) as Dovecot documents them
EXIT_CODES = {
    64: "incorrect parameters",
    65: "data error",
    67: "unknown user",
    68: "no such mailbox",
    69: "service unavailable",
    73: "cannot create",
    75: "temporary failure",
    77: "permission denied",
    78: "configuration error",
}
EXIT_NO_SUCH_MAILBOX = 68


class DoveadmError(Exception):
    """A doveadm call that failed. ``fatal``: every other call would fail
    the same way (not configured, unreachable, key refused), so a run stops
    calling."""

    fatal = False


class DoveadmNotConfigured(DoveadmError):
    fatal = True


class DoveadmUnreachable(DoveadmError):
    fatal = True


class DoveadmCommandError(DoveadmError):
    """Dovecot ran the command and it failed with doveadm's ``exit_code``."""

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class QuotaUsage:
    """``doveadm quota get``: storage in KiB (as Dovecot counts it), the
    number of messages, and Dovecot's own storage limit in KiB (None:
    unlimited)."""

    storage_kb: int
    messages: int
    limit_kb: int | None


def timeout_option():
    value = get_config("emboux_doveadm_timeout", default=DEFAULT_TIMEOUT)
    try:
        return max(float(value), 0.1)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT


class DoveadmClient:
    """One HTTP session (kept-alive connection) to doveadm; use it as a
    context manager."""

    def __init__(self, url, api_key, timeout=DEFAULT_TIMEOUT):
        self.url = url
        self._auth = "X-Dovecot-API " + base64.b64encode(api_key.encode("utf-8")).decode("ascii")
        self.timeout = timeout
        self.session = requests.Session()
        self._tag = 0

    def __repr__(self):
        return f"<DoveadmClient {self.url}>"  # never the key

    @classmethod
    def from_config(cls):
        """The client of the configuration, or DoveadmNotConfigured naming
        the missing options."""
        url = get_config("emboux_doveadm_url")
        key = get_config("emboux_doveadm_api_key")
        missing = [
            name
            for name, value in (
                ("emboux_doveadm_url (EMBOUX_DOVEADM_URL)", url),
                ("emboux_doveadm_api_key (EMBOUX_DOVEADM_API_KEY)", key),
            )
            if not value
        ]
        if missing:
            raise DoveadmNotConfigured(
                _(
                    "Dovecot's doveadm HTTP API is not configured: set %(options)s",
                    options=" and ".join(missing),
                )
            )
        return cls(url.rstrip("/"), key, timeout_option())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.session.close()

    # ------------------------------------------------------------------
    # the protocol
    # ------------------------------------------------------------------
    def run(self, command, **parameters):
        """The rows Dovecot answers for ``command``; DoveadmError else."""
        self._tag += 1
        tag = f"emboux{self._tag}"
        try:
            response = self.session.post(
                self.url,
                json=[[command, parameters, tag]],
                headers={"Authorization": self._auth},
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            raise DoveadmUnreachable(
                _("Dovecot did not answer within %(seconds)s s", seconds=f"{self.timeout:g}")
            ) from exc
        except requests.RequestException as exc:
            # the exception names the URL, never the key: the log may have it
            _logger.debug("doveadm %s: %s", command, exc)
            raise DoveadmUnreachable(
                _("Dovecot could not be reached (%(error)s)", error=type(exc).__name__)
            ) from exc
        if response.status_code in (401, 403):
            raise DoveadmUnreachable(
                _("Dovecot refused the doveadm API key (HTTP %(code)s)", code=response.status_code)
            )
        if response.status_code != 200:
            raise DoveadmUnreachable(
                _(
                    "Dovecot answered HTTP %(code)s: %(text)s",
                    code=response.status_code,
                    text=response.text.strip()[:200],
                )
            )
        try:
            answer = response.json()
            kind, body, answered_tag = answer[0]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise DoveadmUnreachable(
                _("Dovecot's answer is not a doveadm response: %(text)s", text=response.text[:200])
            ) from exc
        if answered_tag != tag:
            raise DoveadmUnreachable(
                _("Dovecot answered another command (tag %(tag)s)", tag=answered_tag)
            )
        if kind == "doveadmResponse":
            return body
        if kind == "error" and isinstance(body, dict):
            code = body.get("exitCode")
            what = EXIT_CODES.get(code) or str(body.get("type") or "error")
            raise DoveadmCommandError(
                _("%(what)s (doveadm exit code %(code)s)", what=what, code=code), exit_code=code
            )
        raise DoveadmUnreachable(
            _("Dovecot's answer is not a doveadm response: %(text)s", text=response.text[:200])
        )

    # ------------------------------------------------------------------
    # the commands the suite uses
    # ------------------------------------------------------------------
    def expunge_older_than(self, user, days):
        """``doveadm expunge -u USER mailbox '*' before <days>d``: in every
        folder, the messages whose INTERNALDATE (the time Dovecot received
        them, kept when a message is moved or copied, and set from the
        original by an IMAP APPEND or a migration) is more than ``days``
        days before Dovecot's own clock. A user with no such mailbox (68) has
        nothing to expunge."""
        try:
            self.run("expunge", user=user, query=["mailbox", "*", "before", f"{int(days)}d"])
        except DoveadmCommandError as exc:
            if exc.exit_code != EXIT_NO_SUCH_MAILBOX:
                raise

    def quota_get(self, user):
        """``doveadm quota get -u USER`` as a :class:`QuotaUsage`."""
        rows = self.run("quotaGet", user=user)
        usage = {"STORAGE": (0, None), "MESSAGE": (0, None)}
        for row in rows or []:
            kind = str(row.get("type", "")).upper()
            if kind in usage:
                usage[kind] = (_int(row.get("value")), _int(row.get("limit"), None))
        storage, limit = usage["STORAGE"]
        # "0" is no limit too (quota_rule *:storage=0)
        return QuotaUsage(storage_kb=storage, messages=usage["MESSAGE"][0], limit_kb=limit or None)


def _int(value, default=0):
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default
