#!/usr/bin/env python3
"""Emboux policy service for Postfix (SMTPD_POLICY_README's protocol).

Postfix asks it before each outbound message; it asks the suite's
PostgreSQL database, whose function ``emboux_policy_action`` holds every
rule (limits, warm-up, spike, suppression, verification) and the exact
counters, and answers Postfix with the action the function chose:

    Postfix smtpd --(name=value lines)--> emboux_policyd --(one EXECUTE)-->
    PostgreSQL: emboux_policy_action(protocol_state, sender, recipient,
                                     recipient_count, size, sasl_username)

The daemon keeps no rule and no counter: each decision is made by one
statement, committed (autocommit) before Postfix reads the answer, so a
crash never loses a count Postfix was told about, and several daemons (one
per mail host) share the counters exactly. It connects as the suite's
policy role, which may execute that function and nothing else. It needs
Python 3 and psycopg2 (Debian: ``apt-get install python3-psycopg2``),
nothing more.

Concurrency: one asyncio event loop holds every Postfix connection (Postfix
keeps each open for many requests, answered one at a time and in order) and
``pool_size`` persistent database connections in psycopg2's asynchronous
mode, each with the call prepared once: a request is sent on a free
connection and answered when its result arrives, no thread in between
(connecting, which may resolve a host name, runs in a thread). The
requests that arrive while every connection is busy wait in order; the
next free connection takes the first and those behind it (up to 16) in one
statement, the function once per request in the order of their domains (so
that two such statements lock their counter rows in one order: no deadlock): one
transaction and one commit for all of them, before any is answered. Under
load that is several decisions per commit and per round trip.

When the database cannot answer (unreachable, wrong login, a statement over
``timeout``, no pooled connection free within ``timeout``) the answer is
``451 4.3.0`` (``on_database_error = defer``, the default: senders retry,
nothing leaves unchecked) or ``DUNNO`` (``dunno``: fail open, a warning
each time). Every deferral logs one line with its reason. A broken
connection is replaced at the next request; a pooled connection found
broken is retried once on a new one.

At start it connects once and checks that its role may execute the
function: a refused login, a missing function or a missing privilege exits
with status 1 and names the setting to fix; a database that cannot be
reached only logs a warning, and the daemon serves (per
``on_database_error``) until it can. A configuration error exits with
status 2 and names the setting.

Configuration: an INI file, section ``[policyd]`` (see
policyd.conf.example): ``listen``, ``dsn``, ``pool_size``, ``timeout``,
``on_database_error``, ``log_level``.

    emboux_policyd.py [--config /etc/emboux/policyd.conf] [--listen HOST:PORT] [--check]

Wire it in Postfix's submission services (see ../postfix/master.cf.notes).
"""

import argparse
import asyncio
import collections
import configparser
from dataclasses import dataclass
import logging
import math
import re
import selectors
import signal
import socket
import sys
import threading
import time

try:
    import psycopg2
    import psycopg2.errors
    from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE, make_dsn, parse_dsn
except ImportError:  # reported by main(): the daemon cannot work without it
    psycopg2 = None

_logger = logging.getLogger("emboux_policyd")

