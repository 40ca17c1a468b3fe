"""Run work in parallel as Odoo's workers run requests, for the race tests.

Each thread has its own cursor; each call of ``work`` is a transaction of
its own, retried on a serialization failure as ``odoo.service.model.
retrying`` retries a request. That function cannot run here as is: it looks
the registry up under the lock the main thread holds while tests run.
"""

import random
import threading
import time

from odoo import api
from odoo.exceptions import ConcurrencyError
from odoo.orm.environments import Transaction
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import mute_logger

RETRYABLE = (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, ConcurrencyError)


class OutOfRetriesError(AssertionError):
    pass


def race(registry, uid, work, threads=2, calls=1, retries=5, pause=0.2):
    """Call ``work(env, thread_index)`` ``calls`` times in each of
    ``threads`` threads, the first calls at the same moment; each call
    commits. Answers ``(outcomes, retried)``: per thread, the list of what
    each call returned or raised (a call that failed to serialize
    ``retries`` times ends as :class:`OutOfRetriesError`), and how many
    attempts were retried in all. A thread still running after two minutes
    fails the test."""
    barrier = threading.Barrier(threads, timeout=30)
    outcomes = [[] for _index in range(threads)]
    retried = [0] * threads

    def run(index):
        try:
            with registry.cursor() as cr:
                for call in range(calls):
                    for attempt in range(retries):
                        cr.transaction = Transaction(registry)
                        env = api.Environment(cr, uid, {})
                        try:
                            cr.execute("SELECT 1")  # the snapshot starts here
                            if call == 0 and attempt == 0:
                                barrier.wait()
                            result = work(env, index)
                            env.flush_all()
                            # each racer is its own transaction, on its own cursor
                            cr.commit()  # pylint: disable=invalid-commit
                        except RETRYABLE:
                            cr.rollback()
                            retried[index] += 1
                            time.sleep(random.uniform(0.0, pause))
                            continue
                        except Exception as exc:  # noqa: BLE001 -- the outcome is asserted
                            cr.rollback()
                            result = exc
                        outcomes[index].append(result)
                        break
                    else:
                        outcomes[index].append(OutOfRetriesError(f"{retries} retries"))
        except Exception as exc:  # noqa: BLE001 -- the outcome is asserted
            outcomes[index].append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    # the loser's serialization failure is logged as a bad query
    with mute_logger("odoo.sql_db"):
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
    if any(worker.is_alive() for worker in workers):
        raise AssertionError("a racing thread hangs")
    return outcomes, sum(retried)
