from odoo.tests import tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from .common import OutboundCase
from .provider_common import MAILGUN_KEY, WEBHOOK_URL, ProviderServersMixin

LOGGER = "odoo.addons.emboux_outbound"


@tagged("post_install", "-at_install")
class TestProviderMailgun(ProviderServersMixin, OutboundCase):
    """Mailgun through ``requests`` against the fake Mailgun server."""

    def make(self, name, **vals):
        """A domain at Mailgun, as it is once the cron that its creation
        woke has run."""
        domain = self.Domain.create({"name": name, "provider": "mailgun", **vals})
        self.sync_providers()
        return domain

    def make_verified_parent(self, name="parent.test"):
        parent = self.make(name, is_wildcard=True)
        self.mailgun.dns_published.add(name)
        parent._provider_refresh()
        self.assertEqual(parent.verification_status, "verified")
        return parent

    # ------------------------------------------------------------------
    def test_create_starts_verification_and_webhooks(self):
        domain = self.Domain.create({"name": "shop.test", "provider": "mailgun"})
        # the create answers pending and calls nothing: the cron does it
        self.assertEqual(self.mailgun.calls, [])
        self.assertEqual(domain.verification_status, "pending")
        self.assertTrue(domain.provider_setup_pending)
        self.assertEqual(self.sync_providers(), 1)
        self.assertFalse(domain.provider_setup_pending)
        self.assertIn("shop.test", self.mailgun.domains)
        self.assertEqual(domain.verification_status, "pending")
        self.assertEqual(domain.dkim_status, "pending")
        self.assertEqual(domain.provider_identity, "own")
        self.assertFalse(domain.provider_error)
        hooks = self.mailgun.domains["shop.test"]["webhooks"]
        self.assertEqual(hooks, {"permanent_fail": [WEBHOOK_URL], "complained": [WEBHOOK_URL]})
        records = domain._dns_records_to_publish()
        by_type = {rec["type"]: rec for rec in records}
        self.assertEqual(by_type["SPF"]["value"], "v=spf1 mx include:mailgun.org ~all")
        self.assertEqual(by_type["SPF"]["rrtype"], "TXT")
        self.assertEqual(by_type["DKIM"]["name"], "smtp._domainkey.shop.test")
        self.assertEqual(by_type["DKIM"]["rrtype"], "TXT")
        self.assertTrue(by_type["DKIM"]["value"].startswith("k=rsa; p="))
        self.assertEqual(by_type["MX"]["priority"], 10)
        # no tracking CNAME, no second SPF
        self.assertEqual([r["type"] for r in records], ["MX", "SPF", "DKIM"])

    def test_existing_identity_and_webhooks_are_reused(self):
        self.mailgun.domains["old.test"] = {
            "state": "active",
            "dkim_self": True,
            "created_at": "Thu, 13 Oct 2026 18:02:55 GMT",
            "credentials": {},
            "webhooks": {"permanent_fail": ["https://other.test/hook"]},
        }
        domain = self.make("old.test")
        self.assertEqual(self.mailgun.count("POST", "/v3/domains"), 0)
        self.assertEqual(domain.verification_status, "verified")
        self.assertTrue(domain.verified_at)
        hooks = self.mailgun.domains["old.test"]["webhooks"]
        self.assertEqual(hooks["permanent_fail"], ["https://other.test/hook", WEBHOOK_URL])
        self.assertEqual(hooks["complained"], [WEBHOOK_URL])
        # once more: nothing changes
        calls = len(self.mailgun.calls)
        domain.action_provider_verify()
        self.assertEqual(self.mailgun.count("PUT", "/webhooks/permanent_fail"), 1)
        self.assertEqual(self.mailgun.count("POST", "/webhooks"), 1)
        self.assertGreater(len(self.mailgun.calls), calls)

    def test_default_provider_from_settings(self):
        self.set_default_provider("mailgun")
        domain = self.Domain.create({"name": "default.test"})
        self.assertEqual(domain.provider, "mailgun")
        self.sync_providers()
        self.assertIn("default.test", self.mailgun.domains)
        self.set_default_provider(False)
        bare = self.Domain.create({"name": "bare.test"})
        self.assertFalse(bare.provider_setup_pending)
        self.sync_providers()
        self.assertFalse(bare.provider)
        self.assertEqual(bare.verification_status, "not_started")
        self.assertNotIn("bare.test", self.mailgun.domains)

    def test_wrong_key_keeps_the_domain(self):
        self.mailgun.api_key = "another-key"
        with self.assertLogs(LOGGER, "WARNING") as logs:
            domain = self.make("refused.test")
        self.assertTrue(domain.exists())
        self.assertEqual(domain.verification_status, "pending")
        self.assertIn("HTTP 401", domain.provider_error)
        self.assertFalse(domain.provider_identity)
        self.assertNotIn(MAILGUN_KEY, "\n".join(logs.output))
        self.assertNotIn(MAILGUN_KEY, domain.provider_error)

    def test_timeout_then_cron_recovers(self):
        self.mailgun.mode = "timeout"
        # the client waits 1 s, but Odoo's test runner raises any requests
        # timeout under 10 s to 10 s
        self.mailgun.delay = 10.5
        domain, other = self.Domain.create(
            [
                {"name": "slow.test", "provider": "mailgun"},
                {"name": "slower.test", "provider": "mailgun"},
            ]
        )
        self.assertEqual(self.mailgun.calls, [])  # not in the request
        with self.assertLogs(LOGGER, "WARNING"):
            self.sync_providers()
        self.assertEqual(domain.verification_status, "pending")
        self.assertIn("no answer within", domain.provider_error)
        # one timeout for the batch, not one per domain
        self.assertEqual(len(self.mailgun.calls), 1, self.mailgun.calls)
        self.assertEqual(other.provider_error, domain.provider_error)
        self.assertEqual(other.verification_status, "pending")
        self.mailgun.mode = None
        # the cron starts the verification again, then DNS is published
        self.backdate_checks(domain | other)
        self.Domain._cron_poll_provider_verification()
        self.assertFalse(domain.provider_error)
        self.assertFalse(other.provider_error)
        self.assertEqual(domain.provider_identity, "own")
        self.assertEqual(domain.verification_status, "pending")
        self.mailgun.dns_published.add("slow.test")
        self.backdate_checks(domain)
        self.Domain._cron_poll_provider_verification()
        self.assertEqual(domain.verification_status, "verified")
        self.assertEqual(domain.dkim_status, "verified")
        self.assertFalse(domain.provider_setup_pending)

    def test_one_domain_refused_does_not_stop_the_others(self):
        good = self.make("good.test")
        bad = self.make("bad.test")
        self.mailgun.dns_published.add("good.test")
        # Mailgun answers 400 for this one domain only
        original = self.mailgun.handle

        def handle(method, path, form):
            if path == "/v3/domains/bad.test/verify":
                return 400, {"message": "Domain is disabled"}
            return original(method, path, form)

        self.mailgun.handle = handle
        self.addCleanup(setattr, self.mailgun, "handle", original)
        with self.assertLogs(LOGGER, "WARNING"):
            (good | bad)._provider_refresh()
        self.assertEqual(good.verification_status, "verified")
        self.assertFalse(good.provider_error)
        self.assertEqual(bad.verification_status, "pending")
        self.assertIn("HTTP 400 Domain is disabled", bad.provider_error)

    def test_server_error_keeps_the_domain(self):
        self.mailgun.mode = "error"
        with self.assertLogs(LOGGER, "WARNING"):
            domain = self.make("broken.test")
        self.assertIn("HTTP 500", domain.provider_error)
        self.assertEqual(domain.verification_status, "pending")

    def test_activation_bootstraps_the_credential_once(self):
        domain = self.make("send.test")
        domain.action_suspend()
        with self.assertLogs(LOGGER, "DEBUG") as logs:
            domain.action_activate()
            # after the commit, by the cron
            self.assertTrue(domain.provider_credential_pending)
            self.assertEqual(self.mailgun.count("GET", "/credentials"), 0)
            self.sync_providers()
        self.assertFalse(domain.provider_credential_pending)
        credentials = self.mailgun.domains["send.test"]["credentials"]
        self.assertEqual(list(credentials), ["emboux-relay@send.test"])
        self.assertEqual(domain.smtp_login, "emboux-relay@send.test")
        password = domain.sudo().smtp_password
        self.assertEqual(credentials["emboux-relay@send.test"][0], password)
        self.assertEqual(len(password), 32)
        self.assertNotIn(password, "\n".join(logs.output))
        # idempotent: a second activation creates nothing
        domain.action_activate()
        self.sync_providers()
        self.assertEqual(self.mailgun.count("GET", "/credentials"), 2)
        self.assertEqual(self.mailgun.count("POST", "/credentials"), 1)
        self.assertEqual(domain.sudo().smtp_password, password)

    def test_activation_keeps_a_credential_made_elsewhere(self):
        domain = self.make("kept.test")
        self.mailgun.domains["kept.test"]["credentials"]["emboux-relay@kept.test"] = (
            "set-by-hand",
            "Thu, 13 Oct 2026 18:02:55 GMT",
        )
        domain.action_activate()
        self.sync_providers()
        self.assertEqual(self.mailgun.count("POST", "/credentials"), 0)
        self.assertEqual(domain.smtp_login, "emboux-relay@kept.test")
        self.assertFalse(domain.sudo().smtp_password)

    def test_activation_failure_is_recorded_not_raised(self):
        domain = self.make("down.test")
        domain.action_suspend()
        self.mailgun.mode = "error"
        domain.action_activate()
        self.assertEqual(domain.status, "active")
        with self.assertLogs(LOGGER, "WARNING"):
            self.sync_providers()
        self.assertIn("HTTP 500", domain.provider_error)
        self.assertFalse(domain.smtp_login)
        # still to do: the next run makes it
        self.assertTrue(domain.provider_credential_pending)
        self.mailgun.mode = None
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertEqual(domain.smtp_login, "emboux-relay@down.test")
        self.assertFalse(domain.provider_error)
        self.assertFalse(domain.provider_credential_pending)

    def test_subdomain_registered_with_parent_dkim(self):
        parent = self.make_verified_parent()
        sub = self.Domain.create({"name": "news.parent.test"})
        self.assertEqual(sub.parent_id, parent)
        self.assertEqual(sub.provider, "mailgun")
        self.assertTrue(sub.provider_setup_pending)
        self.assertNotIn("news.parent.test", self.mailgun.domains)
        self.sync_providers()
        self.assertEqual(sub.provider_identity, "subdomain")
        remote = self.mailgun.domains["news.parent.test"]
        self.assertFalse(remote["dkim_self"])
        self.assertEqual(remote["state"], "active")
        self.assertEqual(list(remote["credentials"]), ["emboux-relay@news.parent.test"])
        self.assertEqual(sub.smtp_login, "emboux-relay@news.parent.test")
        self.assertTrue(sub.verified_via_parent)
        self.assertEqual(sub.effective_verification_status, "verified")
        # its own status is untouched: it is the parent's that counts
        self.assertEqual(sub.verification_status, "not_started")
        # the parent's DKIM record is the parent's to publish
        types = [rec["type"] for rec in sub._dns_records_to_publish()]
        self.assertEqual(types, ["MX", "SPF"])

    def test_failed_subdomain_registration_is_retried_by_the_cron(self):
        self.make_verified_parent()
        self.mailgun.mode = "error"
        sub = self.Domain.create({"name": "late.parent.test"})
        with self.assertLogs(LOGGER, "WARNING"):
            self.assertEqual(self.sync_providers(), 1)
        self.assertFalse(sub.provider_identity)
        self.assertIn("HTTP 500", sub.provider_error)
        self.assertTrue(sub.verified_via_parent)  # the local record is complete
        self.mailgun.mode = None
        self.backdate_checks(sub)
        self.assertEqual(self.Domain._cron_poll_provider_verification(), 1)
        self.assertEqual(sub.provider_identity, "subdomain")
        self.assertFalse(sub.provider_error)
        self.assertFalse(self.mailgun.domains["late.parent.test"]["dkim_self"])
        self.assertEqual(sub.smtp_login, "emboux-relay@late.parent.test")
        # done: the next run has nothing to do
        self.backdate_checks(sub)
        self.assertEqual(self.Domain._cron_poll_provider_verification(), 0)

    def test_subdomain_with_another_provider_is_refused(self):
        self.make_verified_parent()
        with self.assertRaises(EmbouxInputError) as caught:
            self.Domain.create({"name": "x.parent.test", "provider": "ses"})
        self.assertEqual(caught.exception.field, "provider")

    def test_delete_cleans_provider_state_after_commit(self):
        parent = self.make_verified_parent()
        sub = self.Domain.create({"name": "gone.parent.test"})
        self.sync_providers()
        sub.unlink()
        self.assertIn("gone.parent.test", self.mailgun.domains)  # not before the commit
        self.run_postcommit()
        self.assertNotIn("gone.parent.test", self.mailgun.domains)
        self.assertIn("parent.test", self.mailgun.domains)
        parent.unlink()
        self.run_postcommit()
        self.assertNotIn("parent.test", self.mailgun.domains)

    def test_delete_with_provider_down_warns(self):
        domain = self.make("stuck.test")
        domain.unlink()
        self.mailgun.mode = "error"
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.run_postcommit()
        self.assertIn("Could not remove the deleted domain stuck.test", "\n".join(logs.output))
        self.assertFalse(self.Domain.search([("name", "=", "stuck.test")]))

    def test_domain_without_identity_is_not_deleted_remotely(self):
        self.mailgun.domains["foreign.test"] = {
            "state": "active",
            "dkim_self": True,
            "created_at": "Thu, 13 Oct 2026 18:02:55 GMT",
            "credentials": {},
            "webhooks": {},
        }
        domain = self.Domain.create({"name": "foreign.test"})  # no provider
        domain.unlink()
        self.run_postcommit()
        self.assertIn("foreign.test", self.mailgun.domains)
