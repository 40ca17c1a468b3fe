"""A real Odoo with the suite installed on a throwaway database.

Shared by the live REST tests (``tests/test_api_live.py``) and the
benchmarks (``bench/run.py``): install the addons through Odoo's command
line, start Odoo prefork (``--workers=2``) on a loopback port with
``EMBOUX_MASTER_TOKEN`` and ``EMBOUX_POLICY_TOKEN`` (the Postfix policy
route's own token, random unless given) set, stop it, drop the database.

In a test session of tests/ (tests/conftest.py sets :data:`TEMPLATES`),
``install()`` copies a template database instead: the suite is installed
once per session (:class:`Templates`), each test module gets a copy.
"""

import contextlib
import os
from pathlib import Path
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import psycopg2
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


def base_env():
    """The environment of an Odoo command: this process's, without any of
    the suite's own variables (``EMBOUX_*``)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EMBOUX_")}


def install_command(db, addons, data_dir):
    """``odoo -i addons`` on ``db``, without HTTP, stopping when done."""
    return [
        *odoo_command(),
        f"--addons-path={TOP}",
        "-d",
        db,
        "-i",
        ",".join(addons),
        "--stop-after-init",
        "--no-http",
        "--workers=0",
        f"--data-dir={data_dir}",
        "--log-level=warn",
    ]


# -- installs kept as template databases ---------------------------------
# Variables an install leaves no trace of in the database (read when a
# request or a cron needs them), or whose effect every start of Odoo applies
# again (``_register_hook`` at the registry load): the API prefix (the
# endpoint is synced), the sending rules (the settings row is rewritten),
# the policy service's role and password (made and granted when missing).
# Installs that differ only in these share a template; any other variable
# (e.g. the mail servers' role, made at install only) keys a template of its
# own, installed with it.
START_TIME_ENV = frozenset(
    {
        "EMBOUX_MASTER_TOKEN",
        "EMBOUX_POLICY_TOKEN",
        "EMBOUX_API_PREFIX",
        "EMBOUX_POLICYD_DB_ROLE",
        "EMBOUX_POLICYD_DB_PASSWORD",
        "HOURLY_FRACTION",
        "SPIKE_MAX_MULTIPLIER",
        "SPIKE_MIN_VOLUME",
        "BOUNCE_RATE_THRESHOLD",
        "COMPLAINT_RATE_THRESHOLD",
        "GUILLOTINE_MIN_VOLUME",
        "MAILGUN_API_KEY",
        "MAILGUN_BASE_URL",
        "MAILGUN_WEBHOOK_URL",
        "MAILGUN_WEBHOOK_SIGNING_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_SES",
        "EMBOUX_SES_SNS_TOPIC_ARNS",
        "EMBOUX_PROVIDER_TIMEOUT",
        "EMBOUX_DNS_NAMESERVERS",
        "EMBOUX_DNS_TIMEOUT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)


class TemplateBuild:
    """``odoo -i`` into a template database, in the background, in a folder
    of its own (named as the database): ``key`` (what it installs),
    ``install.log``, ``pid`` (its process group) and, once done, ``rc`` (the
    exit status). Started by this process (:meth:`start`), or by another one
    (``python tests/live_odoo.py prebuild``, from scripts/test.sh) and found
    in the folder (:meth:`find`)."""

    def __init__(self, workdir, key, proc=None):
        self.workdir = Path(workdir)
        self.db = self.workdir.name
        self.key = key
        self.proc = proc
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "install.log"
        self.rc_path = self.workdir / "rc"

    @classmethod
    def start(cls, workdir, db, key):
        workdir = Path(workdir) / db
        workdir.mkdir(parents=True)
        subprocess.call(["dropdb", "--if-exists", "--force", db], stderr=subprocess.DEVNULL)
        proc = subprocess.Popen(
            # the exit status in a file: whoever waits may not be the parent
            ["sh", "-c", '"$@" >install.log 2>&1; echo $? >rc.part && mv rc.part rc', "sh"]
            + install_command(db, key[0], workdir / "data"),
            env={**base_env(), **dict(key[1])},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            start_new_session=True,
        )
        (workdir / "pid").write_text(str(proc.pid))
        (workdir / "key").write_text(repr(key))
        return cls(workdir, key, proc)

    @classmethod
    def find(cls, folder, key):
        for path in sorted(Path(folder).glob("*/key")):
            if path.read_text() == repr(key):
                return cls(path.parent, key)
        return None

    def running(self):
        try:
            os.kill(int((self.workdir / "pid").read_text()), 0)
        except (OSError, ValueError):
            return False
        return True

    def wait(self, timeout=1800):
        if self.proc is not None:
            self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while not self.rc_path.exists():
            running = self.running()
            if self.rc_path.exists():
                break
            assert running, f"the install into {self.db} stopped without an exit status"
            assert time.monotonic() < deadline, f"the install into {self.db} takes too long"
            time.sleep(0.5)
        rc = int(self.rc_path.read_text())
        assert rc == 0, (
            f"install of {','.join(self.key[0])} (template {self.db}) failed:\n"
            f"{self.log_path.read_text()[-5000:]}"
        )

    def stop(self):
        if not self.rc_path.exists() and self.running():
            with contextlib.suppress(OSError):
                os.killpg(int((self.workdir / "pid").read_text()), signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def drop(self):
        self.stop()
        subprocess.call(["dropdb", "--if-exists", "--force", self.db], stderr=subprocess.DEVNULL)


class Templates:
    """The installs of a test session, each kept as a template database.

    ``prepare(addons, extra_env)`` starts installing ``addons`` into a
    template in the background (or finds that install started in
    ``workdir``), once per addons and install environment: the variables
    of ``extra_env`` but those of :data:`START_TIME_ENV`. ``clone()`` waits
    for it and copies it to a database of its own (``createdb -T``) with
    the template's filestore, and gives the copy its own ``database.uuid``
    and ``database.secret``, as Odoo's database manager does when it
    duplicates a database. ``drop()`` drops the templates."""

    def __init__(self, workdir, prefix):
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.builds = {}

    @staticmethod
    def key(addons, extra_env=None):
        """What an install depends on: the addons, and the variables of
        ``extra_env`` that an install keeps (not those of
        :data:`START_TIME_ENV`, nor those that :func:`base_env` already has
        with the same value)."""
        inherited = base_env()
        env = sorted(
            (k, v)
            for k, v in (extra_env or {}).items()
            if k not in START_TIME_ENV and inherited.get(k) != v
        )
        return tuple(sorted(addons)), tuple(env)

    def prepare(self, addons, extra_env=None):
        key = self.key(addons, extra_env)
        if key not in self.builds:
            build = TemplateBuild.find(self.workdir, key)
            if build is None:
                name = f"{self.prefix}_tpl{len(list(self.workdir.glob('*/key')))}_{os.getpid()}"
                build = TemplateBuild.start(self.workdir, name, key)
            self.builds[key] = build
        return self.builds[key]

    def clone(self, addons, extra_env, db, data_dir):
        """``db`` (dropped first if it exists): a copy of the template of
        ``addons`` and ``extra_env``, with its filestore in ``data_dir``."""
        build = self.prepare(addons, extra_env)
        build.wait()
        subprocess.call(["dropdb", "--if-exists", "--force", db], stderr=subprocess.DEVNULL)
        # the install's backends may still be closing (CREATE DATABASE waits
        # 5 s for them): a few tries
        for attempt in range(4):
            proc = subprocess.run(
                ["createdb", "-T", build.db, db], capture_output=True, text=True, check=False
            )
            if proc.returncode == 0:
                break
            time.sleep(1 + attempt)
        assert proc.returncode == 0, f"createdb -T {build.db} {db}: {proc.stderr}"
        source = build.data_dir / "filestore" / build.db
        if source.is_dir():
            target = Path(data_dir) / "filestore" / db
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        conn = psycopg2.connect(dbname=db)
        try:
            with conn, conn.cursor() as cr:
                for key, value in (
                    ("database.uuid", str(uuid.uuid1())),
                    ("database.secret", str(uuid.uuid4())),
                ):
                    cr.execute(
                        "UPDATE ir_config_parameter SET value = %s WHERE key = %s", (value, key)
                    )
        finally:
            conn.close()

    def wait(self):
        """Until every install started is over (whatever its outcome)."""
        for build in self.builds.values():
            with contextlib.suppress(AssertionError):
                build.wait()

    def drop(self):
        for build in self.builds.values():
            build.drop()
        self.builds.clear()

    def drop_all(self):
        """Drop every template of ``workdir`` (this process's or not), and
        the folder."""
        for path in sorted(self.workdir.glob("*/key")):
            TemplateBuild(path.parent, None).drop()
        self.builds.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


# The test session's templates (set by tests/conftest.py); None: install()
# installs the suite itself.
TEMPLATES = None


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
        env = base_env()
        env.update(
            EMBOUX_MASTER_TOKEN=self.token,
            EMBOUX_POLICY_TOKEN=self.policy_token,
            **self.extra_env,
            **extra,
        )
        return env

    # -- database -------------------------------------------------------
    def install(self):
        addons = suite_addons()
        start = time.monotonic()
        if TEMPLATES is not None:
            TEMPLATES.clone(addons, self.extra_env, self.db, self.workdir / "data")
            self.timings["install"] = time.monotonic() - start
            return
        log = self.workdir / "install.log"
        with open(log, "w") as out:
            rc = subprocess.call(
                install_command(self.db, addons, self.workdir / "data"),
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self.timings["install"] = time.monotonic() - start
        assert rc == 0, f"install of {','.join(addons)} failed:\n{log.read_text()[-5000:]}"

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


def main(argv):
    """``prebuild DIR ADDONS...``: start installing each ADDONS (a
    comma-separated list) into a template in DIR, in the background, for a
    test session to come (``EMBOUX_LIVE_TEMPLATES_DIR=DIR``, tests/conftest.py);
    ``drop DIR``: drop the templates of DIR (stopping the installs still
    running) and DIR."""
    prefix = os.environ.get("EMBOUX_LIVE_DB_PREFIX", "emboux_live")
    if len(argv) >= 3 and argv[0] == "prebuild":
        templates = Templates(argv[1], prefix)
        for addons in argv[2:]:
            templates.prepare(addons.split(","))
        return 0
    if len(argv) == 2 and argv[0] == "drop":
        Templates(argv[1], prefix).drop_all()
        return 0
    print("usage: live_odoo.py prebuild DIR ADDONS[,ADDONS...]... | drop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
