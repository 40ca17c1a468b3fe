"""The send decision at database speed: the policy service
(mailserver/policyd) under Postfix-style load, beside the machine's own
PostgreSQL reference (pgbench, a one-row ``UPDATE ... RETURNING``).

Used by bench/run.py on its live server: :func:`measure` seeds verified
domains through the REST API, starts the policy service as its own
PostgreSQL role, drives it with 50 kept-open connections (tests/policy_load.py)
over 100 domains and over 1 domain, then runs pgbench on a scratch table of
the same database with the same 50 clients, and answers the figures.
"""

import os
import platform
import re
import subprocess
import tempfile

from live_odoo import PYTHON, TOP, free_port
import policy_load
import psycopg2
import requests

SCRIPT = TOP / "mailserver" / "policyd" / "emboux_policyd.py"
CONNECTIONS = 50
REF_TABLE = "bench_pgbench_reference"


def machine(db):
    """Cores, CPU model and PostgreSQL version of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    conn = psycopg2.connect(dbname=db)
    with conn.cursor() as cr:
        cr.execute("SHOW server_version")
        version = cr.fetchone()[0]
        cr.execute("SHOW synchronous_commit")
        sync = cr.fetchone()[0]
    conn.close()
    return {"cores": os.cpu_count(), "cpu": model, "postgresql": version, "sync_commit": sync}


def seed(server, token, names):
    """Verified domains without warm-up or limits, enforcement off: every
    decision counts (the costliest path)."""
    headers = {"Authorization": f"Bearer {token}"}
    for name in names:
        response = requests.post(
            server.url("/domains/"), json={"name": name}, headers=headers, timeout=60
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /domains/ {name}: {response.status_code} {response.text}")
    conn = psycopg2.connect(dbname=server.db)
    with conn, conn.cursor() as cr:
        cr.execute(
            "UPDATE emboux_domain SET verification_status = 'verified', warmup_profile = NULL,"
            " outbound_enforcement = 'off' WHERE name = ANY(%s)",
            [list(names)],
        )
    conn.close()


def load(port, senders, seconds):
    # warm the pools and plans first; its decisions count too
    warm = policy_load.run(port, senders, connections=CONNECTIONS, seconds=2)
    result = policy_load.run(port, senders, connections=CONNECTIONS, seconds=seconds)
    if result.broken or warm.broken:
        raise RuntimeError(f"{result.broken} policy connections broke")
    return {
        "decisions": len(result.answers),
        "allowed_with_warmup": warm.allowed() + result.allowed(),
        "per_s": result.rate(),
        "p50_ms": result.percentile(0.5) * 1000,
        "p99_ms": result.percentile(0.99) * 1000,
    }


def run_pgbench(db, script, seconds):
    """pgbench's tps and average latency for ``script`` at CONNECTIONS
    clients, prepared, durable commits."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(CONNECTIONS),
                "-j",
                "2",
                "-T",
                str(max(1, round(seconds))),
                "-f",
                handle.name,
                db,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return {"per_s": tps, "avg_ms": latency}


def pgbench(db, rows, seconds):
    """pgbench's tps for ``UPDATE ... RETURNING`` of one row among
    ``rows``, at CONNECTIONS clients, prepared, durable commits."""
    conn = psycopg2.connect(dbname=db)
    with conn, conn.cursor() as cr:
        cr.execute(f"DROP TABLE IF EXISTS {REF_TABLE}")
        cr.execute(f"CREATE TABLE {REF_TABLE} (id integer PRIMARY KEY, n bigint NOT NULL)")
        cr.execute(f"INSERT INTO {REF_TABLE} SELECT g, 0 FROM generate_series(1, %s) g", [rows])
    conn.close()
    try:
        return run_pgbench(
            db,
            f"\\set id random(1, {rows})\n"
            f"UPDATE {REF_TABLE} SET n = n + 1 WHERE id = :id RETURNING n;\n",
            seconds,
        )
    finally:
        conn = psycopg2.connect(dbname=db)
        with conn, conn.cursor() as cr:
            cr.execute(f"DROP TABLE IF EXISTS {REF_TABLE}")
        conn.close()


def pgbench_function(db, seconds):
    """pgbench's tps for the policy function alone, one END-OF-MESSAGE of
    one of the 100 domains per transaction (as the superuser, prepared):
    the ceiling of a decision per transaction, without the service."""
    return run_pgbench(
        db,
        "\\set i random(0, 99)\n"
        "SELECT action, reason FROM emboux_policy_action('END-OF-MESSAGE',"
        " 'news@pd-' || lpad(:i::text, 3, '0') || '.bench.example', '', 1, 1000, '');\n",
        seconds,
    )


def measure(server, token, role, password, workdir, seconds=10):
    """Every figure of the policy service's table (see the module doc)."""
    many = [f"pd-{i:03d}.bench.example" for i in range(100)]
    one = ["pd-one.bench.example"]
    seed(server, token, many + one)
    service = policy_load.PolicyService(
        workdir,
        dsn=f"host=127.0.0.1 port=5432 dbname={server.db} user={role} password={password}",
        port=free_port(),
        python=PYTHON,
        script=SCRIPT,
    )
    service.start()
    try:
        figures = {
            "machine": machine(server.db),
            "many": load(service.port, [f"news@{n}" for n in many], seconds),
            "one": load(service.port, [f"news@{n}" for n in one], seconds),
        }
    finally:
        service.stop()
    conn = psycopg2.connect(dbname=server.db)
    with conn.cursor() as cr:
        cr.execute(
            "SELECT sum(c.sent_today) FROM emboux_outbound_counter c"
            " JOIN emboux_domain d ON d.id = c.domain_id WHERE d.name = ANY(%s)",
            [many + one],
        )
        figures["counted"] = int(cr.fetchone()[0] or 0)
    conn.close()
    figures["allowed"] = (
        figures["many"]["allowed_with_warmup"] + figures["one"]["allowed_with_warmup"]
    )
    figures["pgbench_many"] = pgbench(server.db, 100, seconds)
    figures["pgbench_one"] = pgbench(server.db, 1, seconds)
    # after the count above: these decisions are counted too
    figures["pgbench_function"] = pgbench_function(server.db, seconds)
    return figures
