"""Races on real, committed data: two threads, each with its own cursor
(its own PostgreSQL transaction), retried on serialization failures like
two HTTP workers under ``odoo.service.model.retrying``. Everything they
commit is removed at the end."""

import random
import threading
import time
import uuid

from odoo import SUPERUSER_ID, api
from odoo.orm.environments import Transaction
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..exceptions import EmbouxQuotaError


@tagged("post_install", "-at_install")
class TestConcurrency(TransactionCase):
    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        self.ref = f"race-{self.tag}"
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            tenant = env["emboux.tenant"]._get_or_create(self.ref)
            tenant.set_quotas(max_domains=2, max_mailboxes_per_domain=2, max_aliases_per_mailbox=2)
            env["emboux.domain"].create({"name": f"first-{self.tag}.test", "tenant_id": tenant.id})
            self.tenant_id = tenant.id
            self.user_id = tenant.user_id.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            tenant = env["emboux.tenant"].browse(self.tenant_id)
            env["emboux.domain"].search([("tenant_id", "=", tenant.id)]).unlink()
            env["emboux.deletion.log"].search([("tenant_id", "=", tenant.id)]).unlink()
            partner = tenant.partner_id
            tenant.unlink()
            partner.unlink()

    def race(self, work):
        """Run ``work(env)`` in two threads at once, as the tenant's API
        user; each thread commits. Returns what each ended with."""
        barrier = threading.Barrier(2, timeout=30)
        results = [None, None]

        def run(index):
            try:
                with self.registry.cursor() as cr:
                    for attempt in range(5):
                        # what odoo.service.model.retrying does between
                        # attempts; it cannot run here as is, for it looks
                        # the registry up under the lock that the main
                        # thread holds while the tests run
                        cr.transaction = Transaction(self.registry)
                        env = api.Environment(cr, self.user_id, {})
                        try:
                            env.cr.execute("SELECT 1")  # the snapshot starts here
                            if attempt == 0:
                                barrier.wait()
                            work(env, index)
                            env.cr.flush()
                            cr.commit()
                            results[index] = "ok"
                            break
                        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                            cr.rollback()
                            results[index] = "retried"
                            time.sleep(random.uniform(0.0, 0.2))
            except Exception as exc:  # noqa: BLE001 -- the outcome is asserted
                results[index] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        # the loser's serialization failure is logged as a bad query
        with mute_logger("odoo.sql_db"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a thread hangs")
        return results

    def committed(self, query, params):
        with self.registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall()

    def test_last_domain_slot_taken_once(self):
        results = self.race(
            lambda env, i: env["emboux.domain"].create({"name": f"d{i}-{self.tag}.test"})
        )
        self.assertEqual(results.count("ok"), 1, results)
        loser = next(r for r in results if r != "ok")
        self.assertIsInstance(loser, EmbouxQuotaError)
        self.assertEqual(loser.quota, "max_domains")
        rows = self.committed(
            "SELECT t.domains_used, "
            "(SELECT count(*) FROM emboux_domain d WHERE d.tenant_id = t.id) "
            "FROM emboux_tenant t WHERE t.id = %s",
            [self.tenant_id],
        )
        self.assertEqual(rows, [(2, 2)])

    def test_last_mailbox_slot_taken_once(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["emboux.mailbox"].create(
                {"email": f"a@first-{self.tag}.test", "password": "long enough pw"}
            )
        results = self.race(
            lambda env, i: env["emboux.mailbox"].create(
                {"email": f"m{i}@first-{self.tag}.test", "password": "long enough pw"}
            )
        )
        self.assertEqual(results.count("ok"), 1, results)
        loser = next(r for r in results if r != "ok")
        self.assertIsInstance(loser, EmbouxQuotaError)
        self.assertEqual(loser.quota, "max_mailboxes_per_domain")
        rows = self.committed(
            "SELECT count(*) FROM emboux_mailbox WHERE email LIKE %s", [f"%@first-{self.tag}.test"]
        )
        self.assertEqual(rows, [(2,)])

    def test_last_alias_slot_taken_once(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["emboux.mailbox"].create(
                {"email": f"a@first-{self.tag}.test", "password": "long enough pw"}
            )
            env["emboux.alias"].upsert(f"x@first-{self.tag}.test", f"a@first-{self.tag}.test")
        results = self.race(
            lambda env, i: env["emboux.alias"].upsert(
                f"s{i}@first-{self.tag}.test", f"a@first-{self.tag}.test"
            )
        )
        self.assertEqual(results.count("ok"), 1, results)
        loser = next(r for r in results if r != "ok")
        self.assertIsInstance(loser, EmbouxQuotaError)
        self.assertEqual(loser.quota, "max_aliases_per_mailbox")

    def test_parallel_authentication_does_not_conflict(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            key, token = env["emboux.api.key"].generate(self.tenant_id, "race")

        def authenticate(env, i):
            found = env["emboux.api.key"].sudo()._authenticate(token)
            assert found.id == key.id, found
            return found

        # the API user itself calls _authenticate; here as the tenant's
        # user with sudo, which is what the lookup does internally
        results = self.race(authenticate)
        self.assertEqual(results, ["ok", "ok"])
        rows = self.committed(
            "SELECT last_used_at IS NOT NULL FROM emboux_api_key WHERE id = %s", [key.id]
        )
        self.assertEqual(rows, [(True,)])
