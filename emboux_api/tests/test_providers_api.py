from odoo.tests import tagged

from odoo.addons.emboux_outbound.tests.provider_common import ProviderServersMixin

from .common import TenancyCase

MASTER_BODY = "Master token required"


@tagged("post_install", "-at_install")
class TestProvidersApi(ProviderServersMixin, TenancyCase):
    """The provider routes against the fake Mailgun and moto (SES)."""

    def create(self, body, token=None, code=201):
        kwargs = {"token": token} if token else {}
        return self.assertStatus(self.api("POST", "/domains/", json=body, **kwargs), code)

    def verified_mailgun_parent(self, name="parent.test", tenant=None):
        self.create({"name": name, "provider": "mailgun"})
        parent = self.Domain.search([("name", "=", name)])
        parent.write({"is_wildcard": True, "tenant_id": tenant.id if tenant else False})
        self.mailgun.dns_published.add(name)
        self.assertStatus(self.api("GET", f"/domains/{name}/verify-status"), 200)
        self.assertEqual(parent.verification_status, "verified")
        return parent

    # ------------------------------------------------------------------
    # POST /domains/ and the default provider
    # ------------------------------------------------------------------
    def test_create_starts_verification(self):
        body = self.create({"name": "shop.test", "provider": "ses"})
        self.assertEqual(body["provider"], "ses")
        self.assertEqual(body["verification_status"], "pending")
        self.assertIn("shop.test", self.ses_identities())

    def test_create_takes_the_default_provider(self):
        self.set_default_provider("mailgun")
        body = self.create({"name": "mine.acme.test"}, token=self.token_a)
        self.assertEqual(body["provider"], "mailgun")
        self.assertEqual(body["verification_status"], "pending")
        self.assertIn("mine.acme.test", self.mailgun.domains)

    def test_provider_failure_keeps_the_domain(self):
        self.mailgun.mode = "error"
        body = self.create({"name": "down.test", "provider": "mailgun"})
        self.assertEqual(body["verification_status"], "pending")
        answer = self.assertStatus(self.api("POST", "/domains/down.test/verify"), 200)
        self.assertEqual(answer["status"], "pending")
        self.assertIn("HTTP 500", answer["provider_error"])
        self.assertEqual([r["type"] for r in answer["records"]], ["MX", "SPF"])
        # the provider is back: the cron finishes the job
        self.mailgun.mode = None
        domain = self.Domain.search([("name", "=", "down.test")])
        self.backdate_checks(domain)
        self.Domain._cron_poll_provider_verification()
        self.assertEqual(domain.provider_identity, "own")
        self.assertFalse(domain.provider_error)

    # ------------------------------------------------------------------
    # verify and verify-status
    # ------------------------------------------------------------------
    def test_verify_answers_the_records(self):
        self.domain_a.sudo().provider = "ses"
        answer = self.assertStatus(
            self.api("POST", "/domains/acme.test/verify", token=self.token_a), 200
        )
        self.assertEqual(answer["domain"], "acme.test")
        self.assertEqual(answer["provider"], "ses")
        self.assertEqual(answer["status"], "pending")
        self.assertIsNone(answer["provider_error"])
        records = answer["records"]
        self.assertEqual([r["type"] for r in records], ["MX", "SPF", "TXT", "DKIM", "DKIM", "DKIM"])
        self.assertEqual(records[2]["name"], "_amazonses.acme.test")
        self.assertTrue(all(r["rrtype"] == "CNAME" for r in records[3:]))
        self.assertTrue(records[3]["value"].endswith(".dkim.amazonses.com"))
        # the same as the DNS check expects
        self.assertEqual(
            [(r["type"], r["name"], r["value"]) for r in records],
            [(r["type"], r["name"], r["value"]) for r in self.domain_a._dns_records_to_publish()],
        )

    def test_verify_without_provider_is_422(self):
        self.assertDetailNames(self.api("POST", "/domains/example.com/verify"), 422, "provider")
        self.set_default_provider("ses")
        answer = self.assertStatus(self.api("POST", "/domains/example.com/verify"), 200)
        self.assertEqual(answer["provider"], "ses")
        self.assertEqual(self.own.provider, "ses")

    def test_verify_status_refreshes(self):
        self.create({"name": "poll.test", "provider": "ses"})
        status = self.assertStatus(self.api("GET", "/domains/poll.test/verify-status"), 200)
        self.assertEqual(
            set(status), {"status", "dkim_status", "provider", "verified_at", "inherited_from"}
        )
        # moto reports Success for a known identity
        self.assertEqual(status["status"], "verified")
        self.assertEqual(status["dkim_status"], "verified")
        self.assertEqual(status["provider"], "ses")
        self.assertTrue(status["verified_at"].endswith("Z"))
        self.assertIsNone(status["inherited_from"])

    def test_customer_sees_its_own_domains_only(self):
        self.domain_b.sudo().provider = "ses"
        for method, path in (
            ("POST", "/domains/globex.test/verify"),
            ("GET", "/domains/globex.test/verify-status"),
            ("POST", "/domains/globex.test/register-subdomain"),
            ("POST", "/domains/nowhere.test/verify"),
        ):
            with self.subTest(path=path):
                self.assertStatus(self.api(method, path, token=self.token_a), 404)
        self.assertNotIn("globex.test", self.ses_identities())
        self.assertNotIn("nowhere.test", self.ses_identities())

    def test_master_verifies_a_root_domain_not_hosted_here(self):
        self.set_default_provider("ses")
        answer = self.assertStatus(self.api("POST", "/domains/Remote.Example/verify"), 200)
        self.assertEqual(answer["domain"], "remote.example")
        self.assertEqual(answer["status"], "pending")
        self.assertEqual(len([r for r in answer["records"] if r["type"] == "DKIM"]), 3)
        self.assertIn("remote.example", self.ses_identities())
        self.assertFalse(self.Domain.search([("name", "=", "remote.example")]))
        self.assertDetailNames(self.api("POST", "/domains/not_a_domain/verify"), 422, "name")

    def test_legacy_aliases_are_master_only(self):
        self.create({"name": "legacy.test", "provider": "ses"})
        answer = self.assertStatus(self.api("POST", "/domains/legacy.test/ses-verify"), 200)
        self.assertEqual(answer["provider"], "ses")
        status = self.assertStatus(self.api("GET", "/domains/legacy.test/ses-status"), 200)
        self.assertEqual(status["status"], "verified")
        for method, path in (
            ("POST", "/domains/acme.test/ses-verify"),
            ("GET", "/domains/acme.test/ses-status"),
        ):
            self.assertStatus(self.api(method, path, token=self.token_a), 403, MASTER_BODY)
        schema = self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)
        paths = schema["paths"]
        self.assertEqual(paths["/domains/{name}/ses-verify"]["post"]["x-required-role"], "master")
        self.assertEqual(paths["/domains/{name}/ses-status"]["get"]["x-required-role"], "master")
        self.assertNotIn("x-required-role", paths["/domains/{name}/verify"]["post"])
        self.assertIn("records", paths["/domains/{name}/verify"]["post"]["description"])

    # ------------------------------------------------------------------
    # subdomains
    # ------------------------------------------------------------------
    def test_register_subdomain(self):
        self.verified_mailgun_parent("acme-parent.test", tenant=self.tenant_a)
        body = self.create({"name": "news.acme-parent.test"}, token=self.token_a)
        self.assertEqual(body["parent"], "acme-parent.test")
        self.assertTrue(body["verified_via_parent"])
        self.assertEqual(body["verification_status"], "verified")
        # the subdomain was registered at creation; doing it again is harmless
        answer = self.assertStatus(
            self.api(
                "POST", "/domains/news.acme-parent.test/register-subdomain", token=self.token_a
            ),
            200,
        )
        self.assertEqual(answer["status"], "verified")
        self.assertEqual(answer["inherited_from"], "acme-parent.test")
        self.assertEqual([r["type"] for r in answer["records"]], ["MX", "SPF"])
        self.assertFalse(self.mailgun.domains["news.acme-parent.test"]["dkim_self"])
        self.assertEqual(self.mailgun.count("POST", "/credentials"), 1)
        status = self.assertStatus(
            self.api("GET", "/domains/news.acme-parent.test/verify-status", token=self.token_a),
            200,
        )
        self.assertEqual(status["inherited_from"], "acme-parent.test")
        self.assertEqual(status["provider"], "mailgun")

    def test_register_subdomain_refuses_a_root_domain(self):
        self.assertDetailNames(
            self.api("POST", "/domains/acme.test/register-subdomain", token=self.token_a),
            409,
            "name",
        )

    def test_register_subdomain_needs_a_verified_parent(self):
        self.create({"name": "unverified.test", "provider": "mailgun"})
        self.Domain.search([("name", "=", "unverified.test")]).is_wildcard = True
        self.create({"name": "sub.unverified.test"})
        self.assertDetailNames(
            self.api("POST", "/domains/sub.unverified.test/register-subdomain"), 409, "name"
        )

    def test_delete_subdomain_cleans_provider_state(self):
        self.verified_mailgun_parent()
        self.create({"name": "old.parent.test"})
        self.assertIn("old.parent.test", self.mailgun.domains)
        self.assertStatus(self.api("DELETE", "/domains/old.parent.test"), 204)
        self.run_postcommit()
        self.assertNotIn("old.parent.test", self.mailgun.domains)
        self.assertIn("parent.test", self.mailgun.domains)

    # ------------------------------------------------------------------
    # activate
    # ------------------------------------------------------------------
    def test_activate_bootstraps_the_credential_once(self):
        self.domain_a.sudo().provider = "mailgun"
        self.domain_a.sudo()._provider_start_verification()
        for _i in range(2):
            body = self.assertStatus(
                self.api("PUT", "/domains/acme.test/activate", token=self.token_a), 200
            )
            self.assertEqual(body["status"], "active")
        self.assertEqual(
            list(self.mailgun.domains["acme.test"]["credentials"]), ["emboux-relay@acme.test"]
        )
        self.assertEqual(self.mailgun.count("POST", "/credentials"), 1)
        self.assertEqual(self.domain_a.smtp_login, "emboux-relay@acme.test")

    def test_activate_skips_ses(self):
        self.domain_a.sudo().provider = "ses"
        self.assertStatus(self.api("PUT", "/domains/acme.test/activate", token=self.token_a), 200)
        self.assertFalse(self.domain_a.smtp_login)
        self.assertEqual(self.mailgun.calls, [])