DEFAULT_CONFIG = "/etc/emboux/policyd.conf"
SECTION = "policyd"
DUNNO = "DUNNO"
UNAVAILABLE = "451 4.3.0 Sending policy service unavailable, try again later"
# one request is a few hundred bytes; refuse to buffer a runaway client
MAX_REQUEST_BYTES = 64 * 1024
FUNCTION = "emboux_policy_action(text,text,text,integer,bigint,text)"
STATEMENT = "emboux_policy"
PREPARE = (
    f"PREPARE {STATEMENT} (text, text, text, integer, bigint, text) AS "
    "SELECT action, reason FROM emboux_policy_action($1, $2, $3, $4, $5, $6)"
)
EXECUTE = f"EXECUTE {STATEMENT} (%s, %s, %s, %s, %s, %s)"
# the requests waiting together, in one statement (one transaction): the
# function once per request, in the order given
BATCH_STATEMENT = "emboux_policy_batch"
PREPARE_BATCH = (
    f"PREPARE {BATCH_STATEMENT} (text[], text[], text[], integer[], bigint[], text[]) AS "
    "SELECT a.n, p.action, p.reason"
    " FROM unnest($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS a (s, f, r, c, z, u, n)"
    " CROSS JOIN LATERAL emboux_policy_action(a.s, a.f, a.r, a.c, a.z, a.u) AS p"
)
EXECUTE_BATCH = f"EXECUTE {BATCH_STATEMENT} (%s, %s, %s, %s, %s, %s)"
MAX_BATCH = 16
CHECK_QUERY = (
    "SELECT current_user, current_database(), f.p IS NOT NULL,"
    " f.p IS NOT NULL AND has_function_privilege(f.p, 'EXECUTE'),"
    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    " FROM (SELECT to_regprocedure(%s) AS p) AS f"
)
# after a failed connection attempt, decisions needing a new connection
# fail at once for this long (no storm of connection attempts)
RECONNECT_DELAY = 1.0
# how often the jobs waiting for a connection and the statements running
# are checked against the timeout; and how long past it a statement may run
# before its connection is given up (the database's statement timeout ends
# it first unless the server does not answer at all)
GUARD_INTERVAL = 0.25
STATEMENT_GRACE = 2.0
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SETTINGS = ("listen", "dsn", "pool_size", "timeout", "on_database_error", "log_level")
# the role the suite creates for the daemon, and where its name and password are set
ROLE_SETTINGS = (
    "the suite's policy role: emboux_policyd_db_role / emboux_policyd_db_password in "
    "odoo.conf, or EMBOUX_POLICYD_DB_ROLE / EMBOUX_POLICYD_DB_PASSWORD"
)
# connection errors that no retry mends: (pattern of libpq's message, what to fix)
LOGIN_ERRORS = (
    (r"password authentication failed|no password supplied|authentication failed", "password"),
    (r"role \".*\" does not exist|is not permitted to log in", "user"),
    (r"database \".*\" does not exist|permission denied for database", "dbname"),
    (r"no pg_hba\.conf entry|pg_hba\.conf rejects", "pg_hba.conf"),
)


def parse_request(lines):
    """Postfix's ``name=value`` lines (without the final empty line) to a
    dict; a line without ``=`` is ignored, as Postfix ignores unknown ones."""
    attrs = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep:
            attrs[name.strip()] = value
    return attrs


def format_action(action):
    """The reply Postfix reads: ``action=...`` and an empty line. A line
    break inside the action would end the reply early: flattened."""
    action = " ".join(str(action).split()) or DUNNO
    return f"action={action}\n\n".encode()


def ascii_sender(sender):
    """The sender with its domain (after the last ``@``) in punycode when
    it is not ASCII; unchanged when it cannot be converted (the function
    then answers that it is not a valid domain)."""
    local, at, domain = sender.rpartition("@")
    if not at or domain.isascii():
        return sender
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return sender


