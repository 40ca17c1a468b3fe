from contextlib import ExitStack, contextmanager
import json
import os
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from ..webhooks import (
    WebhookNotConfiguredError,
    WebhookSignatureError,
    WebhookUpstreamError,
    sns,
)
from .webhook_fixtures import (
    CERT_URL,
    TOPIC_ARN,
    TRUSTED_TOPIC_ENV,
    UNTRUSTED_TOPIC_ARN,
    LocalSns,
    make_signing_pair,
    ses_bounce,
    ses_complaint,
    sign_envelope,
    sns_notification,
    sns_subscription,
    sns_timestamp,
)

# no extra host; the fixtures' topic trusted (whatever odoo.conf says: env wins)
SNS_OPTIONS = {"EMBOUX_SNS_ALLOWED_HOSTS": "", **TRUSTED_TOPIC_ENV}
TOPIC_OPTION = "emboux_ses_sns_topic_arns"
MODEL_LOGGER = "odoo.addons.emboux_outbound.models.emboux_webhook_event"


@contextmanager
def topics(env=None, conf=None):
    """Trust the topics ``env`` (EMBOUX_SES_SNS_TOPIC_ARNS) and ``conf``
    (odoo.conf's emboux_ses_sns_topic_arns); None for neither."""
    with ExitStack() as stack:
        stack.enter_context(patch.dict(os.environ, {"EMBOUX_SES_SNS_TOPIC_ARNS": env or ""}))
        stack.enter_context(patch.dict(config._runtime_options, {TOPIC_OPTION: conf or ""}))
        yield


class SnsKeyMixin:
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, cls.pem = make_signing_pair()
        cls.startClassPatcher(patch.dict(os.environ, SNS_OPTIONS))

    def setUp(self):
        super().setUp()
        self.fetched = []
        self.store = sns.CertificateStore(fetch=self.fetch)

    def fetch(self, url):
        self.fetched.append(url)
        return self.pem


