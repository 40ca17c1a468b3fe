"""Bad input found by probing the API from outside, as a REST client: each
answer is a 4xx naming what is wrong, never a 5xx or a silent coercion."""

import hashlib
import hmac
import json
import os
import time
from unittest.mock import patch

from odoo.tests import tagged

from .common import EmbouxApiCase

DEEP = "[" * 3000 + "]" * 3000


@tagged("post_install", "-at_install")
class TestBadInput(EmbouxApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = cls.Domain.create({"name": "strict.test"})

    def post_raw(self, path, text, token="master"):
        headers = {"Content-Type": "application/json"}
        kwargs = {} if token == "master" else {"token": token}
        return self.api("POST", path, content=text.encode(), headers=headers, **kwargs)

    def test_counts_and_flags_are_not_coerced(self):
        base = {"email": "x@strict.test", "password": "correct horse battery"}
        for extra, field in (
            ({"quota_mb": True}, "quota_mb"),
            ({"quota_mb": "12"}, "quota_mb"),
            ({"quota_mb": 12.0}, "quota_mb"),
            ({"catch_all": "yes"}, "catch_all"),
        ):
            response = self.api("POST", "/users/", json={**base, **extra})
            body = self.assertStatus(response, 422)
            self.assertEqual(body["detail"][0]["loc"][-1], field, body)
        self.assertFalse(self.Mailbox.search([("email", "=", "x@strict.test")]))
        tenant = self.Tenant._get_or_create("strict")
        response = self.api("PUT", f"/tenants/{tenant.partner_ref}", json={"max_domains": False})
        self.assertStatus(response, 422)
        response = self.api("PUT", "/domains/strict.test/retention", json={"retention_days": True})
        self.assertStatus(response, 422)
        # a plain whole number is fine
        self.assertStatus(self.api("POST", "/users/", json={**base, "quota_mb": 12}), 201)

    def test_absurdly_nested_json_is_422(self):
        body = '{"email": "deep@strict.test", "password": "0123456789", "name": ' + DEEP + "}"
        response = self.post_raw("/users/", body)
        answer = self.assertStatus(response, 422)
        self.assertEqual(answer["detail"][0]["type"], "json_invalid")

    def test_webhooks_refuse_nested_and_malformed_bodies(self):
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": ""}):
            # malformed is malformed (406), even before a signing key is set
            response = self.post_raw("/webhooks/mailgun", "garbage", token=None)
            self.assertEqual(response.status_code, 406, response.text)
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": "key-strict"}):
            response = self.post_raw("/webhooks/mailgun", '{"a": ' + DEEP + "}", token=None)
            self.assertEqual(response.status_code, 406, response.text)
        response = self.post_raw("/webhooks/ses", '{"a": ' + DEEP + "}", token=None)
        self.assertEqual(response.status_code, 422, response.text)

    def test_nul_in_a_query_parameter_is_422(self):
        response = self.api("GET", "/api-keys/", params={"partner_ref": "a\x00b"})
        body = self.assertStatus(response, 422)
        self.assertEqual(body["detail"][0]["loc"], ["query", "partner_ref"])

    def test_parent_names_the_field(self):
        response = self.api("PUT", "/domains/strict.test/parent", json={"parent": "bad..name"})
        body = self.assertStatus(response, 422)
        self.assertTrue(body["detail"].startswith("parent: "), body)

    def test_numeric_top_level_label_is_no_domain(self):
        for name in ("1.2.3.4", "a.123"):
            body = self.assertStatus(self.api("POST", "/domains/", json={"name": name}), 422)
            self.assertTrue(body["detail"].startswith("name: "), body)
        self.assertStatus(self.api("POST", "/domains/", json={"name": "123.example"}), 201)

    def test_docs_answer_with_a_trailing_slash(self):
        for path in ("/openapi.json", "/docs"):
            plain = self.client.get(path)
            slashed = self.client.get(path + "/", follow_redirects=False)
            self.assertEqual(plain.status_code, 200, path)
            self.assertEqual(slashed.status_code, 200, path + "/")
            self.assertEqual(slashed.content, plain.content)
        self.assertIn("paths", json.loads(self.client.get("/openapi.json/").content))

    def test_unknown_alias_source_is_404(self):
        self.assertStatus(self.api("DELETE", "/aliases/nonsense"), 404, "Alias not found")

    def test_spike_multiplier_and_expiry_are_not_coerced(self):
        for value in ("5", True, "NaN"):
            response = self.api(
                "PUT", "/domains/strict.test/outbound", json={"spike_max_multiplier": value}
            )
            self.assertStatus(response, 422)
        body = {"partner_ref": "strict-keys", "name": "k"}
        for value in (2000000000, "2000000000"):
            response = self.api("POST", "/api-keys/", json={**body, "expires_at": value})
            self.assertStatus(response, 422)
        response = self.api(
            "POST", "/api-keys/", json={**body, "expires_at": "2099-01-31T12:00:00Z"}
        )
        self.assertEqual(self.assertStatus(response, 201)["expires_at"], "2099-01-31T12:00:00Z")

    def test_mailgun_webhook_refuses_nul_and_shapeless_bodies(self):
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": ""}):
            # a well-formed delivery waits for the key (503: Mailgun retries);
            # a shapeless one is refused at once, key or not
            for text in ("{}", '{"signature": null, "event-data": null}'):
                response = self.post_raw("/webhooks/mailgun", text, token=None)
                self.assertEqual(response.status_code, 406, text)
        # correctly signed, with a NUL in a field PostgreSQL would be given
        key, timestamp, token = "key-strict", str(int(time.time())), "nul-token"
        digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
        text = json.dumps(
            {
                "signature": {"timestamp": timestamp, "token": token, "signature": digest},
                "event-data": {"event": "failed", "severity": "permanent", "id": "\x00"},
            }
        )
        self.assertIn("\\u0000", text)
        with patch.dict(os.environ, {"MAILGUN_WEBHOOK_SIGNING_KEY": key}):
            response = self.post_raw("/webhooks/mailgun", text, token=None)
        self.assertEqual(response.status_code, 406, response.text)
        self.assertIn("NUL", response.json()["detail"])
        response = self.post_raw(
            "/webhooks/ses", '{"Type": "Notification", "x": "a\\u0000"}', token=None
        )
        self.assertEqual(response.status_code, 422, response.text)
