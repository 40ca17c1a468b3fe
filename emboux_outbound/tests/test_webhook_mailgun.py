import json
import os
import time
from unittest.mock import patch
import uuid

from odoo import SUPERUSER_ID
from odoo.tests import TransactionCase, tagged

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tests.concurrency import race

from ..webhooks import WebhookNotConfiguredError, WebhookSignatureError, mailgun, max_age
from .webhook_fixtures import (
    MAILGUN_KEY,
    mailgun_body,
    mailgun_complained,
    mailgun_failed,
)


@tagged("post_install", "-at_install")
class TestMailgunSignature(TransactionCase):
    """``webhooks.mailgun.verify_signature``: real HMACs."""

    def payload(self, **kwargs):
        return json.loads(mailgun_body({"event": "delivered"}, **kwargs))

    def assertRefused(self, payload, field, key=MAILGUN_KEY, **kwargs):
        with self.assertRaises(WebhookSignatureError) as caught:
            mailgun.verify_signature(payload, key, **kwargs)
        self.assertEqual(caught.exception.field, field)

    def test_valid(self):
        payload = self.payload(token="a" * 50, timestamp=int(time.time()))
        parts = mailgun.verify_signature(payload, MAILGUN_KEY)
        self.assertEqual(parts["token"], "a" * 50)

    def test_known_vector(self):
        # echo -n 1529006854token | openssl dgst -sha256 -hmac key
        self.assertEqual(
            mailgun.sign("key", "1529006854", "token"),
            "736e24a9d0b12513e86c360464b8d360b45f374bb1177ed4832c8ca52bfaf1a3",
        )

    def test_wrong_key_or_tampered(self):
        self.assertRefused(self.payload(key="another-key"), "signature.signature")
        payload = self.payload()
        payload["signature"]["token"] += "x"
        self.assertRefused(payload, "signature.signature")
        payload = self.payload()
        payload["signature"]["signature"] = payload["signature"]["signature"].upper()
        self.assertRefused(payload, "signature.signature")

    def test_missing_parts(self):
        self.assertRefused({"event-data": {}}, "signature")
        self.assertRefused({"signature": "abc"}, "signature")
        for name in ("timestamp", "token", "signature"):
            payload = self.payload()
            del payload["signature"][name]
            self.assertRefused(payload, f"signature.{name}")
        payload = self.payload()
        payload["signature"]["token"] = 12
        self.assertRefused(payload, "signature.token")

    def test_numeric_timestamp(self):
        now = int(time.time())
        payload = self.payload(timestamp=now)
        payload["signature"]["timestamp"] = now
        self.assertEqual(mailgun.verify_signature(payload, MAILGUN_KEY)["timestamp"], str(now))

    def test_age(self):
        now = time.time()
        old = self.payload(timestamp=int(now) - 3600 * 23)
        mailgun.verify_signature(old, MAILGUN_KEY, now=now, max_age=86400)
        stale = self.payload(timestamp=int(now) - 86401)
        self.assertRefused(stale, "signature.timestamp", now=now, max_age=86400)
        future = self.payload(timestamp=int(now) + 3600)
        self.assertRefused(future, "signature.timestamp", now=now)
        skewed = self.payload(timestamp=int(now) + 60)
        mailgun.verify_signature(skewed, MAILGUN_KEY, now=now)
        # signed, but not a time
        self.assertRefused(self.payload(timestamp="yesterday"), "signature.timestamp")

    def test_max_age_option(self):
        for value, expected in (("3600", 3600), ("5", 60), ("", 86400)):
            with patch.dict(os.environ, {"EMBOUX_WEBHOOK_MAX_AGE": value}):
                self.assertEqual(max_age(), expected, value)
        with (
            patch.dict(os.environ, {"EMBOUX_WEBHOOK_MAX_AGE": "soon"}),
            self.assertLogs("odoo.addons.emboux_outbound.webhooks", "WARNING"),
        ):
            self.assertEqual(max_age(), 86400)


