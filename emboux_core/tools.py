"""Helpers shared by the Emboux addons: normalisation and validation of
domain names and addresses, Dovecot-compatible password hashing and the
configuration lookup, the tokens, and the quieting of expected concurrency
failures in scheduled jobs.

Every validation function raises :class:`~odoo.addons.emboux_core.exceptions.EmbouxInputError`
naming the field at fault (its message a plain sentence); none of them
touches the database.
"""

from contextlib import contextmanager
import hmac
import logging
import os
import re
import threading

import idna
from passlib.hash import sha512_crypt

from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import config
from odoo.tools.translate import LazyTranslate

from .exceptions import EmbouxInputError

_lt = LazyTranslate(__name__, default_lang="en_US")

PASSWORD_SCHEME = "{SHA512-CRYPT}"
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024
# Dovecot's own SHA512-CRYPT uses 5000 rounds: a login stays cheap.
_hasher = sha512_crypt.using(rounds=5000)

DOMAIN_MAX_LENGTH = 253
LABEL_MAX_LENGTH = 63
LOCAL_PART_MAX_LENGTH = 64
ADDRESS_MAX_LENGTH = 254

_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# RFC 5322 atext, and dot-atom: atoms separated by single dots.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL_RE = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$")


# Pure functions without an environment: the message is translated at once
# in the current language (the extractor picks up ``_("...")``).
# pylint: disable=prefer-env-translation
def _(source, **kwargs):
    """The message translated at once (the extractor picks up ``_("...")``)."""
    return str(_lt(source, **kwargs))


def normalize_domain(name, field="name"):
    """Return ``name`` as stored: stripped, lower-case, without the trailing
    dot, internationalised labels in punycode (IDNA 2008 with UTS #46
    mapping). At least two labels of 1-63 letters, digits or inner hyphens,
    253 characters at most, the last one not all digits."""
    if not isinstance(name, str) or not name.strip():
        raise EmbouxInputError(field, _("A domain name is required"))
    shown = name if len(name) <= 80 else name[:77] + "..."
    value = name.strip().lower()
    value = value.removesuffix(".")
    invalid = _("'%(name)s' is not a valid domain name", name=shown)
    if not value or any(ch.isspace() for ch in value):
        raise EmbouxInputError(field, invalid)
    if not value.isascii():
        try:
            value = idna.encode(value, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise EmbouxInputError(field, invalid) from exc
    labels = value.split(".")
    if len(labels) < 2:
        raise EmbouxInputError(
            field,
            _(
                "'%(name)s' is not a valid domain name (it needs at least two labels, e.g. example.com)",  # noqa: E501
                name=shown,
            ),
        )
    if len(value) > DOMAIN_MAX_LENGTH:
        raise EmbouxInputError(
            field,
            _(
                "'%(name)s' is not a valid domain name (at most %(max)s characters)",
                name=shown,
                max=DOMAIN_MAX_LENGTH,
            ),
        )
    for label in labels:
        if not _LABEL_RE.match(label):
            raise EmbouxInputError(field, invalid)
        if label.startswith("xn--"):
            # an A-label must decode to a valid U-label
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError) as exc:
                raise EmbouxInputError(field, invalid) from exc
    if labels[-1].isdigit():
        # no top-level domain is numeric (RFC 3696 2): an IP address is no domain
        raise EmbouxInputError(field, invalid)
    return value


def normalize_email(addr, field="email", allow_catch_all=False):
    """Return the address as stored: lower-case, local part of 1-64 RFC 5322
    atom characters with inner single dots, domain part as
    :func:`normalize_domain`. With ``allow_catch_all``, ``@domain`` (an empty
    local part) is accepted too: the source of a catch-all alias."""
    if not isinstance(addr, str) or not addr.strip():
        raise EmbouxInputError(field, _("An e-mail address is required"))
    shown = addr if len(addr) <= 80 else addr[:77] + "..."
    invalid = _("'%(addr)s' is not a valid e-mail address", addr=shown)
    value = addr.strip()
    local, sep, domain = value.rpartition("@")
    if not sep:
        raise EmbouxInputError(field, invalid)
    local = local.lower()
    # an empty local part is the catch-all "@domain", where allowed
    bad_local = len(local) > LOCAL_PART_MAX_LENGTH or not _LOCAL_RE.match(local)
    if (local or not allow_catch_all) and bad_local:
        raise EmbouxInputError(field, invalid)
    try:
        domain = normalize_domain(domain, field=field)
    except EmbouxInputError as exc:
        raise EmbouxInputError(field, invalid) from exc
    result = f"{local}@{domain}"
    if len(result) > ADDRESS_MAX_LENGTH:
        raise EmbouxInputError(
            field,
            _(
                "'%(addr)s' is not a valid e-mail address (at most %(max)s characters)",
                addr=shown,
                max=ADDRESS_MAX_LENGTH,
            ),
        )
    return result


