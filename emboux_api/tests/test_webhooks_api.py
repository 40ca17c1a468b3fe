import json
import os
import time
from unittest.mock import patch
from urllib.parse import urlsplit
import uuid

from odoo.tests import HttpCase, tagged
from odoo.tools import config

from odoo.addons.emboux_outbound.tests.webhook_fixtures import (
    MAILGUN_KEY,
    TOPIC_ARN,
    TRUSTED_TOPIC_ENV,
    UNTRUSTED_TOPIC_ARN,
    LocalSns,
    mailgun_body,
    mailgun_complained,
    mailgun_failed,
    make_signing_pair,
    ses_bounce,
    ses_complaint,
    sns_notification,
    sns_subscription,
)

from .common import EmbouxApiCase

SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "x"}
MODEL_LOGGER = "odoo.addons.emboux_outbound.models.emboux_webhook_event"


class WebhookApiCase(EmbouxApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(
            patch.dict(
                os.environ,
                {
                    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
                    **TRUSTED_TOPIC_ENV,
                    "EMBOUX_SNS_ALLOWED_HOSTS": "",
                    "EMBOUX_WEBHOOK_MAX_AGE": "",
                },
            )
        )
        cls.Event = cls.env["emboux.webhook.event"]

    def deliveries(self):
        return self.Event.search_count([])

    def suppressed(self, email):
        """``GET /suppression/check/{email}`` (master)."""
        return self.assertStatus(self.api("GET", f"/suppression/check/{email}"), 200)


@tagged("post_install", "-at_install")
class TestMailgunWebhookApi(WebhookApiCase):
    def post(self, body):
        headers = {"Content-Type": "application/json"}
        return self.api("POST", "/webhooks/mailgun", token=None, content=body, headers=headers)

    def assertRefused(self, response, field):
        body = self.assertStatus(response, 406)
        self.assertTrue(body["detail"].startswith(f"{field}:"), body)

    def test_ignored_event(self):
        body = mailgun_body(mailgun_failed("jane@example.org", severity="temporary"))
        response = self.post(body)
        self.assertEqual(self.assertStatus(response, 200), {"status": "ignored", "kind": None})
        for path in ("/webhooks/mailgun/",):  # trailing slash too
            again = mailgun_body({"event": "delivered", "recipient": "jane@example.org"})
            headers = {"Content-Type": "application/json"}
            response = self.api("POST", path, token=None, content=again, headers=headers)
            self.assertStatus(response, 200)

    def test_refusals_answer_406_and_leave_nothing(self):
        before = self.deliveries()
        now = int(time.time())
        data = mailgun_failed("jane@example.org")
        self.assertRefused(self.post(mailgun_body(data, key="wrong")), "signature.signature")
        self.assertRefused(
            self.post(mailgun_body(data, timestamp=now - 2 * 86400)), "signature.timestamp"
        )
        self.assertRefused(self.post(json.dumps({"event-data": data})), "signature")
        self.assertRefused(self.post("not json"), "body")
        self.assertRefused(self.post(mailgun_body(None)), "event-data")
        self.assertRefused(self.post(mailgun_body({"event": "complained"})), "event-data.recipient")
        self.assertEqual(self.deliveries(), before)

    def test_replay_refused(self):
        body = mailgun_body(mailgun_failed("jane@example.org", severity="temporary"))
        self.assertStatus(self.post(body), 200)
        self.assertRefused(self.post(body), "signature.token")

    def test_max_age_option(self):
        body = mailgun_body({"event": "opened"}, timestamp=int(time.time()) - 7200)
        with patch.dict(os.environ, {"EMBOUX_WEBHOOK_MAX_AGE": "3600"}):
            self.assertRefused(self.post(body), "signature.timestamp")
        self.assertStatus(self.post(body), 200)

    def test_not_configured(self):
        body = mailgun_body(mailgun_failed("jane@example.org"))
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": ""}):
            response = self.post(body)
        self.assertStatus(response, 503)

    def test_bounce_and_complaint_suppress(self):
        self.make_domain("acme.test")
        response = self.post(mailgun_body(mailgun_failed("Jane@Example.org", domain="acme.test")))
        self.assertEqual(
            self.assertStatus(response, 200), {"status": "processed", "kind": "bounce"}
        )
        self.assertEqual(
            self.suppressed("jane@example.org"),
            {"email": "jane@example.org", "suppressed": True, "reason": "bounce"},
        )
        response = self.post(mailgun_body(mailgun_complained("bob@example.org")))
        self.assertEqual(self.assertStatus(response, 200)["kind"], "complaint")
        self.assertEqual(self.suppressed("bob@example.org")["reason"], "complaint")
        self.assertFalse(self.suppressed("nobody@example.org")["suppressed"])


@tagged("post_install", "-at_install")
class TestSesWebhookApi(WebhookApiCase):
    """SNS deliveries through the API, the certificate fetched over HTTP
    from a local server standing in for SNS (an allowed host)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, pem = make_signing_pair()
        cls.sns = cls.enterClassContext(LocalSns(pem))
        cls.cert_url = cls.sns.url("/SimpleNotificationService-test.pem")
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": cls.sns.host}))

    def post(self, envelope):
        body = envelope if isinstance(envelope, str) else json.dumps(envelope)
        return self.api("POST", "/webhooks/ses", token=None, content=body, headers=SNS_HEADERS)

    def notification(self, message, **kwargs):
        kwargs.setdefault("cert_url", self.cert_url)
        return sns_notification(message, self.key, **kwargs)

    def test_ignored_and_duplicate(self):
        envelope = self.notification(ses_bounce(["a@example.org"], bounce_type="Transient"))
        self.assertEqual(self.assertStatus(self.post(envelope), 200)["status"], "ignored")
        self.assertEqual(self.assertStatus(self.post(envelope), 200)["status"], "duplicate")
        self.assertIn("/SimpleNotificationService-test.pem", self.sns.requests)

    def test_signature_refused_403(self):
        before = self.deliveries()
        envelope = self.notification(ses_bounce(["a@example.org"]), version="2")
        envelope["Message"] = json.dumps(ses_bounce(["victim@example.org"]))
        body = self.assertStatus(self.post(envelope), 403)
        self.assertTrue(body["detail"].startswith("Signature:"), body)
        foreign = sns_notification("x", self.key)  # a real SNS host: not fetched here
        foreign["SigningCertURL"] = "https://evil.example.com/cert.pem"
        self.assertTrue(
            self.assertStatus(self.post(foreign), 403)["detail"].startswith("SigningCertURL:")
        )
        self.assertEqual(self.deliveries(), before)

    def test_malformed_422(self):
        self.assertDetailNames(self.post("not json"), 422, "body")
        envelope = self.notification("x")
        del envelope["MessageId"]
        self.assertDetailNames(self.post(envelope), 422, "MessageId")
        envelope = self.notification('{"notificationType": "Bounce"}')
        self.assertDetailNames(self.post(envelope), 422, "Message.bounce")

    def test_certificate_unreachable_502(self):
        with LocalSns() as gone:
            host = gone.host
        url = f"http://{host}/cert.pem"
        with patch.dict(os.environ, {"EMBOUX_SNS_ALLOWED_HOSTS": host}):
            response = self.post(sns_notification("x", self.key, cert_url=url))
        self.assertStatus(response, 502)

    def fresh_cert_url(self):
        """A certificate URL not cached yet: a refusal that let the
        signature be checked would GET it from the local SNS."""
        return self.sns.url(f"/SimpleNotificationService-{uuid.uuid4().hex}.pem")

    def assertRefusedBeforeNetwork(self, envelope, code, logged):
        """``envelope`` answers ``code`` naming TopicArn, with a warning
        naming its topic, and changes nothing: no delivery, no suppression,
        no request to the local SNS (certificate or SubscribeURL)."""
        requests, deliveries = list(self.sns.requests), self.deliveries()
        suppressions = self.env["emboux.suppression"].search_count([])
        with self.assertLogs(MODEL_LOGGER, "WARNING") as logs:
            detail = self.assertDetailNames(self.post(envelope), code, "TopicArn")
        self.assertIn(logged, logs.output[0])
        self.assertIn(envelope["TopicArn"], logs.output[0])
        self.assertEqual(self.sns.requests, requests)
        self.assertEqual(self.deliveries(), deliveries)
        self.assertEqual(self.env["emboux.suppression"].search_count([]), suppressions)
        return detail

    def test_no_topic_configured_503(self):
        bounce = self.notification(
            ses_bounce(["victim@example.org"]), cert_url=self.fresh_cert_url()
        )
        subscribe = sns_subscription(
            self.sns.url("/?Action=ConfirmSubscription&Token=t503"),
            self.key,
            cert_url=self.fresh_cert_url(),
        )
        with (
            patch.dict(os.environ, {"EMBOUX_SES_SNS_TOPIC_ARNS": ""}),
            patch.dict(config._runtime_options, {"emboux_ses_sns_topic_arns": ""}),
        ):
            for envelope in (bounce, subscribe):
                detail = self.assertRefusedBeforeNetwork(envelope, 503, "no SNS topic")
                self.assertIn("no SNS topic is configured", detail)
        self.assertFalse(self.suppressed("victim@example.org")["suppressed"])
        # configured, the same deliveries go through (and fetch the certificate)
        self.assertEqual(self.assertStatus(self.post(bounce), 200)["kind"], "bounce")
        self.assertIn(urlsplit(bounce["SigningCertURL"]).path, self.sns.requests)
        self.assertEqual(self.assertStatus(self.post(subscribe), 200)["status"], "confirmed")
        self.assertIn("/?Action=ConfirmSubscription&Token=t503", self.sns.requests)

    def test_untrusted_topic_403(self):
        # validly signed, but by someone else's topic
        envelope = sns_notification(
            ses_bounce(["victim@example.org"]),
            self.key,
            cert_url=self.fresh_cert_url(),
            TopicArn=UNTRUSTED_TOPIC_ARN,
        )
        detail = self.assertRefusedBeforeNetwork(envelope, 403, "untrusted SNS topic")
        self.assertEqual(detail, "TopicArn: not a trusted topic")
        self.assertFalse(self.suppressed("victim@example.org")["suppressed"])
        subscribe = sns_subscription(
            self.sns.url("/?Action=ConfirmSubscription&Token=t403"),
            self.key,
            cert_url=self.fresh_cert_url(),
            topic_arn=UNTRUSTED_TOPIC_ARN,
        )
        self.assertRefusedBeforeNetwork(subscribe, 403, "untrusted SNS topic")
        # env wins over odoo.conf
        with patch.dict(
            config._runtime_options, {"emboux_ses_sns_topic_arns": UNTRUSTED_TOPIC_ARN}
        ):
            self.assertRefusedBeforeNetwork(subscribe, 403, "untrusted SNS topic")
            with patch.dict(os.environ, {"EMBOUX_SES_SNS_TOPIC_ARNS": ""}):
                response = self.post(subscribe)
                self.assertEqual(self.assertStatus(response, 200)["status"], "confirmed")

    def test_topic_arn_robust(self):
        envelope = self.notification("x")
        for value in (12, ["x"], None, "arn:" + "x" * 100_000):
            self.assertDetailNames(self.post({**envelope, "TopicArn": value}), 422, "TopicArn")
        nul = {**envelope, "TopicArn": TOPIC_ARN + "\x00"}
        self.assertIn("NUL", self.assertDetailNames(self.post(nul), 422, "body"))

    def test_subscription_confirmed(self):
        envelope = sns_subscription(
            self.sns.url("/?Action=ConfirmSubscription&Token=t1"), self.key, cert_url=self.cert_url
        )
        self.assertEqual(self.assertStatus(self.post(envelope), 200)["status"], "confirmed")
        self.assertIn("/?Action=ConfirmSubscription&Token=t1", self.sns.requests)

    def test_bounce_and_complaint_suppress(self):
        self.make_domain("acme.test")
        envelope = self.notification(ses_bounce(["a@example.org", "B@example.org"]))
        self.assertEqual(
            self.assertStatus(self.post(envelope), 200), {"status": "processed", "kind": "bounce"}
        )
        self.assertEqual(self.suppressed("b@example.org")["reason"], "bounce")
        self.assertEqual(self.suppressed("a@example.org")["reason"], "bounce")
        envelope = self.notification(ses_complaint(["c@example.org"]))
        self.assertEqual(self.assertStatus(self.post(envelope), 200)["kind"], "complaint")
        self.assertEqual(self.suppressed("c@example.org")["reason"], "complaint")


@tagged("post_install", "-at_install")
class TestWebhooksHttp(HttpCase):
    """Through Odoo's real HTTP stack, without any token: the raw bodies
    reach the signature checks as sent (SNS's JSON as text/plain)."""

    def post(self, path, body, content_type):
        prefix = self.env.ref("emboux_api.endpoint_emboux_api").root_path
        return self.url_open(f"{prefix}{path}", data=body, headers={"Content-Type": content_type})

    def test_mailgun(self):
        body = mailgun_body(mailgun_failed("jane@example.org", severity="temporary"))
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}):
            response = self.post("/webhooks/mailgun", body, "application/json")
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(response.json(), {"status": "ignored", "kind": None})
            response = self.post("/webhooks/mailgun", body, "application/json")
            self.assertEqual(response.status_code, 406, response.text)
            self.assertTrue(response.json()["detail"].startswith("signature.token:"))

    def test_ses(self):
        key, pem = make_signing_pair()
        with LocalSns(pem) as server:
            envelope = sns_notification(
                ses_bounce(["a@example.org"], bounce_type="Transient"),
                key,
                cert_url=server.url("/cert.pem"),
            )
            options = {"EMBOUX_SNS_ALLOWED_HOSTS": server.host, **TRUSTED_TOPIC_ENV}
            with patch.dict(os.environ, options):
                response = self.post("/webhooks/ses", json.dumps(envelope), "text/plain")
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.json()["status"], "ignored")
                envelope["Subject"] = "tampered"
                response = self.post("/webhooks/ses", json.dumps(envelope), "text/plain")
                self.assertEqual(response.status_code, 403, response.text)
            with (
                patch.dict(os.environ, {"EMBOUX_SES_SNS_TOPIC_ARNS": ""}),
                patch.dict(config._runtime_options, {"emboux_ses_sns_topic_arns": ""}),
                self.assertLogs(MODEL_LOGGER, "WARNING"),
            ):
                response = self.post("/webhooks/ses", json.dumps(envelope), "text/plain")
            self.assertEqual(response.status_code, 503, response.text)
            self.assertTrue(response.json()["detail"].startswith("TopicArn:"))
            self.assertEqual(server.requests, ["/cert.pem"])  # by the first delivery only
