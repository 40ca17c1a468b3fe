"""Postfix-style load on the policy service (mailserver/policyd).

Postfix's smtpd keeps a connection to the policy service open and sends one
request after the other on it (SMTPD_POLICY_README). :func:`run` opens
``connections`` such connections and sends END-OF-MESSAGE requests on each,
one at a time, until ``total`` requests were answered or ``seconds`` passed,
and collects every answer with its latency. Shared by the exactness tests
(tests/test_policy_load.py) and ``make bench``.
"""

import asyncio
from dataclasses import dataclass, field
import itertools
import os
from pathlib import Path
import signal
import socket
import subprocess
import time

ALLOW = "DUNNO"


def end_of_message(sender, recipient_count=1, size=1000, queue_id="0"):
    """One END-OF-MESSAGE request as Postfix's submission smtpd sends it."""
    return (
        "request=smtpd_access_policy\n"
        "protocol_state=END-OF-MESSAGE\n"
        "protocol_name=ESMTP\n"
        "client_address=192.0.2.10\n"
        f"queue_id={queue_id}\n"
        f"sender={sender}\n"
        f"recipient_count={recipient_count}\n"
        f"size={size}\n"
        "\n"
    ).encode()


@dataclass
class LoadResult:
    seconds: float = 0.0
    # (sender, action) of every answer received
    answers: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    # connections that broke (refused, reset, closed) and requests sent on
    # them that got no answer
    broken: int = 0
    unanswered: int = 0

    def allowed(self, sender=None):
        return sum(1 for who, action in self.answers if action == ALLOW and sender in (None, who))

    def rate(self):
        return len(self.answers) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _connection(host, port, senders, budget, deadline, result, size):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        result.broken += 1
        return
    try:
        while time.monotonic() < deadline:
            if budget is not None:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            sender = next(senders)
            started = time.perf_counter()
            writer.write(end_of_message(sender, size=size))
            try:
                await writer.drain()
                reply = await reader.readuntil(b"\n\n")
            except (OSError, asyncio.IncompleteReadError):
                result.broken += 1
                result.unanswered += 1
                return
            result.latencies.append(time.perf_counter() - started)
            action = reply.decode().strip().removeprefix("action=")
            result.answers.append((sender, action))
    finally:
        writer.close()


async def _run(host, port, senders, connections, total, seconds, size):
    result = LoadResult()
    cycle = itertools.cycle(senders)
    budget = [total] if total is not None else None
    deadline = time.monotonic() + (seconds if seconds is not None else 3600)
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(host, port, cycle, budget, deadline, result, size)
            for _ in range(connections)
        )
    )
    result.seconds = time.perf_counter() - started
    return result


def run(port, senders, connections=50, total=None, seconds=None, host="127.0.0.1", size=1000):
    """``connections`` Postfix-style connections sending END-OF-MESSAGE
    requests for ``senders`` (round robin) until ``total`` answers or
    ``seconds``; a :class:`LoadResult`."""
    return asyncio.run(_run(host, port, list(senders), connections, total, seconds, size))


def ask(port, request, host="127.0.0.1", timeout=10):
    """One request (bytes) on a new connection; the action."""

    async def _ask():
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            writer.write(request)
            await writer.drain()
            reply = await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout)
        finally:
            writer.close()
        return reply.decode().strip().removeprefix("action=")

    return asyncio.run(_ask())


class PolicyService:
    """The policy service (mailserver/policyd/emboux_policyd.py) started
    from a configuration file as the README shows it, on a loopback port."""

    def __init__(self, workdir, dsn, port, python, script, **settings):
        self.workdir = Path(workdir)
        self.port = port
        self.python = str(python)
        self.script = str(script)
        self.config = self.workdir / f"policyd-{port}.conf"
        self.log_path = self.workdir / f"policyd-{port}.log"
        lines = ["[policyd]", f"listen = 127.0.0.1:{port}", f"dsn = {dsn}"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "a")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [self.python, self.script, "--config", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"policyd exited:\n{self.log_text()}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"policyd did not listen:\n{self.log_text()}")

    def kill(self):
        """``kill -9``: no goodbye to Postfix nor to PostgreSQL."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.log.close()

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""
