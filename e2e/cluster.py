"""Several Odoo nodes on one database, and a REST load client.

Shared by e2e/test_nodes.py, e2e/test_nginx.py and e2e/test_replica.py
(helpers only, no tests here). The nodes are tests/live_odoo.py's
``LiveOdoo`` (prefork, ``--workers=2``), each with one cron worker and
``proxy_mode``, sharing one ``data_dir`` (sessions and attachments).
"""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
import itertools
import os
from pathlib import Path
import secrets
import ssl
import threading
import time
from unittest import mock

import live_odoo
from live_odoo import LiveOdoo
import psycopg2
import requests

TIMEOUT = 60
PREFIX = os.environ.get("EMBOUX_LIVE_DB_PREFIX", "emboux_e2e")
DB = f"{PREFIX}_nodes_{os.getpid()}"
# The mail servers' and the policy service's roles of this database: own
# names, so that no other database's roles (emboux_mailserver, ...) change
MAIL_ROLE = f"{PREFIX}_ms_{os.getpid()}"
MAIL_PASSWORD = secrets.token_urlsafe(18)
POLICY_ROLE = f"{PREFIX}_pd_{os.getpid()}"
POLICY_PASSWORD = secrets.token_urlsafe(18)
NODE_PORTS = [int(p) for p in os.environ.get("EMBOUX_E2E_NODE_PORTS", "8471,8472").split(",")]


LAUNCHER = """#!{python}
# Odoo with the node's own options after LiveOdoo's, under systemd's socket
# activation when listen is set (as deploy/systemd/odoo.socket does it)
import os, sys
command = {command!r} + sys.argv[1:] + {extra!r}
listen = {listen!r}
if listen:
    # systemd-socket-activate passes on only the variables it is told
    names = [f"--setenv={{name}}" for name in os.environ]
    command = ["systemd-socket-activate", f"--listen={{listen}}", *names, *command]
os.execvp(command[0], command)
"""


class Node(LiveOdoo):
    """A ``LiveOdoo`` started with ``extra_args`` after its own options,
    and with ``socket_activation`` its HTTP port opened by
    ``systemd-socket-activate`` (a listen queue of SOMAXCONN connections,
    as a systemd socket unit has, instead of Odoo's 8 per worker).

    ``LiveOdoo.start`` passes ``--max-cron-threads=0``; Odoo keeps the last
    value of an option, so the node's launcher (a script in its workdir)
    appends its own."""

    def __init__(self, workdir, data_dir, extra_args, socket_activation=False, **kwargs):
        super().__init__(workdir, **kwargs)
        (self.workdir / "data").symlink_to(data_dir)
        self.launcher = self.workdir / "odoo-node"
        self.launcher.write_text(
            LAUNCHER.format(
                python=live_odoo.PYTHON,
                command=live_odoo.odoo_command(),
                extra=list(extra_args),
                listen=f"127.0.0.1:{self.port}" if socket_activation else "",
            )
        )
        self.launcher.chmod(0o755)

    def start(self, prefix=None, log_level="info"):
        with mock.patch.object(live_odoo, "odoo_command", lambda: [str(self.launcher)]):
            super().start(prefix=prefix, log_level=log_level)

    def base(self):
        return f"http://127.0.0.1:{self.port}"


