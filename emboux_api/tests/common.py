import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.fastapi.tests.common import FastAPITransactionCase

MASTER_TOKEN = "h3-test-master-token"


@tagged("post_install", "-at_install")
class EmbouxApiCase(FastAPITransactionCase):
    """Drives the real Emboux app (its routers, dependencies and route
    class) as the endpoint's technical user, with Odoo's error handling:
    FastAPI's own exception handlers are stripped as in production."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint = cls.env.ref("emboux_api.endpoint_emboux_api")
        cls.api_user = cls.endpoint.user_id
        cls.default_fastapi_running_user = cls.api_user
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": MASTER_TOKEN}))
        cls.Domain = cls.env["emboux.domain"]
        cls.Mailbox = cls.env["emboux.mailbox"]
        cls.Alias = cls.env["emboux.alias"]

    def setUp(self):
        super().setUp()
        self.client = self.enterContext(self._client())

    def _client(self, **kwargs):
        app = self.endpoint._get_app()
        self.endpoint._clear_fastapi_exception_handlers(app)
        return self._create_test_client(app=app, raise_server_exceptions=False, **kwargs)

    def api(self, method, path, token=MASTER_TOKEN, headers=None, **kwargs):
        headers = dict(headers or {})
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def assertStatus(self, response, code, detail=None):
        self.assertEqual(
            response.status_code,
            code,
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text}",
        )
        if detail is not None:
            self.assertEqual(response.json(), {"detail": detail})
        return response.json() if response.content else None

    def assertDetailNames(self, response, code, field):
        """An error whose detail names ``field``: our string, or FastAPI's
        list of errors with ``field`` in a ``loc``."""
        body = self.assertStatus(response, code)
        detail = body["detail"]
        if isinstance(detail, list):
            self.assertIn(field, [part for err in detail for part in err["loc"]], detail)
        else:
            self.assertTrue(detail.startswith(f"{field}:"), detail)
        return detail

    def make_domain(self, name="example.com"):
        return self.Domain.create({"name": name})

    def make_mailbox(self, email="jane@example.com", **vals):
        return self.Mailbox.create({"email": email, "password": "correct horse", **vals})
