"""Changing a domain's provider: the identity is created and verified at
the new provider while the old one keeps sending; once verified the domain
switches, the old identity is removed after the commit and the DNS records
to publish change. Against the fake Mailgun and moto (SES)."""

import os
from unittest.mock import patch

import boto3
from botocore.stub import Stubber

from odoo.exceptions import AccessError
from odoo.service.model import call_kw
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_outbound.providers.ses import SesProvider

from .common import OutboundCase
from .provider_common import ProviderServersMixin

LOGGER = "odoo.addons.emboux_outbound"


@tagged("post_install", "-at_install")
class TestProviderChange(ProviderServersMixin, OutboundCase):
    def verified(self, name, code, **vals):
        """A domain verified at ``code``, with its relay credential."""
        domain = self.Domain.create({"name": name, "provider": code, **vals})
        self.sync_providers()
        if code == "mailgun":
            self.mailgun.dns_published.add(name)
        domain._provider_refresh()  # moto: Success at once
        self.assertEqual(domain.verification_status, "verified")
        domain.action_activate()
        self.sync_providers()
        return domain

    def record_types(self, domain):
        return [(r["type"], r["name"]) for r in domain._dns_records_to_publish()]

    def spf(self, domain):
        return next(r["value"] for r in domain._dns_records_to_publish() if r["type"] == "SPF")

    def assertSendsThrough(self, domain, code, login=None):
        """What the relay and the send decision use: the provider, its
        credential, the verification."""
        self.assertEqual(domain._effective_provider_code(), code)
        self.assertEqual(domain._provider_status()["provider"], code)
        self.assertEqual(domain.provider_identity, "own")
        self.assertEqual(domain.verification_status, "verified")
        self.assertEqual(domain.smtp_login or None, login)
        self.assertTrue(domain.outbound_send_decision(count=1)["allowed"])

    # ------------------------------------------------------------------
    # the two directions
    # ------------------------------------------------------------------
    def test_mailgun_to_ses(self):
        domain = self.verified("move.test", "mailgun")
        login = "emboux-relay@move.test"
        self.assertSendsThrough(domain, "mailgun", login)
        verified_at = domain.verified_at
        domain.action_provider_change("ses")
        # recorded; nothing called at SES in the request
        self.assertEqual(
            (domain.provider, domain.provider_next, domain.provider_next_status),
            ("mailgun", "ses", "not_started"),
        )
        self.assertNotIn("move.test", self.ses_identities())
        self.sync_providers()
        self.assertIn("move.test", self.ses_identities())
        self.assertEqual(domain.provider_next_status, "pending")
        # the old one keeps sending; the customer publishes both sets
        self.assertSendsThrough(domain, "mailgun", login)
        self.assertEqual(domain.verified_at, verified_at)
        self.assertEqual(
            self.spf(domain), "v=spf1 mx include:mailgun.org include:amazonses.com ~all"
        )
        records = self.record_types(domain)
        # Mailgun's DKIM (still signing), then SES's ownership TXT and DKIM
        self.assertEqual(
            [t for t, _name in records], ["MX", "SPF", "DKIM", "TXT", "DKIM", "DKIM", "DKIM"]
        )
        self.assertEqual(records[2][1], "smtp._domainkey.move.test")
        self.assertEqual(records[3][1], "_amazonses.move.test")
        self.assertEqual(len(domain.provider_record_ids.filtered(lambda r: r.provider == "ses")), 4)
        # the poll: moto verified it, the domain switches
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertSendsThrough(domain, "ses")
        self.assertFalse(domain.provider_next or domain.provider_next_status)
        self.assertGreaterEqual(domain.verified_at, verified_at)
        self.assertFalse(domain.sudo().smtp_password)
        self.assertEqual(self.spf(domain), "v=spf1 mx include:amazonses.com ~all")
        self.assertEqual(
            [t for t, _name in self.record_types(domain)],
            ["MX", "SPF", "TXT", "DKIM", "DKIM", "DKIM"],
        )
        self.assertEqual(set(domain.provider_record_ids.mapped("provider")), {"ses"})
        # the old identity goes after the commit, not before
        self.assertIn("move.test", self.mailgun.domains)
        self.run_postcommit()
        self.assertNotIn("move.test", self.mailgun.domains)
        self.assertIn("move.test", self.ses_identities())

    def test_ses_to_mailgun(self):
        domain = self.verified("back.test", "ses")
        self.assertSendsThrough(domain, "ses")
        domain.action_provider_change("mailgun")
        self.sync_providers()
        self.assertIn("back.test", self.mailgun.domains)
        self.assertEqual(domain.provider_next_status, "pending")  # DNS not published yet
        # polled, still not verified there: still SES
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertSendsThrough(domain, "ses")
        self.assertEqual(domain.provider_next_status, "pending")
        self.assertIn("smtp._domainkey.back.test", [n for _t, n in self.record_types(domain)])
        # the customer published the records; verify-status tells
        self.mailgun.dns_published.add("back.test")
        domain.action_provider_refresh()
        self.assertEqual(domain.provider, "mailgun")
        self.assertEqual(domain.verification_status, "verified")
        self.assertEqual(domain.dkim_status, "verified")
        # its relay credential at Mailgun, after the commit
        self.assertTrue(domain.provider_credential_pending)
        self.sync_providers()
        self.assertSendsThrough(domain, "mailgun", "emboux-relay@back.test")
        self.assertEqual([t for t, _name in self.record_types(domain)], ["MX", "SPF", "DKIM"])
        self.assertIn("back.test", self.ses_identities())
        self.run_postcommit()
        self.assertNotIn("back.test", self.ses_identities())

    # ------------------------------------------------------------------
    # failures
    # ------------------------------------------------------------------
    def test_unreachable_new_provider_keeps_the_old_one(self):
        domain = self.verified("stay.test", "mailgun")
        domain.action_provider_change("ses")
        with (
            patch.dict(os.environ, {"AWS_ENDPOINT_URL_SES": "http://127.0.0.1:9"}),
            self.assertLogs(LOGGER, "WARNING"),
        ):
            self.sync_providers()
        self.assertIn("verify_domain_identity", domain.provider_next_error)
        self.assertEqual(domain.provider_next_status, "not_started")
        self.assertSendsThrough(domain, "mailgun", "emboux-relay@stay.test")
        self.assertEqual(domain._provider_change_info()["next_error"], domain.provider_next_error)
        # the form shows it
        with Form(domain.with_user(self.emboux_manager)) as form:
            self.assertIn("verify_domain_identity", form.provider_next_error)
        # SES is back: the next run goes on
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertFalse(domain.provider_next_error)
        self.backdate_checks(domain)
        self.sync_providers()
        self.assertSendsThrough(domain, "ses")

    def test_verification_failed_at_the_new_provider(self):
        domain = self.verified("fails.test", "mailgun")
        domain.action_provider_change("ses")
        self.sync_providers()
        client = boto3.client("ses", region_name="us-east-1", endpoint_url=self.moto_url)
        stub = Stubber(client)
        stub.add_response(
            "get_identity_verification_attributes",
            {
                "VerificationAttributes": {
                    "fails.test": {"VerificationStatus": "Failed", "VerificationToken": "t"}
                }
            },
            {"Identities": ["fails.test"]},
        )
        stub.add_response(
            "get_identity_dkim_attributes",
            {"DkimAttributes": {}},
            {"Identities": ["fails.test"]},
        )
        with stub, self.assertLogs(LOGGER, "WARNING"):
            switched = domain._provider_refresh_moves(providers={"ses": SesProvider(client)})
        self.assertFalse(switched)
        self.assertEqual(domain.provider_next_status, "failed")
        self.assertIn("did not verify the domain", domain.provider_next_error)
        self.assertSendsThrough(domain, "mailgun", "emboux-relay@fails.test")
        # the same provider again: started over; the error shown until then
        domain.action_provider_change("ses")
        self.assertEqual(domain.provider_next_status, "not_started")
        self.assertTrue(domain.provider_next_error)
        self.sync_providers()
        self.assertEqual(domain.provider_next_status, "pending")
        self.assertFalse(domain.provider_next_error)
        self.assertSendsThrough(domain, "mailgun", "emboux-relay@fails.test")

    # ------------------------------------------------------------------
    # cancel, direct switch, subdomains, bad input
    # ------------------------------------------------------------------
    def test_cancel_removes_the_new_identity(self):
        domain = self.verified("cancel.test", "mailgun")
        domain.action_provider_change("ses")
        self.sync_providers()
        self.assertIn("cancel.test", self.ses_identities())
        domain.button_provider_change_cancel()
        self.assertFalse(domain.provider_next)
        self.assertEqual(set(domain.provider_record_ids.mapped("provider")), {"mailgun"})
        self.assertEqual(self.spf(domain), "v=spf1 mx include:mailgun.org ~all")
        self.run_postcommit()
        self.assertNotIn("cancel.test", self.ses_identities())
        self.assertSendsThrough(domain, "mailgun", "emboux-relay@cancel.test")

    def test_unverified_domain_switches_at_once(self):
        domain = self.Domain.create({"name": "fresh.test", "provider": "mailgun"})
        self.sync_providers()
        self.assertEqual(domain.verification_status, "pending")
        domain.action_provider_change("ses")
        self.assertEqual(domain.provider, "ses")
        self.assertFalse(domain.provider_next)
        self.assertFalse(domain.provider_identity)
        self.assertTrue(domain.provider_setup_pending)
        self.assertEqual(domain.verification_status, "pending")
        self.assertFalse(domain.provider_record_ids)
        self.sync_providers()
        self.assertEqual(domain.provider_identity, "own")
        self.assertIn("fresh.test", self.ses_identities())
        self.run_postcommit()
        self.assertNotIn("fresh.test", self.mailgun.domains)

    def test_linked_subdomains_follow(self):
        parent = self.verified("wild.test", "mailgun", is_wildcard=True)
        sub = self.Domain.create({"name": "news.wild.test"})
        self.sync_providers()
        self.assertEqual(sub.provider_identity, "subdomain")
        self.assertIn("news.wild.test", self.mailgun.domains)
        with self.assertRaises(EmbouxConflictError) as caught:
            sub.action_provider_change("ses")
        self.assertEqual(caught.exception.field, "provider")
        parent.action_provider_change("ses")
        self.sync_providers()
        self.backdate_checks(parent)
        self.sync_providers()  # switched
        self.assertEqual(parent.provider, "ses")
        self.assertTrue(sub.provider_setup_pending)
        self.sync_providers()  # the run the switch woke: the subdomain at SES
        self.assertEqual((sub.provider, sub.provider_identity), ("ses", "subdomain"))
        self.assertFalse(sub.smtp_login)
        self.assertTrue(sub.verified_via_parent)
        self.run_postcommit()
        self.assertNotIn("news.wild.test", self.mailgun.domains)
        self.assertNotIn("wild.test", self.mailgun.domains)

    def test_unknown_provider_names_the_field(self):
        for value in ("smtp", None, ["ses"]):
            with self.assertRaises(EmbouxInputError) as caught:
                self.domain_a.action_provider_change(value)
            self.assertEqual(caught.exception.field, "provider")

    def test_deleting_a_moving_domain_removes_both_identities(self):
        domain = self.verified("both.test", "mailgun")
        domain.action_provider_change("ses")
        self.sync_providers()
        domain.unlink()
        self.run_postcommit()
        self.assertNotIn("both.test", self.mailgun.domains)
        self.assertNotIn("both.test", self.ses_identities())

    # ------------------------------------------------------------------
    # the staff form and the RPC doors
    # ------------------------------------------------------------------
    def test_staff_button(self):
        domain = self.verified("button.test", "ses")
        action = domain.with_context(emboux_provider="mailgun").button_provider_change()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("keeps sending through Amazon SES", action["params"]["message"])
        self.assertEqual(domain.provider_next, "mailgun")
        with Form(domain.with_user(self.emboux_manager)) as form:
            self.assertEqual(form.provider_next, "mailgun")

    def test_rpc_doors(self):
        """``call_kw`` (``/web/dataset/call_kw``) lets any logged-in user call
        the public methods: only a manager (the master) may change a
        provider."""
        portal = self.make_portal_user(self.tenant_a, "change_portal")
        internal = new_test_user(self.env, login="change_internal", groups="base.group_user")
        domain = self.verified("door.acme.test", "mailgun", tenant_id=self.tenant_a.id)
        for user in (portal, self.tenant_a.user_id, internal, self.emboux_user):
            for method, args, context in (
                ("action_provider_change", [[domain.id], "ses"], {}),
                ("button_provider_change", [[domain.id]], {"emboux_provider": "ses"}),
                ("button_provider_change_cancel", [[domain.id]], {}),
            ):
                with self.subTest(user=user.login, method=method), self.assertRaises(AccessError):
                    call_kw(self.env(user=user, context=context)["emboux.domain"], method, args, {})
        self.assertFalse(domain.provider_next)
        call_kw(
            self.env(user=self.emboux_manager)["emboux.domain"],
            "action_provider_change",
            [[domain.id], "ses"],
            {},
        )
        self.assertEqual(domain.provider_next, "ses")
