"""SES feedback wired at creation: the suite points the Bounce and
Complaint notifications of the SES identities it creates at the topic of
``emboux_ses_notification_topic_arn`` and the SES webhook trusts it.

moto 5.2.5 does not answer the topics in
``GetIdentityNotificationAttributes``; what SES was told is checked the way
it matters: moto's mailbox simulator (``bounce@``/``complaint@
simulator.amazonses.com``) publishes the feedback to the identity's topic,
read back through an SQS queue subscribed to it."""

from contextlib import contextmanager
import json
import os
from unittest.mock import patch

import boto3
from botocore.stub import Stubber

from odoo.tests import tagged
from odoo.tools import config

from odoo.addons.emboux_outbound.models import emboux_domain_provider as provider_model
from odoo.addons.emboux_outbound.providers import ProviderError
from odoo.addons.emboux_outbound.providers.ses import SesProvider

from ..webhooks import WebhookSignatureError, sns
from .common import OutboundCase
from .provider_common import ProviderServersMixin
from .webhook_fixtures import make_signing_pair, ses_bounce, sns_notification

MODEL_LOGGER = "odoo.addons.emboux_outbound.models.emboux_domain_provider"
WEBHOOK_LOGGER = "odoo.addons.emboux_outbound.models.emboux_webhook_event"
SETTING_ENV = "EMBOUX_SES_NOTIFICATION_TOPIC_ARN"
REGION = "us-east-1"


@contextmanager
def notification_topic(arn):
    """The setting (env wins over odoo.conf); None: unset."""
    with patch.dict(os.environ, {SETTING_ENV: arn or ""}):
        yield