@tagged("post_install", "-at_install")
class TestSnsSignature(SnsKeyMixin, TransactionCase):
    """``webhooks.sns.verify_signature`` with a real RSA key whose
    self-signed certificate the injected fetcher supplies."""

    def assertRefused(self, envelope, field, store=None, allowed_hosts=()):
        with self.assertRaises(WebhookSignatureError) as caught:
            store = self.store if store is None else store
            sns.verify_signature(envelope, store, allowed_hosts=allowed_hosts)
        self.assertEqual(caught.exception.field, field)

    def test_versions_1_and_2(self):
        for version in ("1", "2"):
            envelope = sns_notification(ses_bounce(["a@example.org"]), self.key, version=version)
            sns.verify_signature(envelope, self.store)
            confirmation = sns_subscription("https://sns.eu-west-1.amazonaws.com/?x", self.key)
            sns.verify_signature(sign_envelope(confirmation, self.key, version), self.store)
        self.assertEqual(self.fetched, [CERT_URL])  # fetched once, then cached

    def test_string_to_sign(self):
        envelope = {
            "Type": "Notification",
            "MessageId": "m1",
            "TopicArn": "t",
            "Message": "hello",
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "SigningCertURL": "ignored",
        }
        self.assertEqual(
            sns.string_to_sign(envelope),
            b"Message\nhello\nMessageId\nm1\nTimestamp\n2026-01-01T00:00:00.000Z\n"
            b"TopicArn\nt\nType\nNotification\n",
        )
        envelope["Subject"] = "s"
        self.assertIn(b"MessageId\nm1\nSubject\ns\nTimestamp", sns.string_to_sign(envelope))
        envelope.update(Type="SubscriptionConfirmation", SubscribeURL="u", Token="k")
        self.assertEqual(
            sns.string_to_sign(envelope),
            b"Message\nhello\nMessageId\nm1\nSubscribeURL\nu\nTimestamp\n"
            b"2026-01-01T00:00:00.000Z\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n",
        )

    def test_subject_is_signed(self):
        envelope = sns_notification("hello", self.key, subject="Bounce report")
        sns.verify_signature(envelope, self.store)
        envelope["Subject"] = "Something else"
        self.assertRefused(envelope, "Signature")

    def test_tampered(self):
        for field, value in (
            ("Message", json.dumps(ses_bounce(["victim@example.org"]))),
            ("MessageId", "another-id"),
            ("TopicArn", "arn:aws:sns:eu-west-1:999999999999:other"),
            ("Type", "SubscriptionConfirmation"),
        ):
            envelope = sns_notification(ses_bounce(["a@example.org"]), self.key)
            envelope[field] = value
            if field == "Type":
                envelope.update(SubscribeURL=CERT_URL, Token="t")
            self.assertRefused(envelope, "Signature")

    def test_other_key_or_version(self):
        other_key, _pem = make_signing_pair()
        self.assertRefused(sns_notification("x", other_key), "Signature")
        envelope = sns_notification("x", self.key, version="1")
        envelope["SignatureVersion"] = "2"
        self.assertRefused(envelope, "Signature")
        envelope["SignatureVersion"] = "3"
        self.assertRefused(envelope, "SignatureVersion")
        envelope = sns_notification("x", self.key)
        envelope["Signature"] = "not base64 !"
        self.assertRefused(envelope, "Signature")

    def test_signing_cert_url(self):
        good = (
            CERT_URL,
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
            "https://SNS.us-east-1.amazonaws.com:443/a.pem",
            "https://sns.eu-west-1.amazonaws.com/a.pem?x=.txt",  # the path counts
        )
        for url in good:
            self.assertEqual(sns.check_url(url, "SigningCertURL", suffix=".pem"), url)
        bad = (
            "http://sns.eu-west-1.amazonaws.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com/a.txt",
            "https://sns.evil.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.com/a.pem",
            "https://evil.com/sns.eu-west-1.amazonaws.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com@evil.com/a.pem",
            "https://user:pw@sns.eu-west-1.amazonaws.com/a.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/a.pem",
            "https://sns.ab.amazonaws.com/a.pem",  # {3,}
            "https://sns..amazonaws.com/a.pem",
            "ftp://sns.eu-west-1.amazonaws.com/a.pem",
            "https://[::1/a.pem",
            "",
        )
        for url in bad:
            envelope = sns_notification("x", self.key, cert_url=url)
            self.assertRefused(envelope, "SigningCertURL")
        self.assertEqual(self.fetched, [])  # never fetched

    def test_allowed_hosts(self):
        url = "http://127.0.0.1:8765/cert.pem"
        envelope = sns_notification("x", self.key, cert_url=url)
        self.assertRefused(envelope, "SigningCertURL")
        sns.verify_signature(envelope, self.store, allowed_hosts=["127.0.0.1:8765"])
        self.assertRefused(envelope, "SigningCertURL", allowed_hosts=["127.0.0.1:9999"])

    def test_certificate_problems(self):
        self.assertRefused(
            sns_notification("x", self.key), "SigningCertURL", sns.CertificateStore(lambda u: b"no")
        )
        expired_key, expired_pem = make_signing_pair(days=-0.5)
        envelope = sns_notification("x", expired_key)
        self.assertRefused(envelope, "SigningCertURL", sns.CertificateStore(lambda u: expired_pem))
        # a certificate URL that cannot be fetched (nothing listens on port 9)
        url = "http://127.0.0.1:9/cert.pem"
        with self.assertRaises(WebhookUpstreamError) as caught:
            sns.verify_signature(
                sns_notification("x", self.key, cert_url=url),
                sns.CertificateStore(),
                allowed_hosts=["127.0.0.1:9"],
            )
        self.assertEqual(caught.exception.field, "SigningCertURL")

    def test_age(self):
        stale = sns_notification("x", self.key, Timestamp=sns_timestamp(-2 * 86400))
        self.assertRefused(stale, "Timestamp")
        future = sns_notification("x", self.key, Timestamp=sns_timestamp(3600))
        self.assertRefused(future, "Timestamp")
        recent = sns_notification("x", self.key, Timestamp=sns_timestamp(-3600))
        sns.verify_signature(recent, self.store)

    def test_cache_is_bounded(self):
        store = sns.CertificateStore(fetch=self.fetch, max_entries=2)
        for index in range(3):
            url = f"https://sns.eu-west-1.amazonaws.com/c{index}.pem"
            sns.verify_signature(sns_notification("x", self.key, cert_url=url), store)
        self.assertEqual(len(store), 2)


