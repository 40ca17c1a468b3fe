"""The provider work after the commit: creating, linking and activating a
domain record what must happen and call no provider; the polling cron,
woken at once, does it one domain at a time with nothing locked while the
provider is waited for."""

from datetime import timedelta
import threading
import time
import uuid

from odoo import SUPERUSER_ID, api, fields
from odoo.orm.environments import Transaction
from odoo.tests import tagged

from .common import OutboundCase
from .provider_common import ProviderServersMixin
from .test_cron_concurrency import POLL_CRON, CronRaceCase

# seconds the fake Mailgun takes to answer a verification (the test
# runner raises a requests timeout under 10 s to 10 s: it is answered)
SLOW = 3.0


@tagged("post_install", "-at_install")
class TestProviderAfterCommit(ProviderServersMixin, OutboundCase):
    def test_a_slow_provider_does_not_hold_up_creation(self):
        self.mailgun.slow = {"/verify": SLOW}
        env_a = self.tenant_env(self.tenant_a)
        timings = []
        for name in ("one.acme.test", "two.acme.test"):
            started = time.monotonic()
            env_a["emboux.domain"].create({"name": name, "provider": "mailgun"})
            timings.append(time.monotonic() - started)
        # both answered well before the provider's first answer could come
        self.assertLess(max(timings), SLOW / 3, timings)
        self.assertEqual(self.mailgun.calls, [])
        one, two = self.Domain.search([("name", "in", ["one.acme.test", "two.acme.test"])])
        for domain in one | two:
            self.assertEqual(domain.verification_status, "pending")
            self.assertTrue(domain.provider_setup_pending)
            self.assertFalse(domain.provider_identity)
        self.assertEqual(self.tenant_a.domains_used, 3)
        # the cron then does the provider side, the slow calls included
        started = time.monotonic()
        self.assertEqual(self.sync_providers(), 2)
        self.assertGreaterEqual(time.monotonic() - started, 2 * SLOW)
        for domain in one | two:
            self.assertEqual(domain.provider_identity, "own")
            self.assertFalse(domain.provider_setup_pending)
            self.assertIn(domain.name, self.mailgun.domains)
            self.assertEqual(
                [r["type"] for r in domain._dns_records_to_publish()], ["MX", "SPF", "DKIM"]
            )
        # done: the next run only polls the verification
        self.mailgun.slow = {}
        calls = len(self.mailgun.calls)
        self.backdate_checks(one | two)
        self.sync_providers()
        self.assertEqual(self.mailgun.count("POST", "/v3/domains"), 2)
        self.assertEqual(len(self.mailgun.calls) - calls, 2)  # the two polls

    def test_ses_identity_is_created_by_the_cron(self):
        domain = self.Domain.create({"name": "later.test", "provider": "ses"})
        self.assertEqual(domain.verification_status, "pending")
        self.assertNotIn("later.test", self.ses_identities())
        self.sync_providers()
        self.assertIn("later.test", self.ses_identities())
        self.assertEqual(domain.provider_identity, "own")
        self.assertEqual(len(domain.provider_record_ids), 4)  # TXT and 3 DKIM CNAMEs

    def test_existing_identity_is_reused(self):
        """Idempotent: an identity that exists at the provider (a retry
        after a lost answer, a domain deleted and added again) is no
        error."""
        self.ses().verify_domain_identity(Domain="again.test")
        self.mailgun.domains["again2.test"] = {
            "state": "unverified",
            "dkim_self": True,
            "created_at": "Thu, 13 Oct 2026 18:02:55 GMT",
            "credentials": {},
            "webhooks": {},
        }
        ses, gun = self.Domain.create(
            [
                {"name": "again.test", "provider": "ses"},
                {"name": "again2.test", "provider": "mailgun"},
            ]
        )
        self.sync_providers()
        for domain in ses | gun:
            self.assertEqual(domain.provider_identity, "own")
            self.assertFalse(domain.provider_error)
        self.assertEqual(self.mailgun.count("POST", "/v3/domains"), 0)
        # the flags set again (a cron run that died before its commit)
        (ses | gun).write({"provider_setup_pending": True})
        self.backdate_checks(ses | gun)
        self.sync_providers()
        self.assertFalse(ses.provider_error or gun.provider_error)
        self.assertEqual(self.ses_identities(), {"again.test"})

    def test_failed_work_is_retried_soon(self):
        cron = self.env.ref(POLL_CRON)
        Trigger = self.env["ir.cron.trigger"].sudo()
        self.mailgun.mode = "error"
        domain = self.Domain.create({"name": "blip.test", "provider": "mailgun"})
        soon = fields.Datetime.now() + timedelta(minutes=4)
        self.assertFalse(Trigger.search_count([("cron_id", "=", cron.id), ("call_at", ">", soon)]))
        with self.assertLogs("odoo.addons.emboux_outbound", "WARNING"):
            self.sync_providers()
        self.assertTrue(domain.provider_setup_pending)
        # not two hours later: in a few minutes
        retry = Trigger.search([("cron_id", "=", cron.id), ("call_at", ">", soon)])
        self.assertEqual(len(retry), 1)
        self.assertLess(retry.call_at, soon + timedelta(minutes=2))
        self.mailgun.mode = None
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertFalse(domain.provider_setup_pending)
        self.assertEqual(domain.provider_identity, "own")

    def test_deleted_before_the_cron_ran(self):
        domain = self.Domain.create({"name": "brief.test", "provider": "mailgun"})
        domain.unlink()
        self.run_postcommit()  # nothing to remove: it never reached Mailgun
        self.assertEqual(self.sync_providers(), 0)
        self.assertEqual(self.mailgun.calls, [])

    def test_pointless_work_is_dropped(self):
        """A subdomain whose parent lost its provider before the cron ran:
        the flag goes, nothing is called."""
        parent = self.Domain.create({"name": "p.test", "provider": "mailgun", "is_wildcard": True})
        sub = self.Domain.create({"name": "s.p.test"})
        self.assertTrue(sub.provider_setup_pending)
        parent.write({"provider": False, "provider_setup_pending": False})
        self.sync_providers()
        self.assertFalse(sub.provider_setup_pending)
        self.assertEqual(self.mailgun.calls, [])

    def test_create_and_activation_wake_the_cron(self):
        cron = self.env.ref(POLL_CRON)
        Trigger = self.env["ir.cron.trigger"].sudo()
        before = Trigger.search_count([("cron_id", "=", cron.id)])
        domain = self.Domain.create({"name": "wake.test", "provider": "mailgun"})
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 1)
        self.sync_providers()
        domain.action_activate()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 2)
        # a domain without provider work wakes nothing
        self.Domain.create({"name": "quiet.test", "provider": False})
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 2)


