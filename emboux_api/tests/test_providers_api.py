from odoo.tests import tagged

from odoo.addons.emboux_outbound.tests.provider_common import ProviderServersMixin

from .common import TenancyCase

MASTER_BODY = "Master token required"


@tagged("post_install", "-at_install")
class TestProvidersApi(ProviderServersMixin, TenancyCase):
    """The provider routes against the fake Mailgun and moto (SES)."""

    def post_domain(self, body, token=None, code=201):
        kwargs = {"token": token} if token else {}
        return self.assertStatus(self.api("POST", "/domains/", json=body, **kwargs), code)

    def verified_mailgun_parent(self, name="parent.test", tenant=None):
        self.post_domain({"name": name, "provider": "mailgun"})
        self.sync_providers()
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
        body = self.post_domain({"name": "shop.test", "provider": "ses"})
        self.assertEqual(body["provider"], "ses")
        self.assertEqual(body["verification_status"], "pending")
        # the identity is created after the commit, by the cron it woke
        self.assertNotIn("shop.test", self.ses_identities())
        self.sync_providers()
        self.assertIn("shop.test", self.ses_identities())

    def test_create_takes_the_default_provider(self):
        self.set_default_provider("mailgun")
        body = self.post_domain({"name": "mine.acme.test"}, token=self.token_a)
        self.assertEqual(body["provider"], "mailgun")
        self.assertEqual(body["verification_status"], "pending")
        self.assertEqual(self.mailgun.calls, [])
        self.sync_providers()
        self.assertIn("mine.acme.test", self.mailgun.domains)

    def test_provider_failure_keeps_the_domain(self):
        self.mailgun.mode = "error"
        body = self.post_domain({"name": "down.test", "provider": "mailgun"})
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
        self.post_domain({"name": "poll.test", "provider": "ses"})
        self.sync_providers()
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
        self.post_domain({"name": "legacy.test", "provider": "ses"})
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
        body = self.post_domain({"name": "news.acme-parent.test"}, token=self.token_a)
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
        self.post_domain({"name": "unverified.test", "provider": "mailgun"})
        self.Domain.search([("name", "=", "unverified.test")]).is_wildcard = True
        self.post_domain({"name": "sub.unverified.test"})
        self.assertDetailNames(
            self.api("POST", "/domains/sub.unverified.test/register-subdomain"), 409, "name"
        )

    def test_delete_subdomain_cleans_provider_state(self):
        self.verified_mailgun_parent()
        self.post_domain({"name": "old.parent.test"})
        self.sync_providers()
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
            self.assertEqual(self.mailgun.count("GET", "/credentials"), _i)
            self.sync_providers()  # after the commit
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

    # ------------------------------------------------------------------
    # PUT /domains/{name}/provider
    # ------------------------------------------------------------------
    def verified_domain(self, name, code):
        self.post_domain({"name": name, "provider": code})
        self.sync_providers()
        if code == "mailgun":
            self.mailgun.dns_published.add(name)
        status = self.assertStatus(self.api("GET", f"/domains/{name}/verify-status"), 200)
        self.assertEqual(status["status"], "verified")
        return self.Domain.search([("name", "=", name)])

    def change(self, name, provider, code=200, token=None):
        kwargs = {"token": token} if token else {}
        return self.assertStatus(
            self.api("PUT", f"/domains/{name}/provider", json={"provider": provider}, **kwargs),
            code,
        )

    def test_change_provider_mailgun_to_ses(self):
        domain = self.verified_domain("moving.test", "mailgun")
        body = self.change("moving.test", "ses")
        self.assertEqual(
            {k: body[k] for k in ("domain", "provider", "status", "next_provider", "next_status")},
            {
                "domain": "moving.test",
                "provider": "mailgun",
                "status": "verified",
                "next_provider": "ses",
                "next_status": "not_started",
            },
        )
        self.assertIsNone(body["next_error"])
        self.assertNotIn("moving.test", self.ses_identities())  # after the commit
        self.sync_providers()
        # the same provider again answers the state: both sets of records
        body = self.change("moving.test", "ses")
        self.assertEqual((body["provider"], body["next_status"]), ("mailgun", "pending"))
        self.assertEqual(
            [r["type"] for r in body["records"]],
            ["MX", "SPF", "DKIM", "TXT", "DKIM", "DKIM", "DKIM"],
        )
        self.assertIn("include:mailgun.org include:amazonses.com", body["records"][1]["value"])
        # the domain object and verify-status still say Mailgun
        self.assertEqual(self.api("GET", "/domains/moving.test").json()["provider"], "mailgun")
        # verify-status refreshes the move too: moto verified it, it switches
        status = self.assertStatus(self.api("GET", "/domains/moving.test/verify-status"), 200)
        self.assertEqual((status["provider"], status["status"]), ("ses", "verified"))
        body = self.change("moving.test", "ses")  # the current one: nothing to do
        self.assertIsNone(body["next_provider"])
        self.assertEqual(
            [r["type"] for r in body["records"]], ["MX", "SPF", "TXT", "DKIM", "DKIM", "DKIM"]
        )
        self.run_postcommit()
        self.assertNotIn("moving.test", self.mailgun.domains)
        self.assertEqual(domain.provider, "ses")

    def test_change_provider_ses_to_mailgun_and_failure(self):
        self.verified_domain("back.test", "ses")
        self.mailgun.mode = "error"
        self.change("back.test", "mailgun")
        with self.assertLogs("odoo.addons.emboux_outbound", "WARNING"):
            self.sync_providers()
        body = self.change("back.test", "mailgun")
        self.assertIn("HTTP 500", body["next_error"])
        self.assertEqual((body["provider"], body["status"]), ("ses", "verified"))
        self.assertEqual(body["next_status"], "not_started")
        # Mailgun is back: the cron goes on; DNS published, it switches
        self.mailgun.mode = None
        self.mailgun.dns_published.add("back.test")
        self.sync_providers()
        body = self.change("back.test", "mailgun")
        self.assertEqual((body["provider"], body["next_provider"]), ("mailgun", None))
        self.assertIsNone(body["next_error"])
        self.assertIn("back.test", self.mailgun.domains)
        self.run_postcommit()
        self.assertNotIn("back.test", self.ses_identities())

    def test_change_provider_refusals(self):
        self.verified_mailgun_parent()
        self.post_domain({"name": "sub.parent.test"})
        self.assertDetailNames(
            self.api("PUT", "/domains/parent.test/provider", json={"provider": "smtp"}),
            422,
            "provider",
        )
        self.assertDetailNames(
            self.api("PUT", "/domains/parent.test/provider", json={}), 422, "provider"
        )
        self.assertDetailNames(
            self.api("PUT", "/domains/sub.parent.test/provider", json={"provider": "ses"}),
            409,
            "provider",
        )
        self.change("acme.test", "ses", 403, token=self.token_a)
        self.assertEqual(
            self.api(
                "PUT", "/domains/acme.test/provider", json={"provider": "ses"}, token=self.token_a
            ).json(),
            {"detail": MASTER_BODY},
        )
        self.change("nowhere.test", "ses", 404)
        self.assertFalse(self.domain_a.provider_next)
        schema = self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)
        operation = schema["paths"]["/domains/{name}/provider"]["put"]
        self.assertEqual(operation["x-required-role"], "master")
        self.assertIn("keeps sending", operation["description"])
