"""make bench: figures of the REST API on a live Odoo and of the set-based
work at scale, printed as tables.

1. Installs the suite on a throwaway database ``emboux_bench_<pid>`` and
   starts Odoo with ``--workers=2`` on 127.0.0.1:8219 (the master token is
   ``EMBOUX_MASTER_TOKEN`` when set, else a random one), with ~1,000
   domains present; drives the API with threads (one ``requests.Session``
   each) at concurrency 1 and 8, a bounded count of requests per case, and
   reads the RSS of the Odoo processes before and after. Then says where
   the time of each case goes: its queries and their time, counted by a
   second server on the same database logging every query
   (``--log-level=debug_sql``, one request at a time), and the CPU time of
   the Odoo processes per request (Python).
   Then the send decision through the policy service (mailserver/policyd,
   its own PostgreSQL role) at 50 Postfix-style connections over 100
   domains and over 1 domain, beside pgbench's one-row ``UPDATE ...
   RETURNING`` at 50 clients on the same machine (``bench/policyd_bench.py``).
2. In the same database, inserts 100,000 domains, 200,000 mailboxes and
   100,000 aliases of 1,000 tenants by SQL (``bench/odoo_side.py``), then
   times the models' own methods and the mail servers' own lookups
   (EXPLAIN ANALYZE; a sequential scan is reported as such), and lists the
   domains through the API once more at that size.

The server is stopped and the database dropped at the end, on failure and
on Ctrl-C too. Options: ``python bench/run.py --help``.
"""

import argparse
import datetime
import json
import os
from pathlib import Path
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
import requests

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from live_odoo import PYTHON, TOP, LiveOdoo
import load
from odoo_side import MARKER
import policyd_bench

PORT = 8219
PASSWORD = "correct horse battery"
CUSTOMER = "bench-customer"


