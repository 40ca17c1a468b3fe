import os
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import config

from ..dependencies import (
    ROLE_CUSTOMER,
    Caller,
    authenticated_caller_impl,
    is_master_token,
)
from .common import MASTER_TOKEN, EmbouxApiCase
from .test_openapi import MASTER


def _sample_path(path):
    return (
        path.replace("{name}", "example.com")
        .replace("{email}", "jane@example.com")
        .replace("{source}", "info@example.com")
        .replace("{key_id}", "1")
        .replace("{partner_ref}", "acme")
        .replace("{token}", "emb_unknown")
    )


@tagged("post_install", "-at_install")
class TestAuth(EmbouxApiCase):
    def _master_operations(self):
        schema = self.api("GET", "/openapi.json", token=None).json()
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                if operation.get("x-required-role") == "master":
                    yield method.upper(), _sample_path(path)

    def test_every_master_route_refuses_no_and_unknown_tokens(self):
        self.make_domain()
        operations = list(self._master_operations())
        self.assertEqual(len(operations), len(MASTER))
        for method, path in operations:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"X-API-Key": "wrong"},
                {"Authorization": f"Basic {MASTER_TOKEN}"},
                {"Authorization": "Bearer"},
                {"Authorization": f"Bearer {MASTER_TOKEN}x"},
                {"X-API-Key": ""},
            ):
                with self.subTest(method=method, path=path, headers=headers):
                    response = self.api(method, path, token=None, headers=headers, json={})
                    self.assertStatus(response, 401, "Not authenticated")
        # nothing was touched
        self.assertEqual(self.Domain.search([]).mapped("name"), ["example.com"])
        self.assertEqual(self.Domain.search([]).status, "active")

    def test_bearer_and_x_api_key(self):
        self.make_domain()
        for headers in (
            {"Authorization": f"Bearer {MASTER_TOKEN}"},
            {"Authorization": f"bearer {MASTER_TOKEN}"},
            {"X-API-Key": MASTER_TOKEN},
            {"x-api-key": MASTER_TOKEN},
        ):
            with self.subTest(headers=headers):
                response = self.api("GET", "/domains/", token=None, headers=headers)
                self.assertEqual(self.assertStatus(response, 200)[0]["name"], "example.com")

    def test_token_read_at_request_time(self):
        self.assertStatus(self.api("GET", "/domains/"), 200)
        with patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": "rotated"}):
            self.assertStatus(self.api("GET", "/domains/"), 401, "Not authenticated")
            self.assertStatus(self.api("GET", "/domains/", token="rotated"), 200)

    def test_config_file_token_and_env_precedence(self):
        with (
            patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": ""}),
            patch.dict(config._runtime_options, {"emboux_master_token": "from-odoo-conf"}),
        ):
            self.assertStatus(self.api("GET", "/domains/", token="from-odoo-conf"), 200)
            self.assertStatus(self.api("GET", "/domains/"), 401, "Not authenticated")
        with patch.dict(config._runtime_options, {"emboux_master_token": "from-odoo-conf"}):
            # the environment variable wins
            self.assertStatus(self.api("GET", "/domains/", token="from-odoo-conf"), 401)
            self.assertStatus(self.api("GET", "/domains/"), 200)

    def test_no_master_token_configured_means_no_master(self):
        with (
            patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": ""}),
            patch.dict(config._runtime_options, {"emboux_master_token": ""}),
        ):
            for token in ("", "None", "False"):
                response = self.api("GET", "/domains/", token=None, headers={"X-API-Key": token})
                self.assertStatus(response, 401, "Not authenticated")

    def test_is_master_token_constant_time_and_unicode_safe(self):
        with patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": "clé-maître"}):
            self.assertTrue(is_master_token("clé-maître"))
            self.assertFalse(is_master_token("cle-maitre"))
            self.assertFalse(is_master_token("Ω"))
            self.assertFalse(is_master_token(None))

    def test_public_routes(self):
        body = self.assertStatus(self.api("GET", "/health", token=None), 200)
        self.assertEqual(set(body), {"status", "database", "version"})
        self.assertEqual((body["status"], body["database"]), ("ok", "ok"))
        self.assertEqual(body["version"], "19.0.1.0.0")
        # a wrong token does not matter on a public route
        self.assertStatus(self.api("GET", "/health/", token="wrong"), 200)
        self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)
        docs = self.api("GET", "/docs", token=None)
        self.assertEqual(docs.status_code, 200)
        self.assertIn("swagger", docs.text.lower())

    def test_customer_seam(self):
        """A test (or another app) may override authenticated_caller_impl.
        A customer caller gets exactly 403 "Master token required" on a
        master-only route, never the data."""
        self.make_domain()

        def customer_caller():
            return Caller(role=ROLE_CUSTOMER, env=self.env(user=self.api_user))

        with self._client(dependency_overrides={authenticated_caller_impl: customer_caller}) as c:
            self.client = c
            for method, path in self._master_operations():
                with self.subTest(method=method, path=path):
                    response = self.api(method, path, token=None, json={})
                    self.assertStatus(response, 403, "Master token required")
        self.assertEqual(self.Domain.search([]).status, "active")