@tagged("post_install", "-at_install")
class TestProviderCallHoldsNoLock(ProviderServersMixin, CronRaceCase):
    """Real transactions: while the cron waits for a slow provider, the
    tenant's quota row (and the domain's own row) are free, so the
    tenant's next domain, mailbox or alias write is not held up."""

    def setUp(self):
        super().setUp()
        self.cron_id = self.remember_cron(POLL_CRON)
        tag = uuid.uuid4().hex[:8]
        self.names = [f"first-{tag}.test", f"second-{tag}.test"]
        with self.env_cr() as env:
            tenant = env["emboux.tenant"]._get_or_create(f"nolock-{tag}")
            self.tenant_id = tenant.id
            self.user_id = tenant.user_id.id
            domain = env(user=self.user_id)["emboux.domain"].create(
                {"name": self.names[0], "provider": "mailgun"}
            )
            self.first_id = domain.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.env_cr() as env:
            tenant = env["emboux.tenant"].browse(self.tenant_id)
            env["emboux.domain"].search([("tenant_id", "=", tenant.id)]).unlink()
            env["emboux.deletion.log"].search([("tenant_id", "=", tenant.id)]).unlink()
            partner = tenant.partner_id
            tenant.unlink()
            partner.unlink()
            env.cr.postcommit.clear()  # the fake is reset anyway

    def committed(self, query, params):
        with self.env_cr() as env:
            env.cr.execute(query, params)
            return env.cr.fetchall()

    def test_tenant_row_is_free_during_the_provider_call(self):
        self.mailgun.slow = {"/verify": SLOW}
        seen = {}

        def request():
            """Another worker, while the cron waits for Mailgun."""
            try:
                if not self.mailgun.waiting.wait(60):
                    seen["error"] = "the cron never called Mailgun"
                    return
                with self.registry.cursor() as cr:
                    # the registry as it is (looking it up waits for the
                    # lock this test's thread holds), see concurrency.race
                    cr.transaction = Transaction(self.registry)
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    # a lock held by the cron would fail these at once
                    cr.execute("SET LOCAL lock_timeout = '500ms'")
                    cr.execute(
                        "UPDATE emboux_tenant SET domains_used = domains_used WHERE id = %s",
                        [self.tenant_id],
                    )
                    cr.execute(
                        "UPDATE emboux_domain SET write_date = write_date WHERE id = %s",
                        [self.first_id],
                    )
                    # the tenant's next create (its quota row) goes through
                    started = time.monotonic()
                    env(user=self.user_id)["emboux.domain"].create(
                        {"name": self.names[1], "provider": "mailgun"}
                    )
                    env.flush_all()
                # committed at the end of the block
                seen["elapsed"] = time.monotonic() - started
                # ...while the cron was still waiting for Mailgun
                seen["still_waiting"] = self.mailgun.waiting.is_set()
            except Exception as exc:  # noqa: BLE001 reported by the test
                seen["error"] = repr(exc)

        # the cron runs here (it needs the registry this thread holds);
        # the other worker in a thread of its own
        thread = threading.Thread(target=request)
        thread.start()
        try:
            self.run_cron(self.cron_id)
        finally:
            thread.join(60)
        self.assertNotIn("error", seen, seen.get("error"))
        self.assertLess(seen["elapsed"], SLOW / 2)
        self.assertTrue(seen["still_waiting"])
        rows = self.committed(
            "SELECT name, provider_identity, provider_setup_pending, domains_used"
            " FROM emboux_domain d JOIN emboux_tenant t ON t.id = d.tenant_id"
            " WHERE d.tenant_id = %s ORDER BY d.id",
            [self.tenant_id],
        )
        # the first domain's answer was written after the concurrent
        # update of its row (a fresh transaction: no serialization failure)
        self.assertEqual(rows[0], (self.names[0], "own", False, 2))
        # the second one, created during the run: by that run's poll or the
        # next one (its create woke the cron)
        self.run_cron(self.cron_id)
        rows = self.committed(
            "SELECT name, provider_identity, provider_setup_pending FROM emboux_domain"
            " WHERE tenant_id = %s ORDER BY id",
            [self.tenant_id],
        )
        self.assertEqual(rows, [(self.names[0], "own", False), (self.names[1], "own", False)])
