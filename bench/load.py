"""A small closed-loop HTTP load generator: ``concurrency`` threads, each
with its own ``requests.Session``, share a bounded count of requests."""

from dataclasses import dataclass, field
import itertools
import threading
import time

import requests

TIMEOUT = 60


@dataclass
class Case:
    """One benchmark case: ``request(session, i)`` sends request ``i`` (a
    ``requests.Response`` back); ``expect`` are the right status codes."""

    name: str
    request: object
    expect: tuple = (200,)
    headers: dict = field(default_factory=dict)


@dataclass
class Result:
    case: str
    concurrency: int
    latencies: list
    wall: float
    errors: int
    first_error: str = ""
    server: tuple = None  # medians from the server log, see run.py

    @property
    def count(self):
        return len(self.latencies)

    @property
    def rps(self):
        return self.count / self.wall if self.wall else 0.0

    def percentile(self, p):
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000


def run(case, requests_count, concurrency, max_seconds=None):
    """Send ``requests_count`` requests of ``case`` over ``concurrency``
    threads; stop early (fewer requests) after ``max_seconds``."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies, failures = [], []
    start = time.perf_counter()
    deadline = start + max_seconds if max_seconds else None

    def worker():
        session = requests.Session()
        session.headers.update(case.headers)
        while True:
            with lock:
                i = next(counter)
            if i >= requests_count or (deadline and time.perf_counter() > deadline):
                break
            sent = time.perf_counter()
            try:
                response = case.request(session, i)
                elapsed = time.perf_counter() - sent
                ok = response.status_code in case.expect
                detail = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                elapsed = time.perf_counter() - sent
                ok, detail = False, repr(exc)
            with lock:
                latencies.append(elapsed)
                if not ok:
                    failures.append(detail)
        session.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return Result(
        case.name,
        concurrency,
        latencies,
        wall,
        len(failures),
        failures[0] if failures else "",
    )
