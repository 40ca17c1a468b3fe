"""Shared by the multi-host checks: the suite installed once on a throwaway
database, two Odoo nodes on it, and the figures printed at the end.

Environment: ``EMBOUX_LIVE_DB_PREFIX`` (default ``emboux_e2e``; the
database is ``<prefix>_nodes_<pid>``), ``EMBOUX_E2E_NODE_PORTS`` (default
``8471,8472``; free ports when taken), ``EMBOUX_LIVE_KEEP_DB=1`` keeps the
database.
"""

import os
from pathlib import Path
import shutil
import sys

import psycopg2
import pytest

# tests/live_odoo.py, mailhost.py, policy_load.py and the live tests reused here
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster import (
    DB,
    MAIL_PASSWORD,
    MAIL_ROLE,
    NODE_PORTS,
    POLICY_PASSWORD,
    POLICY_ROLE,
    Cluster,
)
from live_odoo import PYTHON
import test_api_live

FIGURES = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures measured (noisy: 2 shared cores)")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figures():
    """``figures(line)`` prints ``line`` now and in the summary of the run."""

    def record(line):
        print(line)
        FIGURES.append(line)

    return record


def drop_role(role):
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'DROP ROLE IF EXISTS "{role}"')
    conn.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """Two prefork Odoo nodes (one cron worker each, proxy_mode) on one
    database and one data_dir, serving the master token of the live tests
    (tests/test_api_live.py's helpers default to it)."""
    if not PYTHON.exists():
        pytest.fail("no virtualenv: run `make setup` first")
    if not shutil.which("systemd-socket-activate"):
        pytest.fail("no systemd-socket-activate (Debian's systemd package) to start the nodes")
    nodes = Cluster(
        tmp_path_factory.mktemp("emboux-nodes"),
        db=DB,
        token=test_api_live.TOKEN,
        ports=NODE_PORTS,
        extra_env={
            # tests/test_policy_load.py's race: only the daily limit binds
            "HOURLY_FRACTION": "1",
            "EMBOUX_MAILSERVER_DB_ROLE": MAIL_ROLE,
            "EMBOUX_MAILSERVER_DB_PASSWORD": MAIL_PASSWORD,
            "EMBOUX_POLICYD_DB_ROLE": POLICY_ROLE,
            "EMBOUX_POLICYD_DB_PASSWORD": POLICY_PASSWORD,
        },
    )
    try:
        nodes.install()
        nodes.start()
        yield nodes
    finally:
        nodes.stop()
        nodes.nodes[0].drop()
        if not os.environ.get("EMBOUX_LIVE_KEEP_DB"):
            drop_role(MAIL_ROLE)
            drop_role(POLICY_ROLE)