@tagged("post_install", "-at_install")
class TestSnsParsing(TransactionCase):
    """``parse_envelope`` and ``parse_ses_message``: SES's notification
    contents; malformed input names the field."""

    def assertInputError(self, function, value, field):
        with self.assertRaises(EmbouxInputError) as caught:
            function(value)
        self.assertEqual(caught.exception.field, field, value)

    def envelope(self, **changes):
        envelope = {
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": TOPIC_ARN,
            "Message": "x",
            "Timestamp": sns_timestamp(),
            "SignatureVersion": "1",
            "Signature": "c2ln",
            "SigningCertURL": CERT_URL,
        }
        envelope.update(changes)
        return json.dumps({k: v for k, v in envelope.items() if v is not ...})

    def test_envelope(self):
        self.assertEqual(sns.parse_envelope(self.envelope().encode())["MessageId"], "m")
        cases = [
            (b"\xff", "body"),
            ("{", "body"),
            ('"text"', "body"),
            (self.envelope(Type="Bogus"), "Type"),
            (self.envelope(Type=...), "Type"),
            (self.envelope(MessageId=...), "MessageId"),
            (self.envelope(MessageId=""), "MessageId"),
            (self.envelope(MessageId="x" * 257), "MessageId"),
            (self.envelope(TopicArn=...), "TopicArn"),
            (self.envelope(TopicArn=12), "TopicArn"),
            (self.envelope(TopicArn=[TOPIC_ARN]), "TopicArn"),
            (self.envelope(TopicArn="arn:" + "x" * 100_000), "TopicArn"),
            (self.envelope(TopicArn=TOPIC_ARN + "\x00"), "body"),
            (self.envelope(Signature=12), "Signature"),
            (self.envelope(Message=None), "Message"),
            (self.envelope(SigningCertURL=...), "SigningCertURL"),
            (self.envelope(Subject=["x"]), "Subject"),
            (self.envelope(Type="SubscriptionConfirmation", Token="t"), "SubscribeURL"),
            (self.envelope(Type="SubscriptionConfirmation", SubscribeURL="u"), "Token"),
        ]
        for body, field in cases:
            self.assertInputError(sns.parse_envelope, body, field)
        envelope = sns.parse_envelope(self.envelope(Subject=None, Unknown={"x": 1}))
        self.assertIsNone(envelope["Subject"])

    def test_permanent_bounce(self):
        message = ses_bounce(["a@example.org", "B@Example.org"], source="News <news@Acme.Test>")
        event = sns.parse_ses_message(json.dumps(message))
        self.assertEqual(event.kind, "bounce")
        self.assertEqual(event.recipients, ["a@example.org", "B@Example.org"])
        self.assertEqual(event.domain_name, "acme.test")
        self.assertEqual(event.event_id, message["bounce"]["feedbackId"])
        self.assertEqual(event.event_type, "Bounce/Permanent")
        # configuration-set event publishing
        event = sns.parse_ses_message(json.dumps(ses_bounce(["a@x.org"], type_key="eventType")))
        self.assertEqual((event.kind, event.recipients), ("bounce", ["a@x.org"]))

    def test_complaint(self):
        message = ses_complaint(['"Jane" <jane@example.org>'], source="news@globex.test")
        event = sns.parse_ses_message(json.dumps(message))
        self.assertEqual((event.kind, event.recipients), ("complaint", ["jane@example.org"]))
        self.assertEqual(event.domain_name, "globex.test")

    def test_ignored(self):
        for message in (
            json.dumps(ses_bounce(["a@example.org"], bounce_type="Transient")),
            json.dumps(ses_bounce(["a@example.org"], bounce_type="Undetermined")),
            json.dumps({"notificationType": "Delivery", "delivery": {}, "mail": {}}),
            json.dumps({"eventType": "Open"}),
            "Successfully validated SNS topic for Amazon SES event publishing.",
        ):
            event = sns.parse_ses_message(message)
            self.assertIsNone(event.kind, message)
            self.assertEqual(event.recipients, [])

    def test_malformed_message(self):
        bounce = ses_bounce(["a@example.org"])
        no_list = json.loads(json.dumps(bounce))
        no_list["bounce"]["bouncedRecipients"] = "a@example.org"
        no_address = json.loads(json.dumps(bounce))
        no_address["bounce"]["bouncedRecipients"] = [{"status": "5.1.1"}]
        cases = [
            ("plain text", "Message"),
            ("[1]", "Message"),
            (json.dumps({"mail": {}}), "Message.notificationType"),
            (json.dumps({"notificationType": "Bounce"}), "Message.bounce"),
            (json.dumps(no_list), "Message.bounce.bouncedRecipients"),
            (json.dumps(no_address), "Message.bounce.bouncedRecipients[0].emailAddress"),
            (json.dumps({"notificationType": "Complaint"}), "Message.complaint"),
            (
                json.dumps({"notificationType": "Complaint", "complaint": {}}),
                "Message.complaint.complainedRecipients",
            ),
        ]
        for message, field in cases:
            self.assertInputError(sns.parse_ses_message, message, field)


