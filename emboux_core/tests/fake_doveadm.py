"""A local HTTP server that behaves like Dovecot 2.3's doveadm HTTP API,
for the tests: ``POST /doveadm/v1`` with ``Authorization: X-Dovecot-API
<base64 key>`` (401 otherwise), one ``[[command, {parameters}, tag]]`` per
request, answers shaped as Dovecot's (checked against Dovecot 2.3.19.1):
``[["doveadmResponse", [rows], tag]]`` or ``[["error", {"type":
"exitCode", "exitCode": N}, tag]]`` (67 unknown user, 68 no such mailbox).

Commands: ``expunge`` (``query``: ``mailbox <glob>`` and ``before <N>d``,
``<unix time>`` or ``<yyyy-mm-dd>``: INTERNALDATE strictly before) and
``quotaGet`` (STORAGE in KiB, MESSAGE count, as the ``count`` backend).

State: ``users`` maps an address to its messages (``mailbox``,
``received`` as a Unix time, ``size`` in bytes) and ``quota_kb`` to a
user's limit. ``drop_users``: the connection of a call for one of those is
closed without an answer (Dovecot unreachable for them); ``mode``
``"error"`` answers HTTP 500 to everything, ``"timeout"`` waits ``delay``
seconds first.
"""

import base64
from datetime import datetime, timezone
import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import threading
import time
from unittest.mock import patch

DAY = 86400


class FakeDoveadm:
    def __init__(self, api_key="test-doveadm-key", port=0):
        self.api_key = api_key
        self.users = {}
        self.quota_kb = {}
        self.drop_users = set()
        self.calls = []  # (command, user)
        self.mode = None
        self.delay = 2.0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/doveadm/v1"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def reset(self):
        with self.lock:
            self.users.clear()
            self.quota_kb.clear()
            self.drop_users.clear()
            self.calls.clear()
            self.mode = None

    # ------------------------------------------------------------------
    # the tests' side
    # ------------------------------------------------------------------
    def add_user(self, user, quota_kb=None):
        with self.lock:
            self.users.setdefault(user, [])
            if quota_kb is not None:
                self.quota_kb[user] = quota_kb

    def add_message(self, user, days_ago, mailbox="INBOX", size=2048, subject=None):
        with self.lock:
            self.users.setdefault(user, []).append(
                {
                    "mailbox": mailbox,
                    "received": time.time() - days_ago * DAY,
                    "size": size,
                    "subject": subject or f"{days_ago} days old",
                }
            )

    def subjects(self, user):
        with self.lock:
            return sorted(f"{m['mailbox']}/{m['subject']}" for m in self.users.get(user, []))

    def users_called(self, command):
        with self.lock:
            return [user for cmd, user in self.calls if cmd == command]

    # ------------------------------------------------------------------
    # Dovecot's answers
    # ------------------------------------------------------------------
    def _run(self, command, params):
        """``(kind, body)`` of one command."""
        user = params.get("user")
        if user not in self.users:
            return "error", {"type": "exitCode", "exitCode": 67}
        messages = self.users[user]
        if command == "quotaGet":
            size = sum(m["size"] for m in messages)
            limit = self.quota_kb.get(user)
            return "doveadmResponse", [
                {
                    "root": "User quota",
                    "type": "STORAGE",
                    "value": str(size // 1024),
                    "limit": "-" if limit is None else str(limit),
                    "percent": str(size // 1024 * 100 // limit) if limit else "0",
                },
                {
                    "root": "User quota",
                    "type": "MESSAGE",
                    "value": str(len(messages)),
                    "limit": "-",
                    "percent": "0",
                },
            ]
        if command == "expunge":
            match = self._matcher(params.get("query") or [])
            if match is None:
                return "error", {"type": "exitCode", "exitCode": 64}
            glob = match[0]
            exists = glob == "INBOX" or any(m["mailbox"] == glob for m in messages)
            if not exists and not any(ch in glob for ch in "*?"):
                return "error", {"type": "exitCode", "exitCode": 68}
            self.users[user] = [m for m in messages if not self._hit(m, *match)]
            return "doveadmResponse", []
        return "error", {"type": "unknownMethod", "exitCode": 0}

    @staticmethod
    def _matcher(query):
        """``(mailbox glob, cutoff time)`` of ``mailbox G before X``."""
        if len(query) != 4 or query[0] != "mailbox" or query[2] != "before":
            return None
        when = query[3]
        if when.endswith("d") and when[:-1].isdigit():
            cutoff = time.time() - int(when[:-1]) * DAY
        elif when.isdigit():
            cutoff = int(when)
        else:
            try:
                cutoff = (
                    datetime.strptime(when, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
                )
            except ValueError:
                return None
        return query[1], cutoff

    @staticmethod
    def _hit(message, glob, cutoff):
        return fnmatch.fnmatchcase(message["mailbox"], glob) and message["received"] < cutoff

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                expected = "X-Dovecot-API " + base64.b64encode(fake.api_key.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, "")
                if self.path.rstrip("/") != "/doveadm/v1":
                    return self._send(404, "")
                try:
                    [[command, params, tag]] = json.loads(raw)
                except (ValueError, TypeError):
                    return self._send(400, "JSON parse error")
                with fake.lock:
                    fake.calls.append((command, params.get("user")))
                if fake.mode == "timeout":
                    time.sleep(fake.delay)
                with fake.lock:
                    if params.get("user") in fake.drop_users:
                        self.close_connection = True
                        self.connection.close()
                        return None
                    if fake.mode == "error":
                        return self._send(500, "Internal Server Error")
                    kind, body = fake._run(command, params)
                return self._send(200, [[kind, body, tag]])

        return Handler


class DoveadmServerMixin:
    """``cls.doveadm`` (FakeDoveadm) started once per class, the
    environment pointing the suite at it, reset before each test. List it
    before the test case class."""

    DOVEADM_KEY = "test-doveadm-key-0123456789"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.doveadm = FakeDoveadm(api_key=cls.DOVEADM_KEY).start()
        cls.addClassCleanup(cls.doveadm.stop)
        cls.doveadm_environ = {
            "EMBOUX_DOVEADM_URL": cls.doveadm.url,
            "EMBOUX_DOVEADM_API_KEY": cls.DOVEADM_KEY,
            "EMBOUX_DOVEADM_TIMEOUT": "10",  # Odoo's test runner raises less to 10 s
        }
        cls.startClassPatcher(patch.dict(os.environ, cls.doveadm_environ))

    def setUp(self):
        super().setUp()
        self.doveadm.reset()