@tagged("post_install", "-at_install")
class TestSesFeedback(ProviderServersMixin, OutboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, cls.pem = make_signing_pair()
        # only the topics the suite sets are trusted here: none configured
        cls.startClassPatcher(
            patch.dict(os.environ, {"EMBOUX_SES_SNS_TOPIC_ARNS": "", SETTING_ENV: ""})
        )
        cls.startClassPatcher(
            patch.dict(
                config._runtime_options,
                {"emboux_ses_sns_topic_arns": "", "emboux_ses_topic_arns": ""},
            )
        )

    def setUp(self):
        super().setUp()
        self.topic = self.make_topic("ses-feedback")

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def client(self, service):
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url)

    def make_topic(self, name):
        """An SNS topic at moto and an SQS queue subscribed to it."""
        arn = self.client("sns").create_topic(Name=name)["TopicArn"]
        sqs = self.client("sqs")
        queue = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.client("sns").subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        self.queues = {**getattr(self, "queues", {}), arn: queue}
        return arn

    def feedback(self, domain_name):
        """Send from the domain to the simulator's bounce, complaint and
        success addresses: ``{topic ARN: sorted kinds}`` SES published."""
        ses = self.ses()
        for who in ("bounce", "complaint", "success"):
            ses.send_email(
                Source=f"news@{domain_name}",
                Destination={"ToAddresses": [f"{who}@simulator.amazonses.com"]},
                Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
            )
        sqs = self.client("sqs")
        result = {}
        for arn, queue in self.queues.items():
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            for message in messages:
                body = json.loads(message["Body"])
                self.assertEqual(body["TopicArn"], arn)
                content = body["Message"]
                content = json.loads(content) if isinstance(content, str) else content
                kind = "bounce" if "bounce" in content else "complaint"
                result.setdefault(arn, []).append(kind)
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return {arn: sorted(kinds) for arn, kinds in result.items()}

    def make(self, name, **vals):
        """A domain at SES, as it is once the cron that its creation woke
        has run."""
        domain = self.Domain.create({"name": name, "provider": "ses", **vals})
        self.sync_providers()
        return domain

    def trusted(self):
        return self.env["emboux.webhook.event"]._ses_trusted_topics()

    def receive(self, topic_arn):
        """A signed SES bounce notification from ``topic_arn`` through the
        SES webhook."""
        envelope = sns_notification(ses_bounce(["gone@example.org"]), self.key, TopicArn=topic_arn)
        store = sns.CertificateStore(fetch=lambda url: self.pem)
        return self.env["emboux.webhook.event"]._receive_sns(
            json.dumps(envelope), certificates=store
        )

    # ------------------------------------------------------------------
    # the provider
    # ------------------------------------------------------------------
    def test_provider_sets_bounce_and_complaint(self):
        client = boto3.client("ses", region_name=REGION)
        provider = SesProvider(client=client)
        with Stubber(client) as stub:
            for kind in ("Bounce", "Complaint"):
                stub.add_response(
                    "set_identity_notification_topic",
                    {},
                    {"Identity": "a.test", "NotificationType": kind, "SnsTopic": self.topic},
                )
            self.assertTrue(provider.set_notification_topic("a.test", self.topic))
            stub.assert_no_pending_responses()
            stub.add_client_error(
                "set_identity_notification_topic",
                service_error_code="InvalidParameterValue",
                service_message="bad topic",
            )
            with self.assertRaises(ProviderError) as caught:
                provider.set_notification_topic("a.test", "arn:nope")
            self.assertIn("set_identity_notification_topic", str(caught.exception))

    # ------------------------------------------------------------------
    # at creation
    # ------------------------------------------------------------------
    def test_new_domain_gets_its_feedback_topic(self):
        with notification_topic(self.topic):
            domain = self.make("shop.test")
            self.assertEqual(domain.ses_notification_topic_arn, self.topic)
            self.assertFalse(domain.provider_error)
            self.assertEqual(domain.provider_identity, "own")
            # SES publishes the bounces and complaints (not deliveries) there
            self.assertEqual(self.feedback("shop.test"), {self.topic: ["bounce", "complaint"]})
            # the webhook trusts it: no topic is configured otherwise
            self.assertEqual(self.trusted(), frozenset({self.topic}))
            self.assertEqual(self.receive(self.topic)["kind"], "bounce")
            # verify again (a retry): nothing set twice, the topic stays
            with patch.object(SesProvider, "set_notification_topic") as again:
                domain.action_provider_verify()
            again.assert_not_called()
            self.assertEqual(domain.ses_notification_topic_arn, self.topic)
        # the setting removed: the recorded topic stays trusted
        self.assertEqual(self.trusted(), frozenset({self.topic}))
        self.assertEqual(self.receive(self.topic)["kind"], "bounce")
        # another topic is still refused
        with self.assertLogs(WEBHOOK_LOGGER, "WARNING"), self.assertRaises(WebhookSignatureError):
            self.receive("arn:aws:sns:us-east-1:999999999999:someone-elses")

    def test_without_setting_nothing_is_set(self):
        # the call is checked (the run's log level can be above INFO)
        domain, second = self.Domain.create(
            [{"name": name, "provider": "ses"} for name in ("plain.test", "plain2.test")]
        )
        with patch.object(provider_model, "_logger") as logger:
            self.sync_providers()
        logger.info.assert_called_once()  # one line for the cron's run
        self.assertIn("No SES notification topic", logger.info.call_args.args[0])
        self.assertEqual(logger.info.call_args.args[1], "plain.test, plain2.test")
        self.assertFalse(second.ses_notification_topic_arn)
        self.assertIn("plain.test", self.ses_identities())
        self.assertFalse(domain.ses_notification_topic_arn)
        self.assertFalse(domain.provider_error)
        self.assertEqual(self.feedback("plain.test"), {})
        self.assertEqual(self.trusted(), frozenset())
        # Mailgun domains are none of this
        with notification_topic(self.topic):
            other = self.Domain.create({"name": "gun.test", "provider": "mailgun"})
            self.sync_providers()
        self.assertEqual(other.provider_identity, "own")
        self.assertFalse(other.ses_notification_topic_arn)

    def test_failure_is_retried_by_the_cron(self):
        failure = ProviderError("ses", "set_identity_notification_topic: Throttling")
        with (
            notification_topic(self.topic),
            patch.object(SesProvider, "set_notification_topic", side_effect=failure),
            self.assertLogs(MODEL_LOGGER, "WARNING"),
        ):
            domain = self.make("retry.test")
        self.assertIn("Throttling", domain.provider_error)
        self.assertFalse(domain.ses_notification_topic_arn)
        self.assertEqual(domain.verification_status, "pending")
        self.assertEqual(domain.provider_identity, "own")
        self.assertTrue(domain.provider_record_ids)  # the verification started
        self.assertEqual(self.feedback("retry.test"), {})
        # the polling cron's refresh sets it
        self.backdate_checks(domain)
        with notification_topic(self.topic):
            self.Domain._cron_poll_provider_verification()
        self.assertEqual(domain.ses_notification_topic_arn, self.topic)
        self.assertFalse(domain.provider_error)
        self.assertEqual(domain.verification_status, "verified")  # moto: Success
        self.assertEqual(self.feedback("retry.test"), {self.topic: ["bounce", "complaint"]})

    def test_unreachable_is_tried_once_per_call(self):
        failure = ProviderError("ses", "set_identity_notification_topic: timeout", True)
        with (
            notification_topic(self.topic),
            patch.object(SesProvider, "set_notification_topic", side_effect=failure) as called,
            self.assertLogs(MODEL_LOGGER, "WARNING"),
        ):
            domains = self.Domain.create(
                [{"name": name, "provider": "ses"} for name in ("a1.test", "a2.test")]
            )
            self.sync_providers()
        self.assertEqual(called.call_count, 1)
        for domain in domains:
            self.assertIn("timeout", domain.provider_error)
            self.assertFalse(domain.ses_notification_topic_arn)
            self.assertEqual(domain.provider_identity, "own")

    def test_cron_wires_verified_domains_and_follows_the_setting(self):
        # created before the setting, then verified: no topic
        domain = self.make("old.test")
        domain._provider_refresh()
        self.assertEqual(domain.verification_status, "verified")
        pending = self.make("pending.test")
        self.assertFalse(domain.ses_notification_topic_arn)
        self.backdate_checks(domain | pending)
        # no setting: the cron has nothing to wire
        self.Domain._cron_poll_provider_verification()
        self.assertFalse(domain.ses_notification_topic_arn)
        self.backdate_checks(domain | pending)
        with notification_topic(self.topic):
            self.Domain._cron_poll_provider_verification()
        self.assertEqual(domain.ses_notification_topic_arn, self.topic)
        self.assertEqual(pending.ses_notification_topic_arn, self.topic)
        self.assertEqual(self.feedback("old.test"), {self.topic: ["bounce", "complaint"]})
        # the setting changes: both trusted until every domain moved
        new_topic = self.make_topic("ses-feedback-2")
        with notification_topic(new_topic):
            self.assertEqual(self.trusted(), frozenset({self.topic, new_topic}))
            self.backdate_checks(domain | pending)
            self.Domain._cron_poll_provider_verification()
            self.assertEqual(domain.ses_notification_topic_arn, new_topic)
            self.assertEqual(pending.ses_notification_topic_arn, new_topic)
            self.assertEqual(self.trusted(), frozenset({new_topic}))
            self.assertEqual(self.feedback("old.test"), {new_topic: ["bounce", "complaint"]})
            # all wired: the next run has nothing to do
            self.backdate_checks(domain)
            with patch.object(SesProvider, "set_notification_topic") as again:
                self.Domain._cron_poll_provider_verification()
            again.assert_not_called()

    def test_subdomain_uses_the_parent_identity(self):
        with notification_topic(self.topic):
            parent = self.make("parent.test", is_wildcard=True)
            parent._provider_refresh()
            self.assertEqual(parent.verification_status, "verified")
            with patch.object(SesProvider, "set_notification_topic") as called:
                sub = self.Domain.create({"name": "news.parent.test"})
                self.sync_providers()
            # no identity of its own at SES: its mail is the parent's identity's,
            # with the parent's notifications
            called.assert_not_called()
            self.assertEqual(sub.provider_identity, "subdomain")
            self.assertFalse(sub.ses_notification_topic_arn)
            self.assertEqual(parent.ses_notification_topic_arn, self.topic)
            self.assertEqual(self.ses_identities(), {"parent.test"})
            self.assertEqual(self.feedback("parent.test"), {self.topic: ["bounce", "complaint"]})