class Cluster:
    """The suite installed once on ``db``; two nodes on it (``ports``)."""

    def __init__(self, workdir, db, token, ports, extra_env):
        self.workdir = Path(workdir)
        self.db = db
        self.token = token
        data_dir = self.workdir / "data"
        data_dir.mkdir()
        self.nodes = []
        for name, port in zip("ab", ports, strict=True):
            folder = self.workdir / f"node-{name}"
            folder.mkdir()
            self.nodes.append(
                Node(
                    folder,
                    data_dir,
                    # a cron worker per node (Odoo's cron locking decides who
                    # runs a job); X-Forwarded-* trusted from the balancer
                    ["--max-cron-threads=1", "--proxy-mode"],
                    socket_activation=True,
                    db=db,
                    token=token,
                    port=port,
                    extra_env=extra_env,
                )
            )

    def install(self):
        self.nodes[0].install()
        # The suite's own crons stay off on this database: their schedules
        # are not under test here, and the DNS check would ask the
        # internet's resolvers. e2e/test_nodes.py adds a cron of its own.
        self.sql("UPDATE ir_cron SET active = false")

    def start(self):
        # one after the other: Node.start swaps live_odoo's launcher
        for node in self.nodes:
            node.start()

    def stop(self):
        for node in self.nodes:
            node.stop()

    def sql(self, query, params=()):
        conn = psycopg2.connect(dbname=self.db)
        try:
            with conn, conn.cursor() as cr:
                cr.execute(query, params)
                return cr.fetchall() if cr.description else None
        finally:
            conn.close()

    def api(self, node, method, path, token=None, **kwargs):
        response = requests.request(
            method,
            node.url(path),
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=TIMEOUT,
            **kwargs,
        )
        assert response.status_code < 500, f"{method} {path}: {response.text}"
        return response


class Balanced:
    """Looks like one ``LiveOdoo`` to the live tests of tests/: each
    ``url()`` goes to the next node in turn, so two requests made at once
    land on two nodes. ``served`` counts the requests per node port."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.db = nodes[0].db
        self.token = nodes[0].token
        self.prefix = nodes[0].prefix
        self._turn = itertools.cycle(nodes)
        self._lock = threading.Lock()
        self.served = Counter()

    @property
    def port(self):
        return self.nodes[0].port

    def url(self, path, prefix=None):
        with self._lock:
            node = next(self._turn)
            self.served[node.port] += 1
        return node.url(path, prefix)

    def log(self):
        return "".join(node.log() for node in self.nodes)


# --- a REST load client --------------------------------------------------------


@dataclass
class Load:
    """What ``clients`` closed-loop clients got in ``seconds``."""

    clients: int
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    # connection errors by kind: ConnectionResetError, ConnectionRefusedError,
    # IncompleteReadError (closed mid-answer), TimeoutError
    errors: Counter = field(default_factory=Counter)

    @property
    def answered(self):
        return sum(self.statuses.values())

    @property
    def server_errors(self):
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def rate(self):
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, fraction):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self):
        return (
            f"{self.clients} clients, {self.seconds:.0f} s: {self.answered} answers "
            f"({self.rate():.0f}/s), statuses {dict(sorted(self.statuses.items()))}, "
            f"connection errors {sum(self.errors.values())} {dict(self.errors)}, "
            f"p50 {self.percentile(0.5) * 1000:.0f} ms, p99 {self.percentile(0.99) * 1000:.0f} ms"
        )


async def _read_answer(reader):
    """Status and whether the server closes the connection after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    close = headers.get("connection") == "close" or version == "HTTP/1.0"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        close = True
    return int(status), close


async def _client(port, request, deadline, load, keepalive, timeout, tls):
    reader = writer = None
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, ssl=tls), timeout
                )
            writer.write(request)
            await writer.drain()
            status, close = await asyncio.wait_for(_read_answer(reader), timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            load.errors[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            writer = None
            continue
        load.latencies.append(time.perf_counter() - started)
        load.statuses[status] += 1
        if close or not keepalive:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def rest_load(port, path, token, clients, seconds, keepalive=True, timeout=30, tls=False):
    """``clients`` clients each sending ``GET path`` (HTTP/1.1, the master
    token) one after the other for ``seconds``: a :class:`Load`. Without
    ``keepalive`` every request opens a new connection (as Odoo's prefork
    workers close theirs after each answer anyway). ``tls``: HTTPS, any
    certificate accepted."""
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    load = Load(clients)

    async def _run():
        deadline = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _client(port, request, deadline, load, keepalive, timeout, context)
                for _ in range(clients)
            )
        )
        load.seconds = time.perf_counter() - started

    asyncio.run(_run())
    return load
