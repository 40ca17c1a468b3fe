import os
from unittest.mock import patch

import boto3
from botocore.stub import Stubber

from odoo.tests import tagged

from odoo.addons.emboux_outbound.providers import ProviderError, get_provider
from odoo.addons.emboux_outbound.providers.ses import SesProvider

from .common import OutboundCase
from .provider_common import ProviderServersMixin

LOGGER = "odoo.addons.emboux_outbound"


def verification(status, token="tok"):
    return {"VerificationStatus": status, "VerificationToken": token}


def dkim(status, tokens=("a1", "b2", "c3")):
    return {"DkimEnabled": True, "DkimVerificationStatus": status, "DkimTokens": list(tokens)}


@tagged("post_install", "-at_install")
class TestProviderSes(ProviderServersMixin, OutboundCase):
    """SES through boto3 against a moto server; the Pending state, which
    moto never reports, through botocore's Stubber."""

    def make(self, name, **vals):
        """A domain at SES, as it is once the cron that its creation woke
        has run."""
        domain = self.Domain.create({"name": name, "provider": "ses", **vals})
        self.sync_providers()
        return domain

    # ------------------------------------------------------------------
    # against moto
    # ------------------------------------------------------------------
    def test_create_starts_verification_with_records(self):
        domain = self.make("shop.test")
        self.assertIn("shop.test", self.ses_identities())
        self.assertEqual(domain.verification_status, "pending")
        self.assertEqual(domain.provider_identity, "own")
        records = domain._dns_records_to_publish()
        self.assertEqual([r["type"] for r in records], ["MX", "SPF", "TXT", "DKIM", "DKIM", "DKIM"])
        self.assertEqual(records[1]["value"], "v=spf1 mx include:amazonses.com ~all")
        txt = records[2]
        self.assertEqual(txt["name"], "_amazonses.shop.test")
        self.assertEqual(txt["rrtype"], "TXT")
        self.assertTrue(txt["value"])
        for rec in records[3:]:
            token = rec["name"].split(".", 1)[0]
            self.assertEqual(rec["name"], f"{token}._domainkey.shop.test")
            self.assertEqual(rec["value"], f"{token}.dkim.amazonses.com")
            self.assertEqual(rec["rrtype"], "CNAME")

    def test_cron_polls_and_notifies(self):
        # set up at SES in one cron run: a later run polls every domain
        # checked in an earlier second (the check time is stored in seconds)
        domain, other, verified = self.Domain.create(
            [{"name": name, "provider": "ses"} for name in ("poll.test", "other.test", "done.test")]
        )
        self.sync_providers()
        verified._set_verification("verified", "verified")
        self.backdate_checks(domain | other | verified)
        bus_before = self.env["bus.bus"].sudo().search_count([])
        done = self.Domain._cron_poll_provider_verification(batch_size=1)
        self.assertEqual(done, 2)
        for d in (domain, other):
            self.assertEqual(d.verification_status, "verified")  # moto: Success
            self.assertEqual(d.dkim_status, "verified")
            self.assertTrue(d.verified_at)
        # the bus rows are written at the commit
        self.env.cr.precommit.run()
        notes = self.env["bus.bus"].sudo().search([], order="id desc")
        self.assertGreater(len(notes), bus_before)
        message = "".join(notes.mapped("message"))
        self.assertIn("poll.test", message)
        self.assertIn("Domain verified", message)
        # nothing pending: a second run polls nothing
        self.assertEqual(self.Domain._cron_poll_provider_verification(), 0)

    def test_activation_skips_ses(self):
        domain = self.make("relay.test")
        domain.action_suspend()
        domain.action_activate()
        self.assertEqual(domain.status, "active")
        self.assertFalse(domain.smtp_login)
        self.assertFalse(domain.provider_error)

    def test_subdomain_uses_parent_identity(self):
        parent = self.make("parent.test", is_wildcard=True)
        parent._provider_refresh()
        self.assertEqual(parent.verification_status, "verified")
        sub = self.Domain.create({"name": "news.parent.test"})
        self.assertEqual(sub.provider, "ses")
        self.sync_providers()
        self.assertEqual(sub.provider_identity, "subdomain")
        self.assertTrue(sub.verified_via_parent)
        # SES covers the subdomain with the parent's identity: none of its own
        self.assertEqual(self.ses_identities(), {"parent.test"})
        self.assertEqual([r["type"] for r in sub._dns_records_to_publish()], ["MX", "SPF"])
        sub.unlink()
        self.run_postcommit()
        self.assertEqual(self.ses_identities(), {"parent.test"})
        parent.unlink()
        self.run_postcommit()
        self.assertEqual(self.ses_identities(), set())

    def test_unreachable_endpoint_keeps_the_domain(self):
        with (
            patch.dict(os.environ, {"AWS_ENDPOINT_URL_SES": "http://127.0.0.1:9"}),
            self.assertLogs(LOGGER, "WARNING"),
        ):
            domain = self.make("offline.test")
        self.assertEqual(domain.verification_status, "pending")
        self.assertIn("verify_domain_identity", domain.provider_error)
        self.assertNotIn("testing", domain.provider_error)  # no credential in it
        # the cron recovers once SES answers
        self.backdate_checks(domain)
        self.Domain._cron_poll_provider_verification()
        self.assertFalse(domain.provider_error)
        self.assertIn("offline.test", self.ses_identities())

    def test_identity_deleted_at_ses_is_started_again(self):
        domain = self.make("lost.test")
        self.ses().delete_identity(Identity="lost.test")
        domain._provider_refresh()
        self.assertIn("lost.test", self.ses_identities())
        self.assertEqual(domain.provider_identity, "own")

    # ------------------------------------------------------------------
    # the states moto never shows, through a stubbed client
    # ------------------------------------------------------------------
    def stubbed(self):
        client = boto3.client("ses", region_name="us-east-1", endpoint_url=self.moto_url)
        return SesProvider(client=client), Stubber(client)

    def test_pending_then_success(self):
        provider, stub = self.stubbed()
        names = ["a.test"]
        stub.add_response(
            "get_identity_verification_attributes",
            {"VerificationAttributes": {"a.test": verification("Pending")}},
            {"Identities": names},
        )
        stub.add_response(
            "get_identity_dkim_attributes",
            {"DkimAttributes": {"a.test": dkim("Pending")}},
            {"Identities": names},
        )
        stub.add_response(
            "get_identity_verification_attributes",
            {"VerificationAttributes": {"a.test": verification("Success")}},
            {"Identities": names},
        )
        stub.add_response(
            "get_identity_dkim_attributes",
            {"DkimAttributes": {"a.test": dkim("Success")}},
            {"Identities": names},
        )
        with stub:
            first = provider.get_statuses(names)["a.test"]
            second = provider.get_statuses(names)["a.test"]
        stub.assert_no_pending_responses()
        self.assertEqual((first.verification, first.dkim), ("pending", "pending"))
        self.assertEqual((second.verification, second.dkim), ("verified", "verified"))
        self.assertEqual(
            [r["name"] for r in second.records],
            [
                "_amazonses.a.test",
                "a1._domainkey.a.test",
                "b2._domainkey.a.test",
                "c3._domainkey.a.test",
            ],
        )

    def test_failed_temporary_and_unknown(self):
        provider, stub = self.stubbed()
        names = ["f.test", "t.test", "u.test"]
        stub.add_response(
            "get_identity_verification_attributes",
            {
                "VerificationAttributes": {
                    "f.test": verification("Failed"),
                    "t.test": verification("TemporaryFailure"),
                }
            },
            {"Identities": names},
        )
        stub.add_response(
            "get_identity_dkim_attributes",
            {"DkimAttributes": {"f.test": dkim("Failed"), "t.test": dkim("Pending")}},
            {"Identities": names},
        )
        with stub:
            result = provider.get_statuses(names)
        self.assertEqual(result["f.test"].verification, "failed")
        self.assertEqual(result["t.test"].verification, "pending")
        self.assertFalse(result["u.test"].exists)

    def test_batches_of_one_hundred(self):
        provider, stub = self.stubbed()
        names = [f"d{i}.test" for i in range(150)]
        for batch in (names[:100], names[100:]):
            stub.add_response(
                "get_identity_verification_attributes",
                {"VerificationAttributes": {n: verification("Success") for n in batch}},
                {"Identities": batch},
            )
            stub.add_response(
                "get_identity_dkim_attributes",
                {"DkimAttributes": {n: dkim("Success") for n in batch}},
                {"Identities": batch},
            )
        with stub:
            result = provider.get_statuses(names)
        stub.assert_no_pending_responses()
        self.assertEqual(len(result), 150)

    def test_client_error_is_a_provider_error(self):
        provider, stub = self.stubbed()
        stub.add_client_error(
            "verify_domain_identity",
            "Throttling",
            "Rate exceeded",
            expected_params={"Domain": "x.test"},
        )
        with stub, self.assertRaises(ProviderError) as caught:
            provider.start_verification("x.test")
        self.assertEqual(
            str(caught.exception), "ses: verify_domain_identity: Throttling Rate exceeded"
        )

    def test_model_pending_then_success_through_stub(self):
        """The model's side: a pending domain stays pending on a Pending
        answer, becomes verified on Success, and only then is notified."""
        domain = self.make("model.test")
        provider, stub = self.stubbed()
        for status in ("Pending", "Success"):
            stub.add_response(
                "get_identity_verification_attributes",
                {"VerificationAttributes": {"model.test": verification(status)}},
                {"Identities": ["model.test"]},
            )
            stub.add_response(
                "get_identity_dkim_attributes",
                {"DkimAttributes": {"model.test": dkim(status)}},
                {"Identities": ["model.test"]},
            )
        with stub:
            newly = domain._provider_refresh(providers={"ses": provider})
            self.assertFalse(newly)
            self.assertEqual(domain.verification_status, "pending")
            self.assertEqual(domain.dkim_status, "pending")
            self.assertFalse(domain.verified_at)
            newly = domain._provider_refresh(providers={"ses": provider})
        stub.assert_no_pending_responses()
        self.assertEqual(newly, domain)
        self.assertEqual(domain.verification_status, "verified")
        self.assertEqual(domain.dkim_status, "verified")
        self.assertTrue(domain.verified_at)
        # the stored records follow the provider's answer
        self.assertEqual(
            [r["name"] for r in domain._dns_records_to_publish()][2:],
            [
                "_amazonses.model.test",
                "a1._domainkey.model.test",
                "b2._domainkey.model.test",
                "c3._domainkey.model.test",
            ],
        )
        self.assertIsInstance(get_provider("ses"), SesProvider)