@tagged("post_install", "-at_install")
class TestSnsWebhook(SnsKeyMixin, TransactionCase):
    """``emboux.webhook.event._receive_sns``: topics, confirmation through a
    local HTTP server, de-duplication on MessageId."""

    def receive(self, envelope, **kwargs):
        body = json.dumps(envelope)
        return self.env["emboux.webhook.event"]._receive_sns(
            body, certificates=self.store, **kwargs
        )

    def delivery(self, envelope):
        return self.env["emboux.webhook.event"].search(
            [("source", "=", "ses"), ("key", "=", envelope["MessageId"])]
        )

    def test_subscription_confirmed(self):
        with LocalSns() as server:
            url = server.url("/?Action=ConfirmSubscription&Token=abc123")
            envelope = sns_subscription(url, self.key)
            # the local host is refused until it is an allowed host
            with self.assertRaises(WebhookSignatureError) as caught:
                self.receive(envelope)
            self.assertEqual(caught.exception.field, "SubscribeURL")
            self.assertEqual(server.requests, [])
            with patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": f"example.org,{server.host}"}):
                self.assertEqual(self.receive(envelope), {"status": "confirmed", "kind": None})
            self.assertEqual(server.requests, ["/?Action=ConfirmSubscription&Token=abc123"])
        self.assertEqual(self.delivery(envelope).outcome, "confirmed")

    def test_subscribe_url_must_be_sns(self):
        for url in (
            "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.eu-west-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        ):
            with self.assertRaises(WebhookSignatureError) as caught:
                self.receive(sns_subscription(url, self.key))
            self.assertEqual(caught.exception.field, "SubscribeURL")

    def test_unsubscribe_confirmation_ignored(self):
        envelope = sns_subscription("https://sns.eu-west-1.amazonaws.com/?x", self.key)
        envelope["Type"] = "UnsubscribeConfirmation"
        sign_envelope(envelope, self.key)
        self.assertEqual(self.receive(envelope), {"status": "ignored", "kind": None})

    def suppressions(self):
        return self.env["emboux.suppression"].search_count([])

    def assertNothingChanged(self, before, envelope):
        """No delivery row, no suppression, no certificate fetched."""
        self.assertFalse(self.delivery(envelope))
        self.assertEqual(self.suppressions(), before)
        self.assertEqual(self.fetched, [])

    def test_no_topic_configured_refuses_all(self):
        before = self.suppressions()
        with LocalSns() as server, topics():
            # SubscribeURL on an allowed host: only the topic check stops the GET
            with patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": server.host}):
                for envelope in (
                    sns_notification(ses_bounce(["victim@example.org"]), self.key),
                    sns_subscription(server.url("/?Action=ConfirmSubscription"), self.key),
                ):
                    with (
                        self.assertLogs(MODEL_LOGGER, "WARNING") as logs,
                        self.assertRaises(WebhookNotConfiguredError) as caught,
                    ):
                        self.receive(envelope)
                    self.assertEqual(caught.exception.field, "TopicArn")
                    self.assertIn("no SNS topic is configured", str(caught.exception))
                    self.assertIn("no SNS topic is configured", logs.output[0])
                    self.assertIn(TOPIC_ARN, logs.output[0])
                    self.assertNothingChanged(before, envelope)
            self.assertEqual(server.requests, [])  # SubscribeURL never fetched
            trusted = self.env["emboux.webhook.event"]._ses_trusted_topics()
            self.assertEqual(trusted, frozenset())

    def test_untrusted_topic_notification(self):
        before = self.suppressions()
        # signed by SNS's key for someone else's topic: the signature is valid
        envelope = sns_notification(
            ses_bounce(["victim@example.org"]), self.key, TopicArn=UNTRUSTED_TOPIC_ARN
        )
        with (
            self.assertLogs(MODEL_LOGGER, "WARNING") as logs,
            self.assertRaises(WebhookSignatureError) as caught,
        ):
            self.receive(envelope)
        self.assertEqual(caught.exception.field, "TopicArn")
        self.assertIn(UNTRUSTED_TOPIC_ARN, logs.output[0])
        self.assertNothingChanged(before, envelope)
        # only the topic was wrong: trusted, the same delivery is processed
        with topics(env=f"{TOPIC_ARN} {UNTRUSTED_TOPIC_ARN}"):
            self.assertEqual(self.receive(envelope)["kind"], "bounce")
        self.assertEqual(self.fetched, [CERT_URL])
        self.assertEqual(self.suppressions(), before + 1)

    def test_untrusted_topic_subscription_not_confirmed(self):
        with LocalSns() as server:
            url = server.url("/?Action=ConfirmSubscription&Token=t1")
            envelope = sns_subscription(url, self.key, topic_arn=UNTRUSTED_TOPIC_ARN)
            with (
                patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": server.host}),
                self.assertLogs(MODEL_LOGGER, "WARNING"),
                self.assertRaises(WebhookSignatureError) as caught,
            ):
                self.receive(envelope)
            self.assertEqual(caught.exception.field, "TopicArn")
            self.assertEqual(server.requests, [])  # SubscribeURL not fetched
            self.assertEqual(self.fetched, [])
            self.assertFalse(self.delivery(envelope))
            # the trusted topic's confirmation is fetched
            trusted = sns_subscription(url, self.key)
            with patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": server.host}):
                self.assertEqual(self.receive(trusted)["status"], "confirmed")
            self.assertEqual(server.requests, ["/?Action=ConfirmSubscription&Token=t1"])

    def test_topic_lists_and_env_wins(self):
        envelope = sns_notification(ses_bounce(["a@x.org"], bounce_type="Transient"), self.key)
        refused = (
            {"env": "arn:aws:sns:eu-west-1:1:other"},
            {"env": TOPIC_ARN.upper()},  # ARNs are compared exactly
            {"env": "arn:aws:sns:eu-west-1:1:other", "conf": TOPIC_ARN},  # env wins
        )
        for options in refused:
            with (
                topics(**options),
                self.assertLogs(MODEL_LOGGER, "WARNING"),
                self.assertRaises(WebhookSignatureError, msg=options),
            ):
                self.receive(envelope)
        self.assertEqual(self.fetched, [])  # refused before any fetch
        accepted = (
            {"env": f"arn:x, {TOPIC_ARN}"},
            {"env": f"arn:x\n  {TOPIC_ARN}\t"},
            {"conf": f"arn:x,{TOPIC_ARN}"},
            {"env": TOPIC_ARN, "conf": "arn:aws:sns:eu-west-1:1:other"},  # env wins
        )
        for options in accepted:
            with topics(**options):
                trusted = self.env["emboux.webhook.event"]._ses_trusted_topics()
                self.assertIn(TOPIC_ARN, trusted, options)
        with topics(conf=f"arn:x {TOPIC_ARN}"):
            self.assertEqual(self.receive(envelope)["status"], "ignored")
            self.assertEqual(
                self.env["emboux.webhook.event"]._ses_trusted_topics(),
                frozenset({"arn:x", TOPIC_ARN}),
            )

    def test_topic_arn_robust(self):
        for value, field in (
            (12, "TopicArn"),
            (None, "TopicArn"),
            ("", "TopicArn"),
            ("arn:" + "x" * 100_000, "TopicArn"),
            (TOPIC_ARN + "\x00", "body"),  # PostgreSQL and the log cannot take a NUL
        ):
            envelope = sns_notification("x", self.key)
            envelope["TopicArn"] = value
            with self.assertRaises(EmbouxInputError) as caught:
                self.receive(envelope)
            self.assertEqual(caught.exception.field, field)
        self.assertEqual(self.fetched, [])

    def test_duplicate_message_id(self):
        envelope = sns_notification(ses_bounce(["a@x.org"], bounce_type="Transient"), self.key)
        self.assertEqual(self.receive(envelope), {"status": "ignored", "kind": None})
        self.assertEqual(self.receive(envelope), {"status": "duplicate", "kind": None})
        delivery = self.delivery(envelope)
        self.assertEqual((delivery.outcome, delivery.event_type), ("ignored", "Bounce/Transient"))

    def test_bounce_and_complaint_suppress(self):
        domain = self.env["emboux.domain"].create({"name": "acme.test"})
        envelope = sns_notification(ses_bounce(["a@example.org", "B@example.org"]), self.key)
        self.assertEqual(self.receive(envelope), {"status": "processed", "kind": "bounce"})
        envelope = sns_notification(ses_complaint(["c@example.org"]), self.key, version="2")
        self.assertEqual(self.receive(envelope), {"status": "processed", "kind": "complaint"})
        rows = self.env["emboux.suppression"].search([("email", "like", "%@example.org")])
        self.assertEqual(
            sorted((r.email, r.reason, r.source, r.domain_id) for r in rows),
            [
                ("a@example.org", "bounce", "ses", domain),
                ("b@example.org", "bounce", "ses", domain),
                ("c@example.org", "complaint", "ses", domain),
            ],
        )
        self.assertEqual(self.delivery(envelope).recipient_count, 1)

    def test_validation_text_ignored(self):
        envelope = sns_notification(
            "Successfully validated SNS topic for Amazon SES event publishing.", self.key
        )
        self.assertEqual(self.receive(envelope)["status"], "ignored")

    def test_refused_leaves_no_trace(self):
        envelope = sns_notification(ses_bounce(["a@x.org"]), self.key)
        envelope["Message"] = json.dumps(ses_bounce(["victim@x.org"]))
        with self.assertRaises(WebhookSignatureError):
            self.receive(envelope)
        self.assertFalse(self.delivery(envelope))
        malformed = sns_notification('{"notificationType": "Bounce"}', self.key)
        with self.assertRaises(EmbouxInputError):
            self.receive(malformed)
