"""No secret in a log or an answer: API tokens in a URL path are cut to
their prefix in Odoo's request log (and any other log line), error answers
never echo a token, and the policy token of the mail hosts opens nothing of
the REST API."""

import logging
import os
import sys
from unittest.mock import patch
import uuid

from odoo.tests import HttpCase, tagged

from odoo.addons.emboux_core.tests.common import all_logs_with_sql
from odoo.addons.emboux_core.tools import is_master_token, is_policy_token

from ..logging_filter import ELLIPSIS, TOKEN_RE, TokenLogFilter, redact_tokens
from .common import MASTER_TOKEN, TenancyCase

POLICY_TOKEN = "h3-test-policy-token"
# make test's marker secret (searched for in the whole log at the end)
SECRET = os.environ.get("EMBOUX_TEST_SECRET") or "marker-" + uuid.uuid4().hex
FULL_TOKEN_RE = r"emb_[A-Za-z0-9_-]{43}"


@tagged("post_install", "-at_install")
class TestTokenRedaction(HttpCase):
    """Through Odoo's real HTTP server: its request log (logger
    ``werkzeug``) shows a token of the path as its prefix only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": MASTER_TOKEN}))
        tenant = cls.env["emboux.tenant"]._get_or_create("redact")
        cls.key, cls.token = cls.env["emboux.api.key"].generate(tenant, "redact key")
        cls.prefix = cls.env.ref("emboux_api.endpoint_emboux_api").root_path

    def get(self, path, token=MASTER_TOKEN):
        return self.url_open(
            f"{self.prefix}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def assertNoToken(self, text, *tokens):
        for token in tokens:
            self.assertNotIn(token, text)
        self.assertNotRegex(text, FULL_TOKEN_RE)

    def test_request_log_shows_the_prefix(self):
        unknown = "emb_" + "A" * 43
        # logging.INFO, not "INFO": Odoo names its level 25 "INFO" too
        with self.assertLogs("werkzeug", logging.INFO) as logs:
            ok = self.get(f"/api-keys/{self.token}/usage")
            missing = self.get(f"/api-keys/{unknown}/usage")
            # a customer asking with its own token, in the header and the path
            own = self.get(f"/api-keys/{self.token}/usage", token=self.token)
        self.assertEqual(ok.status_code, 200, ok.text)
        self.assertEqual(own.status_code, 200, own.text)
        self.assertEqual(missing.status_code, 404)
        # the error answer does not echo the token either
        self.assertNoToken(missing.text, unknown)
        text = "\n".join(logs.output)
        self.assertIn(f"{self.token[:12]}{ELLIPSIS}/usage", text)
        self.assertIn(f"{unknown[:12]}{ELLIPSIS}/usage", text)
        self.assertNoToken(text, self.token, unknown)
        self.assertEqual(self.key.prefix, self.token[:12])  # what the log shows

    def test_every_log_line_through_odoos_handlers(self):
        """Another logger (odoo.http, the fastapi addon, our routes) logging
        a path: Odoo's handlers cut the token too."""
        handlers = logging.getLogger().handlers
        self.assertTrue(handlers)
        for handler in handlers:
            self.assertTrue(any(isinstance(f, TokenLogFilter) for f in handler.filters), handler)
            record = logging.LogRecord(
                "odoo.http",
                logging.ERROR,
                __file__,
                1,
                "GET %s failed: %s",
                (f"/api/api-keys/{self.token}/usage", ValueError(self.token)),
                None,
            )
            self.assertTrue(handler.filter(record))
            self.assertNoToken(record.getMessage(), self.token)
            self.assertIn(self.token[:12] + ELLIPSIS, record.getMessage())

    def test_exception_text_is_cut(self):
        try:
            raise ValueError(f"bad path /api/api-keys/{self.token}/usage")
        except ValueError:
            record = logging.getLogger("odoo.http").makeRecord(
                "odoo.http", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
            )
        TokenLogFilter().filter(record)
        self.assertNoToken(logging.Formatter().format(record), self.token)

    def test_redact(self):
        self.assertEqual(redact_tokens("no token here"), "no token here")
        self.assertEqual(
            redact_tokens(f"GET /api/api-keys/{self.token}/usage?since=x"),
            f"GET /api/api-keys/{self.token[:12]}{ELLIPSIS}/usage?since=x",
        )
        self.assertFalse(TOKEN_RE.search(redact_tokens(self.token)))


@tagged("post_install", "-at_install")
class TestPolicyTokenOnApi(TenancyCase):
    """The mail hosts' policy token is no API credential (and the master
    token is no policy token)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_POLICY_TOKEN": POLICY_TOKEN}))

    def test_policy_token_is_401_on_every_api_route(self):
        self.assertTrue(is_policy_token(POLICY_TOKEN))
        self.assertFalse(is_master_token(POLICY_TOKEN))
        self.assertFalse(is_policy_token(MASTER_TOKEN))
        routes = [
            ("GET", "/domains/"),
            ("POST", "/domains/"),
            ("GET", "/domains/acme.test"),
            ("GET", "/users/"),
            ("GET", "/aliases/"),
            ("POST", "/outbound/reset-daily"),
            ("POST", "/domains/acme.test/outbound/increment"),
            ("GET", f"/api-keys/{self.token_a}/usage"),
            ("POST", "/api-keys/"),
        ]
        for headers in ({"Authorization": f"Bearer {POLICY_TOKEN}"}, {"X-API-Key": POLICY_TOKEN}):
            for method, path in routes:
                with self.subTest(method=method, path=path, header=next(iter(headers))):
                    response = self.api(
                        method, path, token=None, headers=headers, json={"name": "p.test"}
                    )
                    self.assertStatus(response, 401, "Not authenticated")
                    self.assertNotIn(POLICY_TOKEN, response.text)

    def test_errors_never_echo_a_token(self):
        for token in (self.token_a, "emb_" + "B" * 43):
            for method, path in (
                ("GET", f"/api-keys/{token}/usage"),
                ("GET", f"/api-keys/{token}/usage?since=not-a-date"),
            ):
                with self.subTest(path=path[:20]):
                    for caller in (MASTER_TOKEN, self.token_b, "wrong-caller-token"):
                        response = self.api(method, path, token=caller)
                        self.assertNotIn(token, response.text)
                        self.assertNotIn(caller, response.text)

    def test_mailbox_password_never_answered_nor_logged(self):
        """A mailbox password sent to the API: in no answer (even a 422 on
        the rest of the body) and in no log line, at DEBUG SQL too."""
        bodies = [
            ("POST", "/users/", {"email": "marker@acme.test", "password": SECRET}),
            ("POST", "/users/", {"password": SECRET}),  # 422: email missing
            ("POST", "/users/", {"email": "not an address", "password": SECRET}),
            ("PUT", "/users/marker@acme.test", {"password": SECRET + "2"}),
            ("PUT", "/users/marker@acme.test", {"password": SECRET, "active": "maybe"}),
        ]
        with all_logs_with_sql() as lines:
            answers = [self.api(method, path, json=body) for method, path, body in bodies]
        self.assertEqual(answers[0].status_code, 201, answers[0].text)
        self.assertEqual(answers[1].status_code, 422)
        for answer in answers:
            self.assertNotIn(SECRET, answer.text)
        self.assertTrue(any("emboux_mailbox" in line for line in lines))  # SQL was logged
        self.assertNotIn(SECRET, "\n".join(lines))
