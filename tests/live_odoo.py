"""A real Odoo with the suite installed on a throwaway database.

Shared by the live REST tests (``tests/test_api_live.py``) and the
benchmarks (``bench/run.py``): install the addons through Odoo's command
line, start Odoo prefork (``--workers=2``) on a loopback port with
``EMBOUX_MASTER_TOKEN`` and ``EMBOUX_POLICY_TOKEN`` (the Postfix policy
route's own token, random unless given) set, stop it, drop the database.
"""

import os
from pathlib import Path
import secrets
import signal
import socket
import subprocess
import time

import requests

TOP = Path(__file__).resolve().parents[1]
PYTHON = TOP / ".venv" / "bin" / "python"
# scripts/setup.sh's launcher: Odoo re-executes sys.argv[0] (its gevent
# worker), which `python -m odoo` cannot survive
LAUNCHER = TOP / ".venv" / "bin" / "odoo"


def suite_addons():
    """Every addon of the repository (as scripts/common.sh), or the list in
    ``EMBOUX_LIVE_ADDONS`` (comma-separated)."""
    if os.environ.get("EMBOUX_LIVE_ADDONS"):
        return os.environ["EMBOUX_LIVE_ADDONS"].split(",")
    return sorted(p.parent.name for p in TOP.glob("*/__manifest__.py"))


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick_ports(port, fallback=True):
    """``(http port, gevent port)``: ``port`` and ``port + 10000`` when both
    are free; else two free ports, or ``RuntimeError`` without ``fallback``."""
    gevent = port + 10000
    if port_is_free(port) and port_is_free(gevent):
        return port, gevent
    if not fallback:
        raise RuntimeError(f"port {port} or {gevent} is taken")
    return free_port(), free_port()


def odoo_command():
    return [str(LAUNCHER)] if LAUNCHER.exists() else [str(PYTHON), "-m", "odoo"]


class LiveOdoo:
    """One Odoo server (prefork, ``workers`` workers) on database ``db``."""

    def __init__(
        self,
        workdir,
        db,
        token,
        port=8213,
        port_fallback=True,
        workers=2,
        extra_env=None,
        policy_token=None,
    ):
        self.workdir = Path(workdir)
        self.extra_env = dict(extra_env or {})  # e.g. a sending rule's setting
        self.db = db
        self.token = token
        self.policy_token = policy_token or "policy-" + secrets.token_urlsafe(24)
        self.workers = workers
        self.port, self.gevent_port = pick_ports(port, fallback=port_fallback)
        self.proc = None
        self.prefix = "/api"
        self.log_path = None
        self.timings = {}

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBOUX_")}
        env.update(
            EMBOUX_MASTER_TOKEN=self.token,
            EMBOUX_POLICY_TOKEN=self.policy_token,
            **self.extra_env,
            **extra,
        )
        return env

    # -- database -------------------------------------------------------
    def install(self):
        addons = ",".join(suite_addons())
        log = self.workdir / "install.log"
        start = time.monotonic()
        with open(log, "w") as out:
            rc = subprocess.call(
                [
                    *odoo_command(),
                    f"--addons-path={TOP}",
                    "-d",
                    self.db,
                    "-i",
                    addons,
                    "--stop-after-init",
                    "--no-http",
                    "--workers=0",
                    f"--data-dir={self.workdir / 'data'}",
                    "--log-level=warn",
                ],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self.timings["install"] = time.monotonic() - start
        assert rc == 0, f"install of {addons} failed:\n{log.read_text()[-5000:]}"

    def drop(self):
        if os.environ.get("EMBOUX_LIVE_KEEP_DB"):
            return
        subprocess.call(["dropdb", "--if-exists", "--force", self.db], stderr=subprocess.DEVNULL)

    # -- server ---------------------------------------------------------
    def start(self, prefix=None, log_level="info"):
        extra = {"EMBOUX_API_PREFIX": prefix} if prefix else {}
        self.prefix = prefix or "/api"
        self.log_path = self.workdir / f"server-{len(self.timings)}.log"
        start = time.monotonic()
        self.proc = subprocess.Popen(
            [
                *odoo_command(),
                f"--addons-path={TOP}",
                "-d",
                self.db,
                # as odoo.conf.example: -d alone serves that one database without
                # listing the cluster's databases on every request (a
                # --db-filter would), and no database manager
                "--no-database-list",
                "--http-interface=127.0.0.1",
                f"--http-port={self.port}",
                f"--gevent-port={self.gevent_port}",
                f"--workers={self.workers}",
                "--max-cron-threads=0",
                f"--data-dir={self.workdir / 'data'}",
                f"--log-level={log_level}",
                f"--logfile={self.log_path}",
            ],
            env=self.env(**extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"Odoo exited:\n{self.log()[-5000:]}"
            try:
                if requests.get(self.url("/health"), timeout=2).status_code == 200:
                    self.timings[f"start {self.prefix}"] = time.monotonic() - start
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"Odoo did not answer:\n{self.log()[-5000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def url(self, path, prefix=None):
        return f"http://127.0.0.1:{self.port}{prefix or self.prefix}{path}"

    def log(self):
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""
