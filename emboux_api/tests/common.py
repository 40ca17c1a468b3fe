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
        cls.Tenant = cls.env["emboux.tenant"]
        cls.Key = cls.env["emboux.api.key"]

    def setUp(self):
        super().setUp()
        self.client = self.enterContext(self._client())

    def _client(self, **kwargs):
        app = self.endpoint._get_app()
        self.endpoint._clear_fastapi_exception_handlers(app)
        # the test client replaces the app's overrides: keep the app's own
        # (customer API keys), then the test's
        kwargs["dependency_overrides"] = {
            **app.dependency_overrides,
            **kwargs.get("dependency_overrides", {}),
        }
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

    @classmethod
    def make_tenant(cls, ref, **quotas):
        """A tenant and a valid API key of it: ``(tenant, token)``."""
        tenant = cls.env["emboux.tenant"]._get_or_create(ref)
        if quotas:
            tenant.set_quotas(**quotas)
        _key, token = cls.env["emboux.api.key"].generate(tenant, f"{ref} key")
        return tenant, token


class TenancyCase(EmbouxApiCase):
    """Two tenants, acme (A) and globex (B), each with a domain, a mailbox,
    an alias and a key, plus the operator's own ``example.com``."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant_a, cls.token_a = cls.make_tenant("acme")
        cls.tenant_b, cls.token_b = cls.make_tenant("globex")
        cls.domain_a = cls.Domain.create({"name": "acme.test", "tenant_id": cls.tenant_a.id})
        cls.domain_b = cls.Domain.create({"name": "globex.test", "tenant_id": cls.tenant_b.id})
        cls.own = cls.Domain.create({"name": "example.com"})
        cls.mailbox_a = cls.Mailbox.create({"email": "ann@acme.test", "password": "correct horse"})
        cls.mailbox_b = cls.Mailbox.create(
            {"email": "bob@globex.test", "password": "correct horse"}
        )
        cls.alias_a = cls.Alias.create({"source": "info@acme.test", "destination": "ann@acme.test"})
        cls.alias_b = cls.Alias.create(
            {"source": "info@globex.test", "destination": "bob@globex.test"}
        )

    def snapshot(self):
        """Everything a request could change, to prove it changed nothing."""
        self.env.flush_all()
        self.env.invalidate_all()
        Domain = self.Domain.with_context(active_test=False)
        return {
            "domains": [
                (d.name, d.status, d.tenant_id.partner_ref, d.retention_days, d.parent_id.name)
                for d in Domain.search([], order="name")
            ],
            "mailboxes": [
                (m.email, m.name, m.active, m.quota_mb, m.password_hash)
                for m in self.Mailbox.with_context(active_test=False).search([], order="email")
            ],
            "aliases": [
                (a.source, a.destination)
                for a in self.Alias.search([], order="source, destination")
            ],
            "tenants": [
                (t.partner_ref, t.domains_used, t.max_domains)
                for t in self.Tenant.search([], order="partner_ref")
            ],
            "keys": [
                (k.name, k.revoked_at)
                for k in self.Key.with_context(active_test=False).search([], order="id")
            ],
        }