def _whole(value, high):
    """A non-negative whole number from an attribute, at most ``high``;
    None when there is none (the function then takes its default)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return min(max(number, 0), high)


def _text(value):
    # PostgreSQL's text holds no NUL character; Postfix sends none
    return (value or "").replace("\x00", "")


def policy_params(attrs):
    """The function's arguments from one request's attributes."""
    return (
        _text(attrs.get("protocol_state")),
        ascii_sender(_text(attrs.get("sender"))),
        _text(attrs.get("recipient")),
        _whole(attrs.get("recipient_count"), INT4_MAX),
        _whole(attrs.get("size"), INT8_MAX),
        # a null sender is counted against the login
        ascii_sender(_text(attrs.get("sasl_username"))),
    )


def _first_line(exc):
    """libpq's message on one line (the first; its hints follow), without
    the severity (``FATAL:  ``)."""
    text = str(exc).strip()
    text = re.sub(r"\b(FATAL|ERROR):\s+", "", text.splitlines()[0] if text else "")
    return text or exc.__class__.__name__


# ----------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------
class ConfigError(Exception):
    """A setting that cannot be used; the message names it."""


@dataclass
class Config:
    path: str
    host: str
    port: int
    dsn: str
    pool_size: int = 8
    timeout: float = 5.0
    on_database_error: str = "defer"
    log_level: str = "INFO"


def parse_listen(value):
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"HOST:PORT expected (e.g. 127.0.0.1:10040), got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _dsn_error(exc):
    """libpq's complaint about a DSN, unless it could quote a value (a
    password): only an unknown keyword is named."""
    text = str(exc).strip()
    match = re.search(r'invalid connection option "[^"]*"', text)
    if match:
        return match.group(0)
    return "not a libpq connection string (key=value pairs, values with spaces in single quotes)"


def connection_dsn(dsn, timeout):
    """The configured DSN with what the daemon needs unless it says
    otherwise: its application name (pg_stat_activity), a connect timeout,
    and TCP settings that notice a vanished server within about
    ``timeout`` instead of hanging on it."""
    given = parse_dsn(dsn)
    extra = {
        "application_name": "emboux_policyd",
        "connect_timeout": str(max(2, math.ceil(timeout))),
        "keepalives": "1",
        "keepalives_idle": str(max(1, math.ceil(timeout))),
        "keepalives_interval": "1",
        "keepalives_count": "3",
        "tcp_user_timeout": str(max(1000, int(timeout * 1000))),
    }
    return make_dsn(dsn, **{k: v for k, v in extra.items() if k not in given})


def _read_section(path):
    """The ``[policyd]`` section of ``path``, every name in it known."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration {path}: {exc.strerror} (--config PATH names another)"
        ) from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(
            f"{path}: {exc.option} is set twice in [{exc.section}] (line {exc.lineno})"
        ) from None
    except configparser.ParsingError as exc:
        # the line itself is not quoted: it may hold the password
        numbers = [lineno for lineno, _line in getattr(exc, "errors", ())]
        lines = ", ".join(str(n) for n in numbers or [getattr(exc, "lineno", "?")])
        raise ConfigError(
            f"{path}: line {lines} is not a 'name = value' line of a [section]"
        ) from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not an INI file ({exc.__class__.__name__})") from None
    if not parser.has_section(SECTION):
        raise ConfigError(f"{path}: no [{SECTION}] section")
    section = parser[SECTION]
    for name in section:
        if name not in SETTINGS:
            raise ConfigError(
                f"{path}: [{SECTION}] {name}: unknown setting (known: {', '.join(SETTINGS)})"
            )
    return section