@tagged("post_install", "-at_install")
class TestMailgunEvents(TransactionCase):
    """``webhooks.mailgun.parse_event``."""

    def test_permanent_failure_is_a_bounce(self):
        data = mailgun_failed("Jane@Example.org", domain="acme.test")
        event = mailgun.parse_event(data)
        self.assertEqual(event.kind, "bounce")
        self.assertEqual(event.recipients, ["Jane@Example.org"])
        self.assertEqual(event.domain_name, "acme.test")
        self.assertEqual(event.event_id, data["id"])
        self.assertEqual(event.event_type, "failed/permanent")

    def test_complaint(self):
        event = mailgun.parse_event(mailgun_complained("bob@example.org", domain="Acme.Test"))
        self.assertEqual((event.kind, event.recipients), ("complaint", ["bob@example.org"]))
        self.assertEqual(event.domain_name, "acme.test")

    def test_ignored(self):
        for data in (
            mailgun_failed("jane@example.org", severity="temporary"),
            {"event": "delivered", "recipient": "jane@example.org"},
            {"event": "opened"},
            {"event": "failed"},  # no severity
        ):
            event = mailgun.parse_event(data)
            self.assertIsNone(event.kind, data)
            self.assertEqual(event.recipients, [])

    def test_domain_from_the_sender(self):
        data = mailgun_failed("jane@example.org")
        del data["domain"]
        self.assertEqual(mailgun.parse_event(data).domain_name, "acme.test")
        data = mailgun_complained("jane@example.org", domain="globex.test")
        del data["domain"]
        self.assertEqual(mailgun.parse_event(data).domain_name, "globex.test")
        data = {"event": "complained", "recipient": "jane@example.org"}
        self.assertIsNone(mailgun.parse_event(data).domain_name)

    def test_unknown_fields_tolerated(self):
        data = mailgun_failed("jane@example.org", **{"new-field": {"x": [1, 2]}, "tags": None})
        self.assertEqual(mailgun.parse_event(data).kind, "bounce")

    def test_malformed(self):
        cases = [
            (None, "event-data"),
            ([], "event-data"),
            ({"severity": "permanent"}, "event-data.event"),
            ({"event": "failed", "severity": "permanent"}, "event-data.recipient"),
            ({"event": "complained", "recipient": "not an address"}, "event-data.recipient"),
        ]
        for data, field in cases:
            with self.assertRaises(EmbouxInputError) as caught:
                mailgun.parse_event(data)
            self.assertEqual(caught.exception.field, field, data)


