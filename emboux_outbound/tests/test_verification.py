import os
import re
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_outbound.models.emboux_domain_provider import (
    DEFAULT_PROVIDER_PARAM,
    records_to_publish,
)
from odoo.addons.emboux_outbound.providers import get_provider
from odoo.addons.emboux_saas.tests.test_portal import PortalCase

from .common import OutboundCase
from .provider_common import MAILGUN_KEY, ProviderServersMixin


@tagged("post_install", "-at_install")
class TestVerification(ProviderServersMixin, OutboundCase):
    """The domain's provider methods as the front doors call them."""

    def test_records_without_provider_are_emboux_saas_ones(self):
        with patch.dict(os.environ, {"EMBOUX_MAIL_HOST": "mx.emboux.test"}):
            records = self.domain_a._dns_records_to_publish()
        self.assertEqual(
            records,
            [
                {
                    "type": "MX",
                    "rrtype": "MX",
                    "name": "acme.test",
                    "priority": 10,
                    "value": "mx.emboux.test",
                },
                {
                    "type": "SPF",
                    "rrtype": "TXT",
                    "name": "acme.test",
                    "priority": None,
                    "value": "v=spf1 mx ~all",
                },
            ],
        )

    def test_spf_include_is_added_once(self):
        ses = get_provider("ses")
        records = records_to_publish("x.test", ses)
        self.assertEqual(records[1]["value"], "v=spf1 mx include:amazonses.com ~all")
        # a provider record for another name (the parent's DKIM) is not ours
        other = {"type": "DKIM", "rrtype": "TXT", "name": "k._domainkey.y.test", "value": "p"}
        self.assertEqual(len(records_to_publish("x.test", ses, [other])), 2)

    def test_customer_verifies_its_own_domain_only(self):
        env_a = self.tenant_env(self.tenant_a)
        self.domain_a.sudo().provider = "ses"
        self.domain_b.sudo().provider = "ses"
        env_a["emboux.domain"].browse(self.domain_a.id).action_provider_verify()
        self.assertEqual(self.domain_a.verification_status, "pending")
        self.assertIn("acme.test", self.ses_identities())
        with self.assertRaises(AccessError):
            env_a["emboux.domain"].browse(self.domain_b.id).action_provider_verify()
        with self.assertRaises(AccessError):
            env_a["emboux.domain"].browse(self.domain_b.id)._dns_records_to_publish()
        self.assertNotIn("globex.test", self.ses_identities())
        # the records are the customer's to read through the method only
        records = env_a["emboux.domain"].browse(self.domain_a.id)._dns_records_to_publish()
        self.assertEqual(len(records), 6)
        with self.assertRaises(AccessError):
            env_a["emboux.domain.provider.record"].search([])

    def test_customer_cannot_set_verification_itself(self):
        env_a = self.tenant_env(self.tenant_a)
        with self.assertRaises(AccessError):
            env_a["emboux.domain"].browse(self.domain_a.id).write(
                {"verification_status": "verified"}
            )

    def test_register_subdomain_requires_a_verified_wildcard_parent(self):
        with self.assertRaises(EmbouxConflictError) as caught:
            self.domain_a.action_provider_register_subdomain()
        self.assertEqual(caught.exception.field, "name")
        parent = self.Domain.create({"name": "p.test", "provider": "ses", "is_wildcard": True})
        sub = self.Domain.create({"name": "s.p.test"})
        self.sync_providers()
        self.assertEqual(sub.provider_identity, "subdomain")  # registered after creation
        with self.assertRaises(EmbouxConflictError):
            sub.action_provider_register_subdomain()  # the parent is pending
        parent._provider_refresh()
        self.assertEqual(parent.verification_status, "verified")
        sub.action_provider_register_subdomain()
        self.assertEqual(sub._provider_status()["status"], "verified")
        self.assertEqual(sub._provider_status()["inherited_from"], "p.test")

    def test_verify_without_any_provider_names_the_field(self):
        with self.assertRaises(EmbouxInputError) as caught:
            self.domain_a.action_provider_verify()
        self.assertEqual(caught.exception.field, "provider")

    def test_verify_a_linked_subdomain_registers_it(self):
        parent = self.Domain.create({"name": "w.test", "is_wildcard": True})
        sub = self.Domain.create({"name": "s.w.test"})
        self.assertEqual(sub.parent_id, parent)
        with self.assertRaises(EmbouxInputError) as caught:
            sub.action_provider_verify()  # the parent has no provider
        self.assertEqual(caught.exception.field, "provider")
        parent.write({"provider": "mailgun"})
        parent.action_provider_verify()
        self.assertFalse(sub.provider_identity)
        sub.action_provider_verify()
        self.assertEqual(sub.provider_identity, "subdomain")
        self.assertFalse(self.mailgun.domains["s.w.test"]["dkim_self"])
        self.assertEqual(sub.verification_status, "not_started")  # the parent's counts

    def test_adopted_subdomain_is_registered(self):
        existing = self.Domain.create({"name": "shop.adopt.test"})
        parent = self.Domain.create({"name": "adopt.test", "provider": "mailgun"})
        self.assertFalse(existing.parent_id)
        parent.set_parent(None, wildcard=True)  # adopts its existing subdomains
        self.assertEqual(existing.parent_id, parent)
        self.assertEqual(existing.provider, "mailgun")
        self.assertTrue(existing.provider_setup_pending)
        self.sync_providers()
        self.assertEqual(existing.provider_identity, "subdomain")
        self.assertFalse(self.mailgun.domains["shop.adopt.test"]["dkim_self"])

    def test_new_wildcard_parent_registers_existing_subdomains_after_itself(self):
        existing = self.Domain.create({"name": "blog.fresh.test"})
        parent = self.Domain.create(
            {"name": "fresh.test", "provider": "mailgun", "is_wildcard": True}
        )
        self.assertEqual(existing.parent_id, parent)
        self.assertEqual(self.mailgun.calls, [])
        # the cron sets up the parent first, then registers the subdomain
        self.sync_providers()
        self.assertFalse(existing.provider_error)
        self.assertEqual(existing.provider_identity, "subdomain")
        self.assertIn("fresh.test", self.mailgun.domains)
        self.assertFalse(self.mailgun.domains["blog.fresh.test"]["dkim_self"])

    def test_verify_again_keeps_a_verified_domain_verified(self):
        domain = self.Domain.create({"name": "v.test", "provider": "ses"})
        self.sync_providers()
        domain._provider_refresh()
        self.assertEqual(domain.verification_status, "verified")
        domain.action_provider_verify()
        self.assertEqual(domain.verification_status, "verified")

    def test_cron_batches_poll_each_domain_once(self):
        domains = self.Domain.create(
            [{"name": f"b{i}.test", "provider": "mailgun"} for i in range(5)]
        )
        self.sync_providers()
        self.backdate_checks(domains)
        calls = self.mailgun.count("PUT", "/verify")
        self.assertEqual(self.Domain._cron_poll_provider_verification(batch_size=2), 5)
        self.assertEqual(self.mailgun.count("PUT", "/verify") - calls, 5)
        self.assertTrue(all(d.verification_status == "pending" for d in domains))
        # the cron record
        cron = self.env.ref("emboux_outbound.ir_cron_emboux_provider_poll")
        self.assertEqual((cron.interval_number, cron.interval_type), (2, "hours"))
        self.assertIn("_cron_poll_provider_verification", cron.code)

    def test_staff_form_shows_the_records(self):
        domain = self.Domain.create({"name": "form.test", "provider": "ses"})
        self.sync_providers()
        html = str(domain.dns_records_html)
        self.assertIn("_amazonses.form.test", html)
        self.assertEqual(html.count("dkim.amazonses.com"), 3)
        with Form(self.Domain.with_user(self.emboux_manager)) as form:
            form.name = "new-form.test"
        self.assertTrue(self.Domain.search([("name", "=", "new-form.test")]))

    def test_default_provider_inferred_from_the_configuration(self):
        """A server configured only through the environment: Settings names
        no provider, so the configured one is the default; "none" in Settings
        turns it off."""
        ICP = self.env["ir.config_parameter"].sudo()
        ICP.search([("key", "=", DEFAULT_PROVIDER_PARAM)]).unlink()
        self.assertEqual(self.Domain._default_provider(), "mailgun")
        domain = self.Domain.create({"name": "inferred.test"})
        self.assertEqual(domain.provider, "mailgun")
        self.sync_providers()
        self.assertIn("inferred.test", self.mailgun.domains)
        with patch.dict(os.environ, {"MAILGUN_API_KEY": ""}):
            self.assertEqual(self.Domain._default_provider(), "ses")
            with patch.dict(os.environ, {"AWS_ENDPOINT_URL_SES": "", "AWS_REGION": ""}):
                self.assertFalse(self.Domain._default_provider())
        self.set_default_provider(None)
        self.assertFalse(self.Domain._default_provider())
        self.set_default_provider("ses")
        self.assertEqual(self.Domain._default_provider(), "ses")

    def test_settings_show_configuration_with_secrets_masked(self):
        self.set_default_provider("ses")
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.emboux_default_provider, "ses")
        html = str(settings.emboux_config_overview)
        self.assertIn("MAILGUN_API_KEY", html)
        self.assertNotIn(MAILGUN_KEY, html)
        self.assertIn("••••••••6789", html)
        self.assertIn(self.mailgun.url, html)  # not a secret
        settings.emboux_default_provider = "mailgun"
        settings.execute()
        self.assertEqual(self.Domain._default_provider(), "mailgun")


