"""Races on real, committed data: two threads, each with its own cursor
(its own PostgreSQL transaction), retried on serialization failures like
two HTTP workers under ``odoo.service.model.retrying``. Everything they
commit is removed at the end."""

import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged

from odoo.addons.emboux_core.tests.concurrency import race

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
        """Run ``work(env, index)`` in two threads at once, as the tenant's
        API user; each thread commits. Returns what each ended with: "ok" or
        the exception."""
        outcomes, _retried = race(self.registry, self.user_id, work)
        return [outcome[-1] if isinstance(outcome[-1], Exception) else "ok" for outcome in outcomes]

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