def read_config(path, listen=None):
    """The settings of ``path`` (section ``[policyd]``); ``listen``, when
    given, replaces the file's. ConfigError names the setting at fault."""
    section = _read_section(path)

    def fail(name, message):
        raise ConfigError(f"{path}: [{SECTION}] {name}: {message}")

    try:
        host, port = parse_listen(listen or section.get("listen", "127.0.0.1:10040"))
    except ConfigError as exc:
        if listen:
            raise ConfigError(f"--listen: {exc}") from None
        fail("listen", str(exc))
    dsn = section.get("dsn", "").strip()
    if not dsn:
        fail("dsn", "required: a libpq connection string, e.g. host=... dbname=... user=...")
    try:
        parse_dsn(dsn)
    except psycopg2.Error as exc:
        fail("dsn", _dsn_error(exc))
    value = section.get("pool_size", "8").strip()
    if not value.isdigit() or not 1 <= int(value) <= 200:
        fail("pool_size", f"a whole number from 1 to 200 expected, got {value!r}")
    pool_size = int(value)
    value = section.get("timeout", "5").strip()
    try:
        timeout = float(value)
    except ValueError:
        timeout = math.nan
    if not 0.1 <= timeout <= 600:
        fail("timeout", f"seconds from 0.1 to 600 expected, got {value!r}")
    on_error = section.get("on_database_error", "defer").strip().lower()
    if on_error not in ("defer", "dunno"):
        fail("on_database_error", f"defer or dunno expected, got {on_error!r}")
    log_level = section.get("log_level", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        fail("log_level", f"one of {', '.join(LOG_LEVELS)} expected, got {log_level!r}")
    return Config(
        path=path,
        host=host,
        port=port,
        dsn=connection_dsn(dsn, timeout),
        pool_size=pool_size,
        timeout=timeout,
        on_database_error=on_error,
        log_level=log_level,
    )


# ----------------------------------------------------------------------
# the database
# ----------------------------------------------------------------------
class Unavailable(Exception):
    """No decision from the database; the message says why."""


def login_problem(exc, path):
    """What to fix when the database refused the connection for a reason
    no retry mends (wrong password, unknown role or database, pg_hba), or
    None when it may be temporary (unreachable, starting, too busy)."""
    text = str(exc)
    for pattern, setting in LOGIN_ERRORS:
        if re.search(pattern, text, re.IGNORECASE):
            if setting == "pg_hba.conf":
                return (
                    "the database server's pg_hba.conf must allow this host and role "
                    f"(password authentication); or fix host= / user= of dsn in {path}"
                )
            what = {"password": "user= and password=", "user": "user=", "dbname": "dbname="}
            hint = f"check {what[setting]} of dsn in {path}"
            if setting in ("password", "user"):
                hint += f" against {ROLE_SETTINGS}"
            else:
                hint += " (the suite's database)"
            return hint
    return None


class Database:
    """What the pooled connections share: the DSN and the state of the
    database (reachable or why not), so that after a failed connection
    attempt the others do not try again at once. ``connect`` blocks (a
    host name is resolved, the login awaited): the pool runs it in a
    thread, off the event loop."""

    def __init__(self, config):
        self.config = config
        self.timeout = config.timeout
        # libpq leaves connect_timeout to the caller of an asynchronous connection
        self.connect_timeout = float(parse_dsn(config.dsn).get("connect_timeout") or 0) or max(
            2.0, config.timeout
        )
        self.retry_at = 0.0
        self.down_reason = None
        self.lock = threading.Lock()

    def connect(self):
        """A new connection in psycopg2's asynchronous mode (each statement
        is its own transaction, committed when its answer is read), with the
        statement timeout and the call prepared; Unavailable when it cannot
        be made."""
        if time.monotonic() < self.retry_at:
            raise Unavailable(self.down_reason)
        deadline = time.monotonic() + self.connect_timeout
        conn = None
        try:
            conn = psycopg2.connect(self.config.dsn, async_=True)
            wait_ready(conn, deadline)
        except psycopg2.Error as exc:
            if conn is not None:
                conn.close()
            hint = login_problem(exc, self.config.path)
            if hint:
                self.down(f"database refused the login ({_first_line(exc)}): {hint}")
            self.down(f"database unreachable ({_first_line(exc)})")
        try:
            cur = conn.cursor()
            cur.execute(
                f"SET statement_timeout = {int(self.timeout * 1000)}; {PREPARE}; {PREPARE_BATCH}"
            )
            wait_ready(conn, deadline)
        except psycopg2.Error as exc:
            conn.close()
            code = f"{exc.pgcode} " if exc.pgcode else ""
            self.down(f"database error ({code}{_first_line(exc)})")
        with self.lock:
            was_down, self.down_reason = self.down_reason is not None, None
        if was_down:
            _logger.info("database reachable again")
        return conn, cur

    def down(self, reason):
        """No new connection for RECONNECT_DELAY; the first failure after a
        success is logged once as such. Raises Unavailable(reason)."""
        with self.lock:
            self.retry_at = time.monotonic() + RECONNECT_DELAY
            was_up, self.down_reason = self.down_reason is None, reason
        if was_up:
            _logger.warning(
                "%s; answering %s until it is back (a new connection is tried at the "
                "next request, every %gs at most)",
                reason,
                "451 4.3.0" if self.config.on_database_error == "defer" else "DUNNO",
                RECONNECT_DELAY,
            )
        raise Unavailable(reason)


def wait_ready(conn, deadline):
    """Poll an asynchronous connection until its connection or statement
    is done (blocking: for the connecting thread only)."""
    with selectors.DefaultSelector() as selector:
        while True:
            state = conn.poll()
            if state == POLL_OK:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise psycopg2.OperationalError("timeout expired")
            event = selectors.EVENT_READ if state == POLL_READ else selectors.EVENT_WRITE
            selector.register(conn.fileno(), event)
            selector.select(remaining)
            selector.unregister(conn.fileno())


def check_database(config):
    """The start-up check: connect once and make sure the role may execute
    the function. Exit 1 when the login is refused or the function is
    missing or not executable; only a warning when the database cannot be
    reached (the daemon serves and reconnects)."""
    try:
        conn = psycopg2.connect(config.dsn)
    except psycopg2.Error as exc:
        hint = login_problem(exc, config.path)
        if hint:
            sys.exit(f"emboux_policyd: the database refused the login ({_first_line(exc)}): {hint}")
        _logger.warning(
            "start-up check: database unreachable (%s); serving anyway (answering %s "
            "until it answers)",
            _first_line(exc),
            "451 4.3.0" if config.on_database_error == "defer" else "DUNNO",
        )
        return False
    try:
        with conn.cursor() as cur:
            cur.execute(CHECK_QUERY, (FUNCTION,))
            user, dbname, exists, allowed, superuser = cur.fetchone()
    except psycopg2.Error as exc:
        _logger.warning("start-up check failed (%s); serving anyway", _first_line(exc))
        return False
    finally:
        conn.close()
    if not exists:
        sys.exit(
            f"emboux_policyd: the function {FUNCTION} does not exist in database {dbname!r} "
            f"(or role {user!r} may not use its schema): dbname= of dsn in {config.path} must "
            "name the suite's database, with emboux_outbound installed and up to date"
        )
    if not allowed:
        sys.exit(
            f"emboux_policyd: role {user!r} may not execute {FUNCTION} in database {dbname!r}: "
            f"user= of dsn in {config.path} must be {ROLE_SETTINGS} (default "
            "emboux_policyd); the suite grants it at install, upgrade and start, or on demand "
            "with env['emboux.send.decision']._apply_policyd_grants()"
        )
    if superuser:
        _logger.warning(
            "role %r is a superuser: use the suite's policy role, which may execute the "
            "function and nothing else",
            user,
        )
    _logger.info("role %r may execute %s in database %r", user, FUNCTION, dbname)
    return True


# ----------------------------------------------------------------------
# decisions: pool_size connections, on the event loop
# ----------------------------------------------------------------------
class Job:
    """One policy request waiting for its decision."""

    __slots__ = ("alone", "attempt", "attrs", "params", "queued", "reply")

    def __init__(self, attrs, reply):
        self.attrs = attrs
        self.reply = reply
        self.params = policy_params(attrs)
        self.queued = time.monotonic()
        self.attempt = 1
        # asked again on its own after its batch failed
        self.alone = False

    def lock_order(self):
        """The sender's domain (or the login's), as the batches sort their
        requests: every batch locks the counter rows in one order."""
        # as the policy function reads it: the sender trimmed, else the
        # login; the domain without its trailing dot
        address = self.params[1].strip() or self.params[5].strip()
        return address.rpartition("@")[2].strip().lower().removesuffix(".")


class Slot:
    """One pooled connection, driven by the event loop: connected when
    first needed (in a thread), replaced when broken. It runs one statement
    at a time, for one request or a batch of them: sent, then its answer
    read when the socket is readable. Committed when the answer arrives
    (autocommit)."""

    def __init__(self, policy):
        self.policy = policy
        self.loop = policy.loop
        self.conn = self.cur = self.fd = None
        self.connecting = False
        # connected for the jobs it runs (not a pooled connection to retry on)
        self.fresh = False
        self.jobs = None
        self.sent_at = 0.0

    # -- the connection ----------------------------------------------------
    def connect(self):
        self.connecting = True
        future = self.loop.run_in_executor(None, self.policy.database.connect)
        future.add_done_callback(self.connected)

    def connected(self, future):
        self.connecting = False
        try:
            self.conn, self.cur = future.result()
        except Unavailable as exc:
            self.fail(str(exc))
            return
        except Exception:
            _logger.exception("unexpected error while connecting")
            self.fail("unexpected error, see the traceback above")
            return
        self.fd = self.conn.fileno()
        self.loop.add_reader(self.fd, self.readable)
        self.fresh = True
        if self.jobs:
            self.send()
        else:  # answered meanwhile (the guard): keep the connection
            self.policy.release(self)

    def close(self):
        conn, self.conn, self.cur = self.conn, None, None
        if self.fd is not None:
            self.loop.remove_reader(self.fd)
            self.loop.remove_writer(self.fd)
            self.fd = None
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    # -- one statement -------------------------------------------------------
    def run(self, jobs):
        self.jobs = jobs
        if self.conn is not None:
            self.fresh = False
            self.send()
        elif not self.connecting:
            self.connect()

    def send(self):
        self.sent_at = time.monotonic()
        jobs = self.jobs
        try:
            if len(jobs) == 1:
                self.cur.execute(EXECUTE, jobs[0].params)
            else:
                self.cur.execute(
                    EXECUTE_BATCH,
                    [list(column) for column in zip(*(job.params for job in jobs), strict=True)],
                )
        except psycopg2.Error as exc:
            self.failed(exc)
            return
        self.poll()

    def readable(self):
        if self.jobs is None:
            # idle: the server closed the connection (a restart, a terminated
            # backend) or sent a notice
            try:
                self.conn.poll()
            except psycopg2.Error as exc:
                _logger.info("pooled connection broken (%s): closed", _first_line(exc))
                self.close()
            return
        self.poll()

    def writable(self):
        self.loop.remove_writer(self.fd)
        self.poll()

    def poll(self):
        try:
            state = self.conn.poll()
            if state == POLL_OK:
                rows = self.cur.fetchall()
            elif state == POLL_WRITE:
                self.loop.add_writer(self.fd, self.writable)
                return
            else:  # POLL_READ: readable() comes back
                return
        except psycopg2.Error as exc:
            self.failed(exc)
            return
        jobs, self.jobs = self.jobs, None
        try:
            if len(jobs) == 1:
                self.policy.decided(jobs[0], rows[0])
            else:  # one row per request (the function's OUT parameters)
                for number, action, reason in rows:
                    self.policy.decided(jobs[number - 1], (action, reason))
        finally:  # whatever an answer raised, the connection goes back to the pool
            self.policy.release(self)

    def failed(self, exc):
        """A statement that gave no answer: once more when that is safe,
        else Unavailable. A batch is rolled back whole: its requests are
        asked again one by one (a timeout answers them all)."""
        jobs = self.jobs
        if len(jobs) > 1 and not isinstance(exc, psycopg2.errors.QueryCanceled):
            if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) and (
                self.conn is None or self.conn.closed
            ):
                self.close()
            else:
                _logger.info("batch of %d: %s: asked one by one", len(jobs), _first_line(exc))
            self.jobs = None
            for job in jobs:
                job.alone = True
            self.policy.waiting.extendleft(reversed(jobs))
            self.policy.release(self)
            return
        retry = jobs[0].attempt == 1
        if isinstance(exc, psycopg2.errors.QueryCanceled):
            why = f"no answer from the database within {self.policy.timeout:g}s (timeout)"
            retry = False
        elif isinstance(
            exc, (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
        ):
            # rolled back whole: nothing was counted, once more is safe
            why = f"database error ({_first_line(exc)})"
        elif isinstance(exc, psycopg2.errors.InvalidSqlStatementName):
            # the prepared call is gone (a DISCARD by a pooler): prepare again
            why = f"database error ({_first_line(exc)})"
            self.close()
        elif isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            if self.conn is not None and not self.conn.closed:
                why = f"database error ({_first_line(exc)})"
                retry = False
            else:
                why = f"database unreachable ({_first_line(exc)})"
                pooled = not self.fresh
                self.close()
                # a pooled connection that broke while idle (server restarted,
                # backend terminated): once more on a new connection
                retry = retry and pooled
                if retry:
                    _logger.info("pooled connection broken (%s): reconnecting", _first_line(exc))
        else:
            code = f"{exc.pgcode} " if exc.pgcode else ""
            why = f"database error ({code}{_first_line(exc)})"
            retry = False
        if retry:
            jobs[0].attempt += 1
            self.run(jobs)
        else:
            self.fail(why)

    def fail(self, why):
        jobs, self.jobs = self.jobs, None
        for job in jobs or ():
            self.policy.answer(job, self.policy.unavailable(why, job.attrs))
        self.policy.release(self)

    def abandon(self, why):
        """The guard: requests that got no answer in time are answered
        Unavailable, their connection closed (the database cancels the
        statement when the connection goes)."""
        if self.connecting:
            jobs, self.jobs = self.jobs, None
            for job in jobs:
                self.policy.answer(job, self.policy.unavailable(why, job.attrs))
            return  # connected() releases the slot
        self.close()
        self.fail(why)


class Policy:
    """The decisions: ``pool_size`` connections, each running one statement
    at a time. Requests wait in order for the first free connection, which
    takes the first one and those waiting behind it (up to MAX_BATCH, those
    with half their timeout left) in one statement: one transaction, one
    commit, before any of them is answered."""

    def __init__(self, config, database, loop):
        self.config = config
        self.database = database
        self.timeout = config.timeout
        self.fail_open = config.on_database_error == "dunno"
        self.loop = loop
        self.slots = [Slot(self) for _ in range(config.pool_size)]
        # free slots, the connected ones last (taken first)
        self.free = list(self.slots)
        self.waiting = collections.deque()
        self.guard = None

    def start(self):
        self.guard = self.loop.call_later(GUARD_INTERVAL, self.check)

    def stop(self):
        if self.guard is not None:
            self.guard.cancel()
        for slot in self.slots:
            slot.close()

    def submit(self, attrs, reply):
        """Ask for a decision; ``reply(action)`` is called with the answer."""
        job = Job(attrs, reply)
        if self.free:
            self.free.pop().run([job])
        else:
            self.waiting.append(job)

    def release(self, slot):
        """A slot is free: the next waiting requests, else back to the free list."""
        waiting = self.waiting
        while waiting:
            job = waiting.popleft()
            if self.expired(job):
                continue
            jobs = [job]
            if waiting and not job.alone:
                young = time.monotonic() - self.timeout / 2
                while waiting and len(jobs) < MAX_BATCH:
                    other = waiting[0]
                    if other.alone or other.queued < young:
                        break
                    jobs.append(waiting.popleft())
                if len(jobs) > 1:
                    jobs.sort(key=Job.lock_order)
            slot.run(jobs)
            return
        if slot.conn is not None:
            self.free.append(slot)
        else:
            self.free.insert(0, slot)

    def expired(self, job):
        if time.monotonic() - job.queued <= self.timeout:
            return False
        why = (
            f"no database connection free within {self.timeout:g}s "
            f"(all {self.config.pool_size} of pool_size busy)"
        )
        self.answer(job, self.unavailable(why, job.attrs))
        return True

    def check(self):
        """Every GUARD_INTERVAL: the requests that waited too long for a
        connection, and the statements the database did not answer within
        the timeout and a grace (its own statement timeout did not end them:
        an unresponsive server) are answered."""
        self.guard = self.loop.call_later(GUARD_INTERVAL, self.check)
        while self.waiting and self.expired(self.waiting[0]):
            self.waiting.popleft()
        limit = time.monotonic() - self.timeout - STATEMENT_GRACE
        for slot in self.slots:
            jobs = slot.jobs
            if not jobs:
                continue
            if slot.connecting:
                if jobs[0].queued < limit - self.database.connect_timeout:
                    slot.abandon(f"no connection to the database within {self.timeout:g}s")
            elif slot.sent_at < limit:
                slot.abandon(f"no answer from the database within {self.timeout:g}s (timeout)")

    def answer(self, job, action):
        job.reply(action)

    def decided(self, job, row):
        action, reason = row
        attrs = job.attrs
        action = " ".join((action or "").split()) or DUNNO
        if action[0] in "45":
            _logger.info(
                "%s (the suite's reason: %s) sender=%s recipient=%s queue_id=%s: %s",
                "deferring" if action[0] == "4" else "refusing",
                reason or "-",
                attrs.get("sender") or "<>",
                attrs.get("recipient") or "-",
                attrs.get("queue_id") or "-",
                action,
            )
        elif reason:
            _logger.info(
                "allowed over its %s (soft enforcement) sender=%s queue_id=%s",
                reason,
                attrs.get("sender") or "<>",
                attrs.get("queue_id") or "-",
            )
        job.reply(action)

    def unavailable(self, why, attrs):
        sender, queue_id = attrs.get("sender") or "<>", attrs.get("queue_id") or "-"
        if self.fail_open:
            _logger.warning(
                "answering DUNNO without a decision (on_database_error = dunno): %s "
                "sender=%s queue_id=%s",
                why,
                sender,
                queue_id,
            )
            return DUNNO
        _logger.warning(
            "deferring (%s) sender=%s queue_id=%s: %s", why, sender, queue_id, UNAVAILABLE
        )
        return UNAVAILABLE


# ----------------------------------------------------------------------
# the server: one event loop for every Postfix connection
# ----------------------------------------------------------------------
class PolicyProtocol(asyncio.Protocol):
    """One Postfix connection, kept open for many requests: a request is a
    block of ``name=value`` lines ended by an empty line. Requests are
    answered one at a time, in order."""

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.buf = b""
        self.busy = False
        self.paused = False

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        self.server.connections.discard(self)
        self.transport = None

    def data_received(self, data):
        self.buf += data
        if b"\r" in self.buf:
            self.buf = self.buf.replace(b"\r\n", b"\n")
        if not self.busy:
            self.next_requests()
        elif len(self.buf) > MAX_REQUEST_BYTES and not self.paused:
            self.paused = True  # a client that does not wait for its answers
            self.transport.pause_reading()

    def next_requests(self):
        """Hand the next complete request to the workers (answering the
        ones that are not policy requests at once)."""
        while not self.busy and self.transport is not None:
            buf = self.buf
            if buf.startswith(b"\n"):  # an empty request
                block, self.buf = b"", buf[1:]
            else:
                end = buf.find(b"\n\n")
                if end < 0:
                    if len(buf) > MAX_REQUEST_BYTES:
                        peer = self.transport.get_extra_info("peername")
                        _logger.warning("request from %s over %d bytes: closing", peer, len(buf))
                        self.transport.close()
                    return
                block, self.buf = buf[:end], buf[end + 2 :]
            attrs = parse_request(block.decode("utf-8", "replace").split("\n") if block else [])
            if attrs.get("request") != "smtpd_access_policy":
                self.transport.write(format_action(DUNNO))
                continue
            self.busy = True
            self.server.inflight += 1
            self.server.policy.submit(attrs, self.answered)

    def answered(self, action):
        self.server.inflight -= 1
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(format_action(action))
        if self.paused and len(self.buf) <= MAX_REQUEST_BYTES:
            self.paused = False
            self.transport.resume_reading()
        if self.buf:
            self.next_requests()


class PolicyServer:
    def __init__(self, config, policy):
        self.config = config
        self.policy = policy
        self.connections = set()
        self.inflight = 0

    async def run(self):
        loop = asyncio.get_running_loop()
        config = self.config
        try:
            server = await loop.create_server(
                lambda: PolicyProtocol(self),
                config.host,
                config.port,
                reuse_address=True,
                backlog=1024,  # many smtpd processes may connect at once
            )
        except OSError as exc:
            sys.exit(
                f"emboux_policyd: cannot listen on {config.host}:{config.port}: {exc.strerror}"
            )
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum, stopping)
        _logger.info(
            "listening on %s:%s (pool_size %d, timeout %gs, on_database_error %s)",
            config.host,
            config.port,
            config.pool_size,
            config.timeout,
            config.on_database_error,
        )
        await stopping.wait()
        server.close()
        # the decisions in flight are answered before the exit
        deadline = loop.time() + config.timeout + 2
        while self.inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.inflight:
            _logger.warning("exiting with %d decision(s) unanswered", self.inflight)
        for protocol in list(self.connections):
            if protocol.transport is not None:
                protocol.transport.close()

    def stop(self, signum, stopping):
        if not stopping.is_set():
            _logger.info("%s: stopping", signal.Signals(signum).name)
            stopping.set()


def serve(config, database):
    loop = asyncio.new_event_loop()
    policy = Policy(config, database, loop)
    policy.start()
    try:
        loop.run_until_complete(PolicyServer(config, policy).run())
    finally:
        policy.stop()
        # a connection being made (in a thread) ends within connect_timeout
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    _logger.info("stopped")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"INI file, [policyd] (default {DEFAULT_CONFIG})"
    )
    parser.add_argument("--listen", help="HOST:PORT, instead of the file's listen")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the configuration and the database (login, function, privilege), then exit",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if psycopg2 is None:
        sys.exit("emboux_policyd: psycopg2 is missing: apt-get install python3-psycopg2")
    try:
        config = read_config(args.config, listen=args.listen)
    except ConfigError as exc:
        print(f"emboux_policyd: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    reachable = check_database(config)
    if args.check:
        sys.exit(0 if reachable else 1)
    serve(config, Database(config))


if __name__ == "__main__":
    main()
