import json
import os
from unittest.mock import patch

from odoo.tests import HttpCase, tagged
from odoo.tools import config

from .sending_common import SendingCase

MASTER_TOKEN = "policy-test-master-token"
POLICY_TOKEN = "policy-test-policy-token"


def policy_request(state, sender="alice@acme.test", **attrs):
    """A request as Postfix's smtpd sends it (strings only)."""
    request = {
        "request": "smtpd_access_policy",
        "protocol_state": state,
        "protocol_name": "ESMTP",
        "client_address": "192.0.2.10",
        "sender": sender,
        "instance": "1a2b.5f3c.1",
        "sasl_username": "alice@acme.test",
    }
    request.update({key: str(value) for key, value in attrs.items()})
    return request


@tagged("post_install", "-at_install")
class TestPolicyActions(SendingCase):
    """Postfix policy requests turned into actions by the send decision."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Policy = cls.env["emboux.outbound.policy"]

    def action(self, state, **attrs):
        return self.Policy._postfix_action(policy_request(state, **attrs))

    def test_end_of_message_counts_each_recipient_and_size(self):
        action = self.action("END-OF-MESSAGE", recipient_count=3, size=2_500_000, recipient="")
        self.assertEqual(action, "DUNNO")
        counters = self.counters()
        self.assertEqual(counters["sent_today"], 3)
        self.assertEqual(counters["transfer_bytes"], 2_500_000)

    def test_daily_limit_defers_and_counts_nothing(self):
        self.set_counters(sent_today=99, sent_this_month=99)
        self.assertEqual(self.action("END-OF-MESSAGE", recipient_count=1), "DUNNO")
        action = self.action("END-OF-MESSAGE", recipient_count=1)
        self.assertTrue(action.startswith("451 4.7.1 "), action)
        self.assertIn("acme.test", action)
        self.assertEqual(self.counters()["sent_today"], 100)

    def test_domain_that_may_not_send_is_refused_permanently(self):
        self.domain_a.action_outbound_pause()
        action = self.action("END-OF-MESSAGE", recipient_count=1)
        self.assertTrue(action.startswith("554 5.7.1 "), action)
        self.assertIn("paused", action)
        self.domain_a.action_outbound_resume()
        self.domain_b._set_verification("pending")
        action = self.action("END-OF-MESSAGE", sender="bob@globex.test", recipient_count=1)
        self.assertTrue(action.startswith("554 5.7.1 "), action)
        self.assertIn("not verified", action)

    def test_suppressed_recipient_refused_at_rcpt_alone(self):
        self.Suppression.create({"email": "gone@example.org", "reason": "bounce"})
        action = self.action("RCPT", recipient="Gone@Example.org")
        self.assertEqual(
            action, "550 5.7.1 <gone@example.org>: recipient is on the suppression list"
        )
        self.assertEqual(self.action("RCPT", recipient="here@example.org"), "DUNNO")
        # the RCPT stage never counts
        self.assertEqual((self.counters() or {}).get("sent_today", 0), 0)

    def test_sender_not_hosted_or_null_or_other_states(self):
        action = self.action("END-OF-MESSAGE", sender="eve@elsewhere.example")
        self.assertEqual(
            action, "554 5.7.1 Sender address rejected: elsewhere.example is not hosted here"
        )
        self.assertEqual(self.action("END-OF-MESSAGE", sender=""), "DUNNO")
        self.assertEqual(self.action("MAIL"), "DUNNO")
        self.assertEqual(self.action("CONNECT"), "DUNNO")
        self.assertEqual(self.Policy._postfix_action({"request": "junk"}), "DUNNO")
        self.assertEqual(self.Policy._postfix_action(["not", "a", "dict"]), "DUNNO")

    def test_null_sender_counts_against_the_login(self):
        """MAIL FROM:<> (a read receipt) from an authenticated client is
        counted on its login's domain, and refused over its limits: <> is
        no way around them. Without a login: no opinion."""
        action = self.action("END-OF-MESSAGE", sender="", recipient_count=2, size=10)
        self.assertEqual(action, "DUNNO")
        self.assertEqual(self.counters()["sent_today"], 2)
        self.set_counters(sent_today=100)
        action = self.action("END-OF-MESSAGE", sender="", recipient_count=1)
        self.assertTrue(action.startswith("451 4.7.1 "), action)
        self.assertEqual(
            self.action("END-OF-MESSAGE", sender="", sasl_username="", recipient_count=1), "DUNNO"
        )
        self.assertEqual(self.counters()["sent_today"], 100)

    def test_malformed_numbers_count_one_message(self):
        self.assertEqual(self.action("END-OF-MESSAGE", recipient_count="many", size="-4"), "DUNNO")
        self.assertEqual(self.counters()["sent_today"], 1)
        self.assertEqual(self.counters()["transfer_bytes"], 0)


@tagged("post_install", "-at_install")
class TestPolicyRoute(SendingCase, HttpCase):
    """``POST /emboux/policy`` over HTTP, as the policy daemon calls it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(
            patch.dict(
                os.environ,
                {"EMBOUX_MASTER_TOKEN": MASTER_TOKEN, "EMBOUX_POLICY_TOKEN": POLICY_TOKEN},
            )
        )

    def post(self, body, token=POLICY_TOKEN):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.url_open("/emboux/policy", data=data, headers=headers)

    def test_answers_the_action(self):
        self.set_counters(sent_today=100, sent_this_month=100)
        response = self.post(policy_request("END-OF-MESSAGE", recipient_count="1"))
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.json()["action"].startswith("451 4.7.1 daily"))

    def test_policy_token_required(self):
        # the master token too: a mail host never needs it
        for token in (None, "", "wrong", self.token_a, MASTER_TOKEN, POLICY_TOKEN + "x"):
            response = self.post(policy_request("END-OF-MESSAGE"), token=token)
            self.assertEqual(response.status_code, 401, token)
            self.assertEqual(response.json(), {"error": "Not authenticated"})
        self.assertEqual((self.counters() or {}).get("sent_today", 0), 0)

    def test_bad_body_is_400_and_names_it(self):
        for body in ("not json", json.dumps([1, 2]), json.dumps({"sender": 5})):
            response = self.post(body)
            self.assertEqual(response.status_code, 400, body)
            self.assertTrue(response.json()["error"].startswith("body: "))

    def test_no_policy_token_configured_means_closed(self):
        with (
            patch.dict(os.environ, {"EMBOUX_POLICY_TOKEN": ""}),
            patch.dict(config._runtime_options, {"emboux_policy_token": ""}),
        ):
            for token in (POLICY_TOKEN, MASTER_TOKEN):
                response = self.post(policy_request("END-OF-MESSAGE"), token=token)
                self.assertEqual(response.status_code, 401)

    def test_policy_token_from_odoo_conf_environment_wins(self):
        with (
            patch.dict(os.environ, {"EMBOUX_POLICY_TOKEN": ""}),
            patch.dict(config._runtime_options, {"emboux_policy_token": "from-odoo-conf"}),
        ):
            response = self.post(policy_request("END-OF-MESSAGE"), token="from-odoo-conf")
            self.assertEqual(response.status_code, 200)
        with patch.dict(config._runtime_options, {"emboux_policy_token": "from-odoo-conf"}):
            response = self.post(policy_request("END-OF-MESSAGE"), token="from-odoo-conf")
            self.assertEqual(response.status_code, 401)
            response = self.post(policy_request("END-OF-MESSAGE"))
            self.assertEqual(response.status_code, 200)