def progress(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def table(headers, rows, right=None):
    """A plain-text table; columns in ``right`` (indexes) aligned right."""
    right = set(range(1, len(headers))) if right is None else set(right)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


# Odoo's request log line ends with: queries, their time (s), the rest (s)
REQUEST_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" \d+ - (\d+) ([\d.]+) ([\d.]+)')
# a query logged at --log-level=debug_sql: "odoo.sql_db: [0.123 ms] query: ..."
QUERY_LINE = re.compile(r" odoo\.sql_db: \[([\d.]+) ms\] query: ")
# requests per case of the pass that logs every query (concurrency 1)
SPLIT_REQUESTS = 40
# the REST send decision against GET /api/health, in alternation
RATIO_ROUNDS = 5
RATIO_REQUESTS = 100


def server_figures(server, offset):
    """Medians of (SQL queries, SQL s, other s) per request over the
    server log written since ``offset``."""
    with open(server.log_path, errors="replace") as log:
        log.seek(offset)
        rows = [tuple(map(float, m.groups())) for m in REQUEST_LINE.finditer(log.read())]
    if not rows:
        return None
    return tuple(statistics.median(col) for col in zip(*rows, strict=True))


def request_split(log_path, offset):
    """Medians of (queries, SQL ms, server ms) per request over a log written
    since ``offset`` at ``--log-level=debug_sql`` by one request at a time:
    every query logged before a request's line is that request's. Odoo's
    request line counts only the queries of its own thread, not those of
    the FastAPI app, which runs in other threads; this counts them all."""
    rows, queries, sql_ms = [], 0, 0.0
    with open(log_path, errors="replace") as log:
        log.seek(offset)
        for line in log:
            if match := QUERY_LINE.search(line):
                queries += 1
                sql_ms += float(match.group(1))
            elif match := REQUEST_LINE.search(line):
                total_ms = (float(match.group(2)) + float(match.group(3))) * 1000
                rows.append((queries, sql_ms, total_ms))
                queries, sql_ms = 0, 0.0
    if not rows:
        return None
    return tuple(statistics.median(col) for col in zip(*rows, strict=True))


def odoo_cpu_seconds(server):
    """CPU time (user + system) used so far by the Odoo server and its
    children, every thread: the Python side of the requests (PostgreSQL's
    work is in its own processes)."""
    try:
        main = psutil.Process(server.proc.pid)
        total = 0.0
        for proc in (main, *main.children(recursive=True)):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def odoo_processes(server):
    """``[(role, pid, RSS bytes)]`` of the Odoo server and its children."""
    try:
        main = psutil.Process(server.proc.pid)
        rows = [("main (prefork master)", main.pid, main.memory_info().rss)]
        workers = 0
        for child in sorted(main.children(recursive=True), key=lambda p: p.pid):
            try:
                argv = child.cmdline()
                rss = child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            if "gevent" in argv[:3]:  # `odoo gevent ...`, not --gevent-port
                role = "gevent (websocket) worker"
            else:
                workers += 1
                role = f"HTTP worker {workers}"
            rows.append((role, child.pid, rss))
        return rows
    except psutil.NoSuchProcess:
        return []


def odoo_side(db, workdir, *args):
    """Run ``bench/odoo_side.py`` (inside Odoo) and answer its JSON."""
    log = workdir / f"odoo_side-{args[0]}.log"
    with open(log, "w") as err:
        done = subprocess.run(
            [str(PYTHON), str(HERE / "odoo_side.py"), db, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=workdir,
            env={k: v for k, v in os.environ.items() if not k.startswith("EMBOUX_")},
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode or not lines:
        raise RuntimeError(f"odoo_side {args[0]} failed:\n{log.read_text()[-4000:]}")
    return json.loads(lines[-1][len(MARKER) :])


class Bench:
    def __init__(self, options):
        self.options = options
        self.db = f"emboux_bench_{os.getpid()}"
        self.token = os.environ.get("EMBOUX_MASTER_TOKEN") or "bench-" + secrets.token_urlsafe(24)
        self.workdir = Path(tempfile.mkdtemp(prefix="emboux-bench-"))
        self.server = None
        self.results = []
        self.split = {}
        self.scale_results = []
        self.policyd_role = f"emboux_policyd_bench_{os.getpid()}"
        self.policyd_password = secrets.token_urlsafe(24)
        self.rss = {}
        self.report = {}

    # -- helpers -----------------------------------------------------------
    def url(self, path, prefix=None):
        return self.server.url(path, prefix=prefix)

    def master(self):
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method, path, expect, headers=None, **kwargs):
        response = requests.request(
            method, self.url(path), headers=headers or self.master(), timeout=60, **kwargs
        )
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    # -- the REST API --------------------------------------------------------
    def api_cases(self, customer_token, server=None):
        server = server or self.server
        url = server.url
        run_tag = secrets.token_hex(3)

        def seeded(i):
            # the master's seeded domains: seed-00101 .. seed-01000
            return f"seed-{101 + i % 900:05}.bench.example"

        def post_domain(tag):
            return lambda s, i: s.post(
                url("/domains/"), json={"name": f"{tag}-{i}.post.example"}, timeout=60
            )

        def post_user(tag):
            return lambda s, i: s.post(
                url("/users/"),
                json={"email": f"{tag}-{i}@{seeded(i)}", "password": PASSWORD},
                timeout=60,
            )

        def post_alias(tag):
            return lambda s, i: s.post(
                url("/aliases/"),
                json={"source": f"{tag}-{i}@{seeded(i)}", "destination": f"owner@{seeded(i)}"},
                timeout=60,
            )

        def increment(s, i):
            return s.post(
                url(f"/domains/{seeded(i)}/outbound/increment"),
                json={"count": 1, "recipients": [f"r{i}@example.org"], "size_bytes": 2048},
                timeout=60,
            )

        def policy(s, i):
            return s.post(
                url("/policy", prefix="/emboux"),
                json={
                    "request": "smtpd_access_policy",
                    "protocol_state": "END-OF-MESSAGE",
                    "sender": f"bench@{seeded(i)}",
                    "recipient_count": "1",
                    "size": "2048",
                },
                timeout=60,
            )

        master = self.master()
        customer = {"Authorization": f"Bearer {customer_token}"}
        cases = []
        for conc in self.options.concurrency:
            tag = f"b{run_tag}c{conc}"
            cases += [
                (
                    conc,
                    load.Case("GET /api/health", lambda s, i: s.get(url("/health"), timeout=60)),
                ),
                (
                    conc,
                    load.Case(
                        "GET /web/health (Odoo's own route: the baseline)",
                        lambda s, i: s.get(url("/health", prefix="/web"), timeout=60),
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "GET /api/domains/ (master, 100 of 1,000)",
                        lambda s, i: s.get(url("/domains/"), timeout=60),
                        headers=master,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "GET /api/domains/ (customer token, its 100)",
                        lambda s, i: s.get(url("/domains/"), timeout=60),
                        headers=customer,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /api/domains/ (create)", post_domain(tag), (201,), headers=master
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /api/users/ (create, SHA512-CRYPT)",
                        post_user(tag),
                        (201,),
                        headers=master,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /api/aliases/ (upsert, new: 201)",
                        post_alias(tag),
                        (201,),
                        headers=master,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /api/aliases/ (upsert, existing: 200)",
                        post_alias(tag),
                        (200,),
                        headers=master,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /api/domains/{name}/outbound/increment (send decision)",
                        increment,
                        headers=master,
                    ),
                ),
                (
                    conc,
                    load.Case(
                        "POST /emboux/policy (Postfix policy: the same decision)",
                        policy,
                        # the mail host's own credential, not the master token
                        headers={"Authorization": f"Bearer {server.policy_token}"},
                    ),
                ),
            ]
        # the order of the table: each case at every concurrency, in turn
        names = list(dict.fromkeys(case.name for _, case in cases))
        return sorted(cases, key=lambda c: (names.index(c[1].name), c[0]))

    def bench_api(self):
        progress("REST API: a customer key and ~1,000 domains")
        key = self.call(
            "POST", "/api-keys/", (201,), json={"partner_ref": CUSTOMER, "name": "bench"}
        )
        self.call("PUT", f"/tenants/{CUSTOMER}", (200,), json={"max_domains": 0})
        seed = odoo_side(self.db, self.workdir, "seed-api", CUSTOMER, 1000, 100)
        self.report["api_seed"] = seed
        # the seeded master domains the send-decision cases use may send
        odoo_side(self.db, self.workdir, "prepare-send", 101, 900)
        # destinations of the aliases: a mailbox on every seeded master domain
        cases = self.api_cases(key["token"])
        # warm both workers (lazily built FastAPI app, caches)
        for case in {c.name: c for _, c in cases if c.name.startswith("GET")}.values():
            load.run(case, 20, 2)
        self.rss["before"] = odoo_processes(self.server)
        for conc, case in cases:
            offset = self.server.log_path.stat().st_size
            cpu = odoo_cpu_seconds(self.server)
            result = load.run(case, self.options.requests, conc, self.options.max_case_seconds)
            result.server = server_figures(self.server, offset)
            result.cpu_ms = (odoo_cpu_seconds(self.server) - cpu) * 1000 / max(result.count, 1)
            self.results.append(result)
            progress(
                f"{case.name} c={conc}: {result.count} in {result.wall:.1f} s, "
                f"{result.rps:.1f}/s, p50 {result.percentile(50):.1f} ms"
                + (f", {result.errors} errors: {result.first_error}" if result.errors else "")
            )
        self.rss["after"] = odoo_processes(self.server)
        self.report["customer_token"] = key["token"]
        self.bench_rest_ratio(cases)
        self.bench_api_split(key["token"])

    def bench_rest_ratio(self, cases):
        """The REST send decision against ``GET /api/health`` measured in
        alternation (RATIO_ROUNDS rounds of RATIO_REQUESTS requests each, at
        every concurrency): on a machine shared with other work, two cases
        run a minute apart see different loads; the median of the rounds'
        ratios does not."""
        by_name = {(conc, case.name): case for conc, case in cases}
        ratios = {}
        for conc in self.options.concurrency:
            health = by_name[(conc, "GET /api/health")]
            increment = next(
                c for (n, name), c in by_name.items() if n == conc and "increment" in name
            )
            rounds = []
            for _ in range(RATIO_ROUNDS):
                h = load.run(health, RATIO_REQUESTS, conc).rps
                i = load.run(increment, RATIO_REQUESTS, conc).rps
                rounds.append((h, i))
            ratios[conc] = rounds
            progress(
                f"REST ratio c={conc}: "
                + ", ".join(f"{i / h:.2f}" for h, i in rounds)
                + f" (median {statistics.median(i / h for h, i in rounds):.2f})"
            )
        self.report["rest_ratio"] = ratios

    def bench_api_split(self, customer_token):
        """Where the time of each REST case goes: a second server on the
        same database (one worker, this one left alone) logs every query
        (``--log-level=debug_sql``); each case runs at concurrency 1, and
        each request's queries are counted and their time summed."""
        progress("REST API: where the time goes (a server logging every query)")
        workdir = self.workdir / "split"
        workdir.mkdir(exist_ok=True)
        (workdir / "data").symlink_to(self.workdir / "data")
        server = LiveOdoo(
            workdir,
            db=self.db,
            token=self.token,
            port=self.options.port + 1,
            workers=1,
            policy_token=self.server.policy_token,
        )
        try:
            server.start(log_level="debug_sql")
            for _ in range(5):  # the worker's app and caches
                requests.get(server.url("/health"), timeout=60)
            first = min(self.options.concurrency)
            for conc, case in self.api_cases(customer_token, server=server):
                if conc != first:
                    continue
                offset = server.log_path.stat().st_size
                load.run(case, SPLIT_REQUESTS, 1, self.options.max_case_seconds)
                self.split[case.name] = request_split(server.log_path, offset)
        finally:
            server.stop()  # never server.drop(): the database is the benchmark's

    # -- the policy service ----------------------------------------------------
    def bench_policyd(self):
        progress("the policy service: 50 connections over 100 domains, then over 1 domain")
        workdir = self.workdir / "policyd"
        workdir.mkdir(exist_ok=True)
        self.report["policyd"] = policyd_bench.measure(
            self.server,
            self.token,
            self.policyd_role,
            self.policyd_password,
            workdir,
            seconds=self.options.policyd_seconds,
        )
        p = self.report["policyd"]
        progress(
            f"policy service: {p['many']['per_s']:.0f}/s over 100 domains, "
            f"{p['one']['per_s']:.0f}/s over 1; pgbench {p['pgbench_many']['per_s']:.0f}/s"
        )

    def print_policyd(self):
        p = self.report.get("policyd")
        if not p:
            return
        m = p["machine"]
        print()
        print(
            f"The send decision through the policy service (mailserver/policyd, its own role,"
            f" a pool of\n   persistent connections), {policyd_bench.CONNECTIONS} Postfix-style"
            f" kept-open connections, {self.options.policyd_seconds:.0f} s each;"
            f" {m['cores']} cores ({m['cpu']}),\n   PostgreSQL {m['postgresql']},"
            f" synchronous_commit {m['sync_commit']}; the load client runs on the same cores"
        )
        ref_many, ref_one = p["pgbench_many"]["per_s"], p["pgbench_one"]["per_s"]
        rows = [
            (
                "policy service, 100 domains",
                f"{p['many']['decisions']:,}",
                f"{p['many']['per_s']:.0f}",
                f"{p['many']['p50_ms']:.1f}",
                f"{p['many']['p99_ms']:.1f}",
                f"{p['many']['per_s'] / ref_many:.2f}",
            ),
            (
                "policy service, 1 domain (one counter row)",
                f"{p['one']['decisions']:,}",
                f"{p['one']['per_s']:.0f}",
                f"{p['one']['p50_ms']:.1f}",
                f"{p['one']['p99_ms']:.1f}",
                f"{p['one']['per_s'] / ref_one:.2f}",
            ),
            (
                "pgbench SELECT emboux_policy_action(...), 100 domains",
                "-",
                f"{p['pgbench_function']['per_s']:.0f}",
                f"{p['pgbench_function']['avg_ms']:.1f} (avg)",
                "-",
                f"{p['pgbench_function']['per_s'] / ref_many:.2f}",
            ),
            (
                "pgbench UPDATE ... RETURNING, 1 of 100 rows",
                "-",
                f"{ref_many:.0f}",
                f"{p['pgbench_many']['avg_ms']:.1f} (avg)",
                "-",
                "1.00",
            ),
            (
                "pgbench UPDATE ... RETURNING, the same row",
                "-",
                f"{ref_one:.0f}",
                f"{p['pgbench_one']['avg_ms']:.1f} (avg)",
                "-",
                "1.00",
            ),
        ]
        print(
            table(
                ("case", "decisions", "per s", "p50 ms", "p99 ms", "x pgbench"),
                rows,
                right=range(1, 6),
            )
        )
        print(
            "   (the policy service sends the requests waiting together in one statement, one"
            " transaction;\n   pgbench's SELECT is one decision per transaction, as the superuser,"
            " without the service)"
        )
        print(
            f"   Every decision counted: {p['counted']:,} in the counters for {p['allowed']:,}"
            " allowed answers (warm-up runs included)"
            + ("" if p["counted"] == p["allowed"] else "  ! MISMATCH")
        )
        by_case = {(r.case, r.concurrency): r for r in self.results}
        for conc in self.options.concurrency:
            health = by_case.get(("GET /api/health", conc))
            increment = next(
                (r for (case, c), r in by_case.items() if c == conc and "increment" in case),
                None,
            )
            if health and increment and health.rps:
                print(
                    f"   REST at concurrency {conc}: POST .../outbound/increment"
                    f" {increment.rps:.1f}/s vs GET /api/health {health.rps:.1f}/s:"
                    f" {increment.rps / health.rps:.2f}x"
                )
            rounds = self.report.get("rest_ratio", {}).get(conc)
            if rounds:
                print(
                    f"      in alternation, {len(rounds)} rounds of {RATIO_REQUESTS} each: "
                    + ", ".join(f"{i / h:.2f}" for h, i in rounds)
                    + f"; median {statistics.median(i / h for h, i in rounds):.2f}x"
                )

    # -- scale ---------------------------------------------------------------
    def bench_scale(self):
        o = self.options
        progress(
            f"scale: {o.tenants} tenants, {o.domains} domains, "
            f"{o.mailboxes_per_domain} mailboxes per domain, 1 alias per domain (SQL)"
        )
        self.report["scale"] = odoo_side(
            self.db, self.workdir, "scale", o.tenants, o.domains, o.mailboxes_per_domain
        )
        progress("scale: the API once more")
        url = self.url
        if "customer_token" not in self.report:  # the REST part was not run
            key = self.call(
                "POST", "/api-keys/", (201,), json={"partner_ref": CUSTOMER, "name": "bench"}
            )
            self.report["customer_token"] = key["token"]
        customer = {"Authorization": f"Bearer {self.report['customer_token']}"}
        total = self.report["scale"]["seed"]["domains_total"]
        for name, request, headers in (
            (
                f"GET /api/domains/ (master, 100 of {total:,})",
                lambda s, i: s.get(url("/domains/"), timeout=60),
                self.master(),
            ),
            (
                f"GET /api/domains/?offset=50000 (master, of {total:,})",
                lambda s, i: s.get(url("/domains/?offset=50000"), timeout=60),
                self.master(),
            ),
            (
                f"GET /api/domains/ (customer token, its 100 of {total:,})",
                lambda s, i: s.get(url("/domains/"), timeout=60),
                customer,
            ),
            (
                "GET /api/users/?domain=... (master, 2 of 200,000)",
                lambda s, i: s.get(url(f"/users/?domain=d{1000 + i:06}.bench.example"), timeout=60),
                self.master(),
            ),
        ):
            case = load.Case(name, request, headers=headers)
            load.run(case, 4, 2)
            offset = self.server.log_path.stat().st_size
            result = load.run(case, o.scale_requests, 8, o.max_case_seconds)
            result.server = server_figures(self.server, offset)
            self.scale_results.append(result)
            progress(f"{name}: {result.rps:.1f}/s, p50 {result.percentile(50):.1f} ms")
        self.rss["after scale"] = odoo_processes(self.server)

    # -- output --------------------------------------------------------------
    def print_report(self):
        o = self.options
        pg = subprocess.run(
            ["psql", "-d", self.db, "-Atc", "SHOW server_version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print()
        print(
            f"Emboux benchmarks, {datetime.datetime.now():%Y-%m-%d %H:%M}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg}"
        )
        print(
            f"Odoo --workers=2 on 127.0.0.1:{self.server.port}, database {self.db}; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.server.timings.items())
        )
        print()
        print(
            "1. REST API, loopback, one requests.Session per client thread; "
            f"{o.requests} requests per case (fewer when a case passes "
            f"{o.max_case_seconds:.0f} s); 1,000 domains present"
        )

        def api_rows(results):
            return [
                (
                    r.case,
                    r.concurrency,
                    r.count,
                    f"{r.rps:.1f}",
                    f"{r.percentile(50):.1f}",
                    f"{r.percentile(95):.1f}",
                    f"{r.percentile(99):.1f}",
                    f"{(r.server[1] + r.server[2]) * 1000:.1f}" if r.server else "-",
                    r.errors,
                )
                for r in results
            ]

        print(
            "   (Odoo's prefork workers close the connection after each answer, so every"
            " request is a new\n   loopback connection; the client threads share the CPUs"
            " with Odoo and PostgreSQL)"
        )
        headers = (
            "case",
            "conc",
            "n",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "server ms",
            "errors",
        )
        print(table(headers, api_rows(self.results), right=range(1, 9)))
        print(
            "   (server ms: median time of a request in the worker, from Odoo's own request log;"
            " the rest of\n   p50 is waiting for a worker, the connection and the client)"
        )
        if self.split:
            print()
            first = min(o.concurrency)
            print(
                "Where the time of a request goes, in the worker: its SQL queries and Python"
                f" (concurrency {first})"
            )
            rows = []
            for r in self.results:
                split = self.split.get(r.case)
                if r.concurrency != first or not split:
                    continue
                queries, sql_ms, _total = split
                server_ms = (r.server[1] + r.server[2]) * 1000 if r.server else float("nan")
                rows.append(
                    (
                        r.case,
                        f"{server_ms:.1f}",
                        f"{queries:.0f}",
                        f"{sql_ms:.1f}",
                        f"{r.cpu_ms:.1f}",
                        f"{max(server_ms - sql_ms - r.cpu_ms, 0):.1f}",
                    )
                )
            print(
                table(
                    ("case", "server ms", "queries", "SQL ms", "Python ms", "other ms"),
                    rows,
                )
            )
            print(
                "   (queries and SQL ms: medians per request, every query logged by a second"
                " server on the same\n   database at --log-level=debug_sql, "
                f"{SPLIT_REQUESTS} requests per case: Odoo's request log counts only the\n"
                "   queries of its own thread, not the FastAPI app's; Python ms: CPU time of"
                " the Odoo processes per\n   request in the run above; other ms: the rest of"
                " server ms, waiting for PostgreSQL to be\n   scheduled, locks, the CPUs"
                " shared with the clients)"
            )
        self.print_policyd()
        errors = [r for r in self.results + self.scale_results if r.errors]
        for r in errors:
            print(f"  ! {r.case} c={r.concurrency}: {r.errors} errors, first: {r.first_error}")
        print()
        print("Odoo processes, RSS in MB (the PIDs of the HTTP workers may change)")
        stages = list(self.rss)
        roles = list(dict.fromkeys(role for stage in stages for role, _, _ in self.rss[stage]))
        rows = []
        for role in roles:
            row = [role]
            for stage in stages:
                found = [(pid, rss) for r, pid, rss in self.rss[stage] if r == role]
                row.append(f"{found[0][1] / 2**20:.1f} (pid {found[0][0]})" if found else "-")
            rows.append(row)
        rows.append(
            ["total"] + [f"{sum(rss for _, _, rss in self.rss[s]) / 2**20:.1f}" for s in stages]
        )
        print(table(["process", *stages], rows))

        scale = self.report.get("scale")
        if not scale:
            return
        seed = scale["seed"]
        print()
        print(
            f"2. At scale: {seed['tenants_total']:,} tenants, {seed['domains_total']:,} domains, "
            f"{seed['mailboxes_total']:,} mailboxes, {seed['aliases_total']:,} aliases "
            f"(SQL inserts {seed['insert_s']:.1f} s, ANALYZE {seed['analyze_s']:.1f} s)"
        )
        if seed["null_gaps"]:
            print(f"  ! seeded rows leave NULL what the ORM fills: {seed['null_gaps']}")
        t = scale["timings"]
        rows = [
            (
                "emboux.tenant._reconcile_domains_used(), every tenant drifted",
                f"{t['reconcile_drift']['s'] * 1000:.1f} ms",
                f"{t['reconcile_drift']['changed']:,} tenants corrected",
            ),
            (
                "emboux.tenant._reconcile_domains_used(), nothing drifted",
                f"{t['reconcile_clean']['s'] * 1000:.1f} ms",
                f"{t['reconcile_clean']['changed']} changed; "
                + f"{t['reconcile_wrong_after']} wrong afterwards",
            ),
            (
                "emboux.domain._read_effective_outbound_sql(), 1 domain",
                f"{t['read_effective_outbound_sql_1']['s'] * 1000:.2f} ms",
                f"{scale['deep_domain']} (2 parents up)",
            ),
            (
                "emboux.domain._read_effective_outbound_sql(), a tenant's domains",
                f"{t['read_effective_outbound_sql_tenant']['s'] * 1000:.2f} ms",
                f"{t['read_effective_outbound_sql_tenant']['domains']} domains",
            ),
            (
                "SELECT count(*) FROM emboux_domain_effective_outbound",
                f"{t['effective_outbound_all']['s'] * 1000:.0f} ms",
                f"{t['effective_outbound_all']['rows']:,} rows (a full walk)",
            ),
            *(
                (
                    f"emboux.outbound.counter.{name}(), every domain counted",
                    f"{t[name]['s'] * 1000:.0f} ms",
                    f"{t[name]['domains']:,} domains reset",
                )
                for name in ("reset_daily", "reset_monthly")
            ),
        ]
        print(table(("model method / query", "time", "note"), rows, right=(1,)))
        print()
        print(
            "Lookups of the mail servers (queries of mailserver/): EXPLAIN ANALYZE "
            "planning + execution, and the median round trip of 50 runs"
        )
        rows, seq = [], []
        for name, r in scale["lookups"].items():
            access = "; ".join(
                re.sub(r"^(.*) on (\S+) \((.*)\)$", r"\3 (\1)", s)
                .replace("Index Only Scan", "index only")
                .replace("Index Scan", "index")
                for s in r["scans"]
            )
            rows.append(
                (
                    name,
                    f"{r['planning_ms']:.3f}",
                    f"{r['execution_ms']:.3f}",
                    f"{r['median_ms']:.3f}",
                    r["rows"],
                    "SEQ SCAN! " + access if r["seq_scans"] else access,
                )
            )
            seq += [f"{name}: {s}" for s in r["seq_scans"]]
        print(
            table(
                ("view [key]", "plan ms", "exec ms", "trip ms", "rows", "access path"),
                rows,
                right=range(1, 5),
            )
        )
        if seq:
            print("SEQUENTIAL SCANS on a lookup (each should use an index):")
            for s in seq:
                print(f"  ! {s}")
        else:
            print("Sequential scans on these lookups: none (every lookup uses an index).")
        print()
        print(f"The API at that size (concurrency 8, {o.scale_requests} requests per case)")
        print(table(headers, api_rows(self.scale_results), right=range(1, 9)))

    # -- the whole run ---------------------------------------------------------
    def run(self):
        started = time.monotonic()
        self.server = LiveOdoo(
            self.workdir,
            db=self.db,
            token=self.token,
            port=self.options.port,
            port_fallback=False,
            # the policy service's own PostgreSQL role, made by the suite
            extra_env={
                "EMBOUX_POLICYD_DB_ROLE": self.policyd_role,
                "EMBOUX_POLICYD_DB_PASSWORD": self.policyd_password,
            },
        )
        progress(f"installing the suite on {self.db} (log: {self.workdir})")
        self.server.install()
        progress(f"starting Odoo --workers=2 on :{self.server.port}")
        self.server.start()
        parts = self.options.parts
        if "api" in parts:
            self.bench_api()
        if "policyd" in parts:
            self.bench_policyd()
        if "scale" in parts:
            self.bench_scale()
        log = self.server.log()
        self.report["server_errors"] = sum(
            1 for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line
        )
        self.print_report()
        print()
        print(
            f"Server log: {self.report['server_errors']} ERROR/CRITICAL lines. "
            f"Whole run {time.monotonic() - started:.0f} s."
        )

    def cleanup(self):
        if self.server:
            self.server.stop()
            self.server.drop()
            subprocess.run(
                ["psql", "-d", "postgres", "-qc", f'DROP ROLE IF EXISTS "{self.policyd_role}"'],
                check=False,
            )
            progress(f"stopped Odoo, dropped {self.db} and role {self.policyd_role}")
        if self.report.get("server_errors") or os.environ.get("EMBOUX_BENCH_KEEP_LOGS"):
            progress(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per case (300)")
    parser.add_argument(
        "--concurrency", type=lambda v: [int(c) for c in v.split(",")], default=[1, 8]
    )
    parser.add_argument("--max-case-seconds", type=float, default=15.0)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--mailboxes-per-domain", type=int, default=2)
    parser.add_argument("--scale-requests", type=int, default=100)
    parser.add_argument(
        "--policyd-seconds", type=float, default=10.0, help="per policy service case (10)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=PORT,
        help=f"Odoo's HTTP port ({PORT}; the query-logging server takes the next one)",
    )
    parser.add_argument(
        "--parts",
        type=lambda v: set(v.split(",")),
        default={"api", "policyd", "scale"},
        help="which parts to run, comma-separated: api,policyd,scale (all)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    bench = Bench(options(argv))
    if not PYTHON.exists():
        sys.exit(f"no virtualenv at {PYTHON.parent.parent}: run `make setup` first")

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # Ctrl-C stops the run even when started with SIGINT ignored (a
    # background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    try:
        bench.run()
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    os.chdir(TOP)
    sys.exit(main())
