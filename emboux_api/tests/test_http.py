import os
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

TOKEN = "h3-http-master-token"


@tagged("post_install", "-at_install")
class TestHttp(HttpCase):
    """Through Odoo's real HTTP stack on the test server: the endpoint
    shipped as data answers right after install (its registry was synced
    by the post-init hook), and errors keep the API contract's bodies once the OCA
    addon's dispatcher has handled them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"EMBOUX_MASTER_TOKEN": TOKEN}))
        cls.prefix = cls.env.ref("emboux_api.endpoint_emboux_api").root_path

    def _call(self, method, path, token=TOKEN, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.url_open(
            f"{self.prefix}{path}", method=method, headers=headers, allow_redirects=False, **kwargs
        )

    def test_health_after_install(self):
        for path in ("/health", "/health/"):
            response = self._call("GET", path, token=None)
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(response.json()["status"], "ok")
            self.assertEqual(response.json()["database"], "ok")
        self.assertEqual(self.prefix, "/api")  # the default of odoo.conf.example

    def test_docs_and_schema(self):
        schema = self._call("GET", "/openapi.json", token=None)
        self.assertEqual(schema.status_code, 200)
        self.assertEqual(schema.json()["info"]["title"], "Emboux API")
        docs = self._call("GET", "/docs", token=None)
        self.assertEqual(docs.status_code, 200)
        self.assertIn(f"{self.prefix}/openapi.json", docs.text)

    def test_errors_through_odoo(self):
        response = self._call("GET", "/domains/", token=None)
        self.assertEqual(
            (response.status_code, response.json()), (401, {"detail": "Not authenticated"})
        )
        self.assertEqual(response.headers["WWW-Authenticate"], "Bearer")
        response = self._call("GET", "/domains", token="wrong", headers={})
        self.assertEqual(
            (response.status_code, response.json()), (401, {"detail": "Not authenticated"})
        )
        response = self._call("POST", "/domains", json={"name": "Http.Example"})
        self.assertEqual(response.status_code, 201, response.text)
        response = self._call("POST", "/domains/", json={"name": "http.example"})
        self.assertEqual(
            (response.status_code, response.json()),
            (409, {"detail": "name: the domain 'http.example' already exists"}),
        )
        response = self._call("POST", "/domains/", json={"name": "not valid"})
        self.assertEqual(response.status_code, 422)
        self.assertTrue(response.json()["detail"].startswith("name:"))
        response = self._call("GET", "/domains/", headers={"X-API-Key": TOKEN}, token=None)
        self.assertEqual([d["name"] for d in response.json()], ["http.example"])
        response = self._call("GET", "/domains/unknown.example")
        self.assertEqual(
            (response.status_code, response.json()), (404, {"detail": "Domain not found"})
        )
        response = self._call("GET", "/no-such-route")
        self.assertEqual(response.status_code, 404)

    def test_one_pool_of_apps_per_endpoint_not_per_url(self):
        """Distinct URLs of the API share the endpoint's apps: the OCA
        addon's own dispatcher would build and keep one app per URL."""
        from odoo.addons.fastapi.pools import fastapi_app_pool

        for name in ("pool-a.test", "pool-b.test", "pool-c.test"):
            response = self._call("GET", f"/domains/{name}")
            self.assertEqual(response.status_code, 404, response.text)
        pools = fastapi_app_pool._queue_by_db_by_root_path[self.env.cr.dbname]
        self.assertIn(self.prefix, pools)
        self.assertFalse([key for key in pools if key.startswith(f"{self.prefix}/domains")])

    def test_other_endpoints_keep_the_addons_dispatch(self):
        """Another FastAPI app served by the same Odoo (the OCA addon's demo
        app here) is dispatched by the addon's own code: its pool is still
        keyed by URL, and its Accept-Language handling is the addon's."""
        from odoo.addons.fastapi.pools import fastapi_app_pool

        demo = self.env["fastapi.endpoint"].create(
            {
                "name": "Other app",
                "app": "demo",
                "root_path": "/emboux-other-app",
                "demo_auth_method": "http_basic",
                "user_id": self.env.ref("base.user_admin").id,
            }
        )
        demo._handle_registry_sync()
        for path in ("/demo", "/demo/lang"):
            response = self.url_open(f"/emboux-other-app{path}")
            self.assertEqual(response.status_code, 200, response.text)
        pools = fastapi_app_pool._queue_by_db_by_root_path[self.env.cr.dbname]
        self.assertIn("/emboux-other-app/demo/lang", pools)