def split_email(addr):
    """``(local part, domain)`` of an already normalised address."""
    local, _sep, domain = addr.rpartition("@")
    return local, domain


def check_password_strength(pw, field="password"):
    """A mailbox password: required, at least 10 characters, not only
    spaces, no NUL character (crypt(3) cannot hash it)."""
    if not isinstance(pw, str) or not pw:
        raise EmbouxInputError(field, _("A password is required"))
    if len(pw) < PASSWORD_MIN_LENGTH or not pw.strip():
        raise EmbouxInputError(
            field,
            _(
                "The password is too weak (at least %(min)s characters)",
                min=PASSWORD_MIN_LENGTH,
            ),
        )
    if len(pw) > PASSWORD_MAX_LENGTH:
        raise EmbouxInputError(
            field,
            _(
                "The password is too long (at most %(max)s characters)",
                max=PASSWORD_MAX_LENGTH,
            ),
        )
    if "\x00" in pw:
        raise EmbouxInputError(field, _("The password contains a NUL character"))
    return pw


def hash_password(pw):
    """``{SHA512-CRYPT}$6$...``: SHA512-CRYPT with 5000 rounds, as Dovecot
    writes and verifies it (``default_pass_scheme = SHA512-CRYPT``)."""
    check_password_strength(pw)
    return PASSWORD_SCHEME + _hasher.hash(pw)


def verify_password(pw, hashed):
    """True when ``pw`` matches ``hashed`` (with or without the scheme
    prefix; ``{CRYPT}`` is accepted too). Never raises on a bad hash."""
    if not isinstance(pw, str) or not pw or not hashed:
        return False
    for prefix in (PASSWORD_SCHEME, "{CRYPT}"):
        if hashed.startswith(prefix):
            hashed = hashed[len(prefix) :]
            break
    try:
        return sha512_crypt.verify(pw, hashed)
    except (ValueError, TypeError):
        return False


def check_non_negative_int(value, field):
    """``value`` as an int >= 0 (bools and floats with a fraction refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EmbouxInputError(field, _("A non-negative whole number is required"))
    if isinstance(value, float):
        if not value.is_integer():
            raise EmbouxInputError(field, _("A non-negative whole number is required"))
        value = int(value)
    if value < 0:
        raise EmbouxInputError(field, _("Must not be negative (got %(value)s)", value=value))
    if value > 2**31 - 1:
        raise EmbouxInputError(field, _("The number is too large"))
    return value


def get_config(option, env=None, default=None):
    """The environment variable ``env`` (default ``option.upper()``) wins,
    then the option in odoo.conf, then ``default``. Empty values count as
    unset."""
    value = os.environ.get(env or option.upper())
    if value not in (None, ""):
        return value
    value = config.get(option)
    if value not in (None, "", False):
        return value
    return default


# A unit of scheduled work lost to a concurrent transaction: retried later.
CONCURRENCY_ERRORS = PG_CONCURRENCY_EXCEPTIONS_TO_RETRY


class _QuietConcurrencyFilter(logging.Filter):
    """Drops ``odoo.sql_db``'s "bad query" line of one thread when the
    error is a concurrency failure; every other line passes."""

    def __init__(self, thread_id):
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record):
        if record.thread != self.thread_id or not isinstance(record.args, tuple):
            return True
        error = record.args[-1] if record.args else None
        return not (
            str(record.msg).startswith("bad query") and isinstance(error, CONCURRENCY_ERRORS)
        )


@contextmanager
def quiet_concurrency_errors():
    """Odoo's cursor logs a statement that fails at ERROR ("bad query")
    before raising. A scheduled job that rolls back a unit lost to a
    concurrent transaction (serialization failure, lock not available,
    deadlock) and retries it later logs that itself, at INFO: inside this
    block, those lines of the current thread are dropped; other errors and
    other threads are logged as usual."""
    quiet = _QuietConcurrencyFilter(threading.get_ident())
    logger = logging.getLogger("odoo.sql_db")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _matches_config(token, option):
    """Constant-time comparison of ``token`` with the configured ``option``
    (read at each call, see :func:`get_config`); nothing configured or an
    empty token never matches."""
    expected = get_config(option)
    if not token or not expected:
        return False
    return hmac.compare_digest(str(token).encode("utf-8"), str(expected).encode("utf-8"))


def is_master_token(token):
    """Constant-time comparison with the master token, read from the
    configuration at each call (``EMBOUX_MASTER_TOKEN`` wins over
    ``emboux_master_token`` in odoo.conf). No configured token: no master.
    The REST API only: the mail hosts get the policy token instead."""
    return _matches_config(token, "emboux_master_token")


def is_policy_token(token):
    """Constant-time comparison with the Postfix policy service's token
    (``EMBOUX_POLICY_TOKEN`` wins over ``emboux_policy_token`` in
    odoo.conf). It opens ``POST /emboux/policy`` and nothing else, so a
    mail host never holds the master token."""
    return _matches_config(token, "emboux_policy_token")
