#!/usr/bin/env python3
"""Emboux policy service for Postfix (SMTPD_POLICY_README's protocol).

Postfix asks it before each outbound message; it asks the suite's
PostgreSQL database, whose function ``emboux_policy_action`` holds every
rule (limits, warm-up, spike, suppression, verification) and the exact
counters, and answers Postfix with the action the function chose:

    Postfix smtpd --(name=value lines)--> emboux_policyd --(one EXECUTE)-->
    PostgreSQL: emboux_policy_action(protocol_state, sender, recipient,
                                     recipient_count, size, sasl_username)

The daemon keeps no rule and no counter: each decision is one statement,
committed (autocommit) before Postfix reads the answer, so a crash never
loses a count Postfix was told about, and several daemons (one per mail
host) share the counters exactly. It connects as the suite's policy role,
which may execute that function and nothing else. It needs Python 3 and
psycopg2 (Debian: ``apt-get install python3-psycopg2``), nothing more.

Concurrency: one asyncio event loop holds every Postfix connection (Postfix
keeps each open for many requests, answered one at a time and in order);
``pool_size`` worker threads each own one persistent database connection
with the call prepared once, and take the requests from one queue.
psycopg2 releases the GIL while PostgreSQL works, so the workers overlap
on the database, which does the real work; the answers go back to the
loop (one wake-up for as many as are ready).

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
import queue
import re
import signal
import socket
import sys
import threading
import time

try:
    import psycopg2
    import psycopg2.errors
    from psycopg2.extensions import make_dsn, parse_dsn
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
CHECK_QUERY = (
    "SELECT current_user, current_database(), f.p IS NOT NULL,"
    " f.p IS NOT NULL AND has_function_privilege(f.p, 'EXECUTE'),"
    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    " FROM (SELECT to_regprocedure(%s) AS p) AS f"
)
# after a failed connection attempt, decisions needing a new connection
# fail at once for this long (no storm of connection attempts)
RECONNECT_DELAY = 1.0
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
    """What the worker threads share: the DSN and the state of the
    database (reachable or why not), so that after a failed connection
    attempt the others do not try again at once."""

    def __init__(self, config):
        self.config = config
        self.timeout = config.timeout
        self.retry_at = 0.0
        self.down_reason = None
        self.lock = threading.Lock()

    def connect(self):
        """A new connection, autocommit, with the statement timeout and the
        call prepared (one round trip); Unavailable when it cannot be made."""
        if time.monotonic() < self.retry_at:
            raise Unavailable(self.down_reason)
        try:
            conn = psycopg2.connect(self.config.dsn)
        except psycopg2.Error as exc:
            hint = login_problem(exc, self.config.path)
            if hint:
                self.down(f"database refused the login ({_first_line(exc)}): {hint}")
            self.down(f"database unreachable ({_first_line(exc)})")
        try:
            conn.autocommit = True  # each decision is its own transaction
            cur = conn.cursor()
            cur.execute(f"SET statement_timeout = {int(self.timeout * 1000)}; {PREPARE}")
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


class Connection:
    """One pooled connection, owned by one worker thread: connected when
    first needed, replaced when broken."""

    def __init__(self, database):
        self.database = database
        self.timeout = database.timeout
        self.conn = None
        self.cur = None

    def close(self):
        conn, self.conn, self.cur = self.conn, None, None
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def ask(self, params):
        """``(action, reason)`` from the function: one EXECUTE, committed
        when it returns. Unavailable when the database gives no answer."""
        for attempt in (1, 2):
            pooled = self.conn is not None
            if not pooled:
                self.conn, self.cur = self.database.connect()
            try:
                self.cur.execute(EXECUTE, params)
                return self.cur.fetchone()
            except psycopg2.errors.QueryCanceled:
                raise Unavailable(
                    f"no answer from the database within {self.timeout:g}s (timeout)"
                ) from None
            except (
                psycopg2.errors.SerializationFailure,
                psycopg2.errors.DeadlockDetected,
            ) as exc:
                # rolled back whole: nothing was counted, once more is safe
                if attempt == 1:
                    continue
                raise Unavailable(f"database error ({_first_line(exc)})") from None
            except psycopg2.errors.InvalidSqlStatementName as exc:
                # the prepared call is gone (a DISCARD by a pooler): prepare again
                self.close()
                if attempt == 1:
                    continue
                raise Unavailable(f"database error ({_first_line(exc)})") from None
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if not self.conn.closed:
                    raise Unavailable(f"database error ({_first_line(exc)})") from None
                self.close()
                # a pooled connection that broke while idle (server restarted,
                # backend terminated): once more on a new connection
                if pooled and attempt == 1:
                    _logger.info("pooled connection broken (%s): reconnecting", _first_line(exc))
                    continue
                raise Unavailable(f"database unreachable ({_first_line(exc)})") from None
            except psycopg2.Error as exc:
                code = f"{exc.pgcode} " if exc.pgcode else ""
                raise Unavailable(f"database error ({code}{_first_line(exc)})") from None
        raise Unavailable("database error (no answer after a retry)")


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
# decisions: pool_size worker threads, one connection each
# ----------------------------------------------------------------------
class Policy:
    """The decisions: requests queue up for ``pool_size`` worker threads,
    each with its own connection; an answer goes back to the event loop."""

    def __init__(self, config, database, loop):
        self.config = config
        self.database = database
        self.timeout = config.timeout
        self.fail_open = config.on_database_error == "dunno"
        self.loop = loop
        self.jobs = queue.SimpleQueue()
        self.done = collections.deque()
        self.wake_pending = False
        self.done_lock = threading.Lock()
        self.workers = [
            threading.Thread(target=self.work, name=f"db-{n}", daemon=True)
            for n in range(config.pool_size)
        ]

    def start(self):
        for worker in self.workers:
            worker.start()

    def stop(self):
        for _worker in self.workers:
            self.jobs.put(None)
        for worker in self.workers:
            worker.join(timeout=self.timeout + 2)

    def submit(self, attrs, reply):
        """Ask for a decision (from the event loop); ``reply(action)`` is
        called on the event loop with the answer."""
        self.jobs.put((attrs, reply, time.monotonic()))

    # -- the worker threads --------------------------------------------
    def work(self):
        connection = Connection(self.database)
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                attrs, reply, queued = job
                try:
                    action = self.decide(connection, attrs, queued)
                except Exception:
                    _logger.exception("unexpected error")
                    action = self.unavailable("unexpected error, see the traceback above", attrs)
                self.answer(reply, action)
        finally:
            connection.close()

    def answer(self, reply, action):
        """Hand the answer to the event loop; one wake-up for the answers
        that pile up meanwhile."""
        with self.done_lock:
            self.done.append((reply, action))
            wake, self.wake_pending = not self.wake_pending, True
        if wake:
            try:
                self.loop.call_soon_threadsafe(self.flush)
            except RuntimeError:  # the loop is closed: exiting
                pass

    def flush(self):
        with self.done_lock:
            done, self.done = self.done, collections.deque()
            self.wake_pending = False
        for reply, action in done:
            reply(action)

    def decide(self, connection, attrs, queued):
        waited = time.monotonic() - queued
        if waited > self.timeout:
            return self.unavailable(
                f"no database connection free within {self.timeout:g}s "
                f"(all {self.config.pool_size} of pool_size busy)",
                attrs,
            )
        try:
            action, reason = connection.ask(policy_params(attrs))
        except Unavailable as exc:
            return self.unavailable(str(exc), attrs)
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
        return action

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