@tagged("post_install", "-at_install")
class TestPortalVerification(ProviderServersMixin, PortalCase):
    """The customer portal's domain page: the records to publish and the
    verify button."""

    def test_domain_list_shows_whether_each_domain_may_send(self):
        self.domain_a.sudo()._set_verification("verified")
        self.login(self.user_a)
        text = self.get("/my/domains").text
        self.assertIn('<th class="text-center">Sending</th>', text)
        cell = re.search(
            r'o_emboux_domain_sending" data-status="(\w+)">\s*<span[^>]*>(\w[\w ]*)<', text
        )
        self.assertEqual(cell.groups(), ("verified", "Verified"))

    def test_domain_page_shows_provider_records_and_verifies(self):
        self.domain_a.sudo().provider = "ses"
        self.login(self.user_a)
        text = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn("o_emboux_verify", text)
        self.assertNotIn("_amazonses", text)
        self.post(f"/my/domains/{self.domain_a.id}/verify")
        self.assertEqual(self.domain_a.verification_status, "pending")
        text = self.get(f"/my/domains/{self.domain_a.id}?msg=verify_started").text
        self.assertIn("The verification was started", text)
        self.assertIn("_amazonses.acme-portal.test", text)
        cnames = re.findall(r'data-record-type="CNAME" data-purpose="DKIM"', text)
        self.assertEqual(len(cnames), 3)
        spf = re.search(r'data-purpose="SPF".*?</tr>', text, re.DOTALL).group(0)
        self.assertIn("v=spf1 mx include:amazonses.com ~all", spf)

    def test_no_verify_button_without_any_provider(self):
        self.login(self.user_a)
        text = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn("o_emboux_verification", text)
        self.assertNotIn("o_emboux_verify", text.replace("o_emboux_verification", ""))

    def test_other_tenant_cannot_verify(self):
        self.domain_b.sudo().provider = "ses"
        self.login(self.user_a)
        self.post(f"/my/domains/{self.domain_b.id}/verify", status=404)
        self.assertNotIn("globex-portal.test", self.ses_identities())