@tagged("post_install", "-at_install")
class TestMailgunWebhook(TransactionCase):
    """``emboux.webhook.event._receive_mailgun``: the signing key from the
    configuration, the replay table, the retention cron."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}))
        cls.Event = cls.env["emboux.webhook.event"]

    def receive(self, body):
        return self.Event._receive_mailgun(body)

    def test_not_configured(self):
        body = mailgun_body(mailgun_failed("jane@example.org", severity="temporary"))
        no_key = patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": ""})
        with no_key, self.assertRaises(WebhookNotConfiguredError):
            self.receive(body)
        self.assertFalse(self.Event.search([]))

    def test_ignored_event_is_acknowledged_and_recorded(self):
        body = mailgun_body(mailgun_failed("jane@example.org", severity="temporary"))
        self.assertEqual(self.receive(body), {"status": "ignored", "kind": None})
        token = json.loads(body)["signature"]["token"]
        delivery = self.Event.search([("key", "=", token)])
        self.assertEqual(
            (delivery.source, delivery.outcome, delivery.event_type),
            ("mailgun", "ignored", "failed/temporary"),
        )

    def test_bounce_and_complaint_suppress(self):
        domain = self.env["emboux.domain"].create({"name": "acme.test"})
        body = mailgun_body(mailgun_failed("Jane@Example.org", domain="ACME.test"))
        self.assertEqual(self.receive(body), {"status": "processed", "kind": "bounce"})
        self.receive(mailgun_body(mailgun_complained("bob@example.org", domain="acme.test")))
        Suppression = self.env["emboux.suppression"]
        rows = Suppression.search([("email", "in", ["jane@example.org", "bob@example.org"])])
        self.assertEqual(
            sorted((r.email, r.reason, r.source, r.domain_id) for r in rows),
            [
                ("bob@example.org", "complaint", "mailgun", domain),
                ("jane@example.org", "bounce", "mailgun", domain),
            ],
        )
        token = json.loads(body)["signature"]["token"]
        delivery = self.Event.search([("key", "=", token)])
        self.assertEqual(
            (delivery.outcome, delivery.recipient_count, delivery.domain_name),
            ("bounce", 1, "acme.test"),
        )

    def test_same_event_resent_counts_once(self):
        """Mailgun re-sends an event it thinks failed with a new signature:
        the token is new, the event id is not."""
        data = mailgun_failed("jane@example.org")
        self.receive(mailgun_body(data))
        self.receive(mailgun_body(data))
        events = self.env["emboux.outbound.event"].search([("event_id", "=", data["id"])])
        self.assertEqual(len(events), 1)
        self.assertEqual(self.Event.search_count([("outcome", "=", "bounce")]), 2)

    def test_replay_refused(self):
        body = mailgun_body({"event": "delivered", "recipient": "jane@example.org"})
        self.receive(body)
        with self.assertRaises(WebhookSignatureError) as caught:
            self.receive(body)
        self.assertEqual(caught.exception.field, "signature.token")
        # the same token signed again (a new timestamp) is a replay too
        token = json.loads(body)["signature"]["token"]
        again = mailgun_body({"event": "delivered"}, token=token, timestamp=int(time.time()) - 5)
        with self.assertRaises(WebhookSignatureError):
            self.receive(again)

    def test_bad_signature_leaves_no_trace(self):
        body = mailgun_body(mailgun_failed("jane@example.org"), key="not-the-key")
        with self.assertRaises(WebhookSignatureError):
            self.receive(body)
        self.assertFalse(self.Event.search([]))

    def test_malformed_body(self):
        for body, field in (
            (b"\xff\xfe", "body"),
            ("not json", "body"),
            ("[1, 2]", "body"),
            (mailgun_body(None), "event-data"),
        ):
            with self.assertRaises(EmbouxInputError) as caught:
                self.receive(body)
            self.assertEqual(caught.exception.field, field)

    def test_retention_cron(self):
        old = self.Event._claim("mailgun", "old-token")
        recent = self.Event._claim("mailgun", "recent-token")
        self.env.cr.execute(
            "UPDATE emboux_webhook_event SET received_at = received_at - interval '3 days'"
            " WHERE id = %s",
            [old.id],
        )
        self.assertEqual(self.Event._gc_webhook_events(), 1)
        self.assertEqual(self.Event.search([("key", "like", "%-token")]), recent)
        cron = self.env.ref("emboux_outbound.ir_cron_emboux_webhook_event_gc")
        self.assertEqual(cron.code, "model._gc_webhook_events()")

    def test_claim(self):
        first = self.Event._claim("mailgun", "tok-1")
        self.assertTrue(first)
        self.assertFalse(self.Event._claim("mailgun", "tok-1"))
        self.assertTrue(self.Event._claim("ses", "tok-1"))  # per provider
        with self.assertRaises(EmbouxInputError):
            self.Event._claim("mailgun", "")


@tagged("post_install", "-at_install")
class TestMailgunReplayRace(TransactionCase):
    """Two workers receive the same delivery at the same moment, each in
    its own transaction: it is processed once, the other is a replay."""

    def test_same_token_twice_at_once(self):
        email = f"race-{uuid.uuid4().hex[:8]}@example.org"
        data = mailgun_failed(email, domain="not-hosted.test")
        body = mailgun_body(data)
        token = json.loads(body)["signature"]["token"]

        def receive(env, _index):
            result = env["emboux.webhook.event"]._receive_mailgun(body)
            time.sleep(0.2)  # hold the claim while the other one tries
            return result

        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}):
            # the loser's claim fails to serialize and is retried, as Odoo
            # retries a request, then finds the token used
            outcomes, _retried = race(self.registry, SUPERUSER_ID, receive)
        results = [outcome[-1] for outcome in outcomes]
        try:
            processed = [r for r in results if isinstance(r, dict)]
            refused = [r for r in results if isinstance(r, WebhookSignatureError)]
            self.assertEqual(len(processed), 1, results)
            self.assertEqual(len(refused), 1, results)
            self.assertEqual(refused[0].field, "signature.token")
            self.assertEqual(processed, [{"status": "processed", "kind": "bounce"}])
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM emboux_webhook_event WHERE key = %s", [token])
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute("SELECT reason FROM emboux_suppression WHERE email = %s", [email])
                self.assertEqual(cr.fetchall(), [("bounce",)])
        finally:
            with self.registry.cursor() as cr:
                cr.execute("DELETE FROM emboux_webhook_event WHERE key = %s", [token])
                cr.execute("DELETE FROM emboux_suppression WHERE email = %s", [email])
                cr.execute(
                    "DELETE FROM emboux_outbound_event WHERE source = 'mailgun' AND event_id = %s",
                    [data["id"]],
                )
