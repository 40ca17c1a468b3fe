import base64
import hashlib
import re

from odoo.tests import tagged

from .common import EmbouxApiCase

# every route the API serves (GET /health is P)
EXPECTED = {
    ("get", "/health"),
    ("post", "/domains/"),
    ("get", "/domains/"),
    ("get", "/domains/{name}"),
    ("delete", "/domains/{name}"),
    ("put", "/domains/{name}/suspend"),
    ("put", "/domains/{name}/activate"),
    ("get", "/domains/{name}/retention"),
    ("put", "/domains/{name}/retention"),
    ("post", "/domains/{name}/retention/purge"),
    ("get", "/domains/{name}/transfer"),
    ("put", "/domains/{name}/transfer"),
    ("post", "/users/"),
    ("get", "/users/"),
    ("get", "/users/{email}"),
    ("put", "/users/{email}"),
    ("delete", "/users/{email}"),
    ("get", "/users/{email}/quota"),
    ("put", "/users/{email}/quota"),
    ("post", "/aliases/"),
    ("get", "/aliases/"),
    ("delete", "/aliases/{source}"),
    ("put", "/domains/{name}/parent"),
    ("put", "/domains/{name}/owner"),
    ("post", "/api-keys/"),
    ("get", "/api-keys/"),
    ("delete", "/api-keys/{key_id}"),
    ("get", "/api-keys/{token}/usage"),
    ("get", "/tenants/{partner_ref}"),
    ("put", "/tenants/{partner_ref}"),
    # providers (emboux_outbound's provider layer)
    ("post", "/domains/{name}/verify"),
    ("get", "/domains/{name}/verify-status"),
    ("post", "/domains/{name}/ses-verify"),
    ("get", "/domains/{name}/ses-status"),
    ("post", "/domains/{name}/register-subdomain"),
    ("put", "/domains/{name}/provider"),
    # outbound sending control and the suppression list
    ("get", "/domains/{name}/outbound"),
    ("put", "/domains/{name}/outbound"),
    ("get", "/domains/{name}/outbound/history"),
    ("post", "/domains/{name}/outbound/increment"),
    ("post", "/outbound/reset-daily"),
    ("post", "/outbound/reset-monthly"),
    ("get", "/suppression"),
    ("get", "/suppression/check/{email}"),
    ("delete", "/suppression/{email}"),
    # DNS check and the providers' webhooks
    ("get", "/domains/{name}/dns-check"),
    ("post", "/webhooks/mailgun"),
    ("post", "/webhooks/ses"),
}

# role P of the API contract: no token
PUBLIC = {
    ("get", "/health"),
    ("post", "/webhooks/mailgun"),
    ("post", "/webhooks/ses"),
}

# role M of the API contract; every other operation but /health is C
MASTER = {
    ("put", "/domains/{name}/retention"),
    ("post", "/domains/{name}/retention/purge"),
    ("put", "/domains/{name}/provider"),
    ("put", "/domains/{name}/transfer"),
    ("put", "/domains/{name}/parent"),
    ("put", "/domains/{name}/owner"),
    ("post", "/api-keys/"),
    ("get", "/api-keys/"),
    ("delete", "/api-keys/{key_id}"),
    ("get", "/tenants/{partner_ref}"),
    ("put", "/tenants/{partner_ref}"),
    ("post", "/domains/{name}/ses-verify"),
    ("get", "/domains/{name}/ses-status"),
    ("post", "/domains/{name}/outbound/increment"),
    ("post", "/outbound/reset-daily"),
    ("post", "/outbound/reset-monthly"),
    ("get", "/suppression"),
    ("get", "/suppression/check/{email}"),
    ("delete", "/suppression/{email}"),
}


@tagged("post_install", "-at_install")
class TestOpenApi(EmbouxApiCase):
    def setUp(self):
        super().setUp()
        self.schema = self.assertStatus(self.api("GET", "/openapi.json", token=None), 200)

    def test_operations_are_api_md(self):
        operations = {
            (method, path) for path, item in self.schema["paths"].items() for method in item
        }
        # the slash-less twins answer but stay out of the schema
        self.assertEqual(operations, EXPECTED)

    def test_master_operations_carry_the_role(self):
        for path, item in self.schema["paths"].items():
            for method, operation in item.items():
                with self.subTest(method=method, path=path):
                    if (method, path) in PUBLIC:
                        self.assertNotIn("x-required-role", operation)
                        self.assertFalse(operation.get("security"))
                    else:
                        if (method, path) in MASTER:
                            self.assertEqual(operation["x-required-role"], "master")
                            self.assertIn("403", operation["responses"])
                        else:
                            self.assertNotIn("x-required-role", operation)
                        schemes = {name for req in operation["security"] for name in req}
                        self.assertEqual(schemes, {"Bearer", "X-API-Key"})
                        self.assertIn("401", operation["responses"])

    def test_info_and_security_schemes(self):
        self.assertEqual(self.schema["info"]["title"], "Emboux API")
        self.assertEqual(self.schema["info"]["version"], "19.0.1.0.0")
        schemes = self.schema["components"]["securitySchemes"]
        self.assertEqual(
            schemes["Bearer"], {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
        )
        self.assertEqual(schemes["X-API-Key"]["in"], "header")
        self.assertEqual(schemes["X-API-Key"]["name"], "X-API-Key")
        self.assertEqual(
            {tag["name"] for tag in self.schema["tags"]},
            {
                "health",
                "domains",
                "users",
                "aliases",
                "api-keys",
                "tenants",
                "providers",
                "outbound",
                "suppression",
                "webhooks",
            },
        )

    def test_objects(self):
        components = self.schema["components"]["schemas"]
        self.assertEqual(
            set(components["DomainOut"]["properties"]),
            {
                "name",
                "partner_ref",
                "status",
                "parent",
                "wildcard",
                "provider",
                "verification_status",
                "verified_via_parent",
                "mailbox_count",
                "alias_count",
                "retention_days",
                "created_at",
                "updated_at",
            },
        )
        self.assertEqual(
            set(components["MailboxOut"]["properties"]),
            {
                "email",
                "domain",
                "name",
                "quota_mb",
                "active",
                "catch_all",
                "created_at",
                "updated_at",
            },
        )
        self.assertEqual(
            set(components["AliasOut"]["properties"]),
            {"source", "destination", "domain", "catch_all"},
        )
        password = components["MailboxCreate"]["properties"]["password"]
        self.assertEqual(password.get("format"), "password")


@tagged("post_install", "-at_install")
class TestDocsPages(EmbouxApiCase):
    """``/docs`` and ``/redoc`` load nothing from elsewhere: their assets
    are the server's own, and a CSP allows no other origin."""

    PAGES = ("/docs", "/docs/", "/redoc", "/redoc/")

    def test_pages_reference_no_other_origin(self):
        for path in self.PAGES:
            with self.subTest(path=path):
                response = self.client.get(path, follow_redirects=False)
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.headers["content-type"], "text/html; charset=utf-8")
                html = response.text
                self.assertNotRegex(html, r"(?i)(https?:)?//[a-z0-9]")
                urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"|url: \'([^\']+)\'', html)
                urls = [a or b for a, b in urls]
                self.assertIn("/openapi.json", urls)
                for url in urls:
                    self.assertTrue(url.startswith("/"), url)
                    asset = self.client.get(url)
                    self.assertEqual(asset.status_code, 200, url)

    def test_csp_allows_only_the_own_origin_and_the_inline_script_by_hash(self):
        for path in self.PAGES:
            with self.subTest(path=path):
                response = self.client.get(path)
                csp = response.headers["content-security-policy"]
                directives = dict((part.split(" ", 1) + [""])[:2] for part in csp.split("; "))
                self.assertEqual(directives["default-src"], "'self'")
                self.assertEqual(directives["img-src"], "'self' data:")
                self.assertEqual(directives["frame-ancestors"], "'none'")
                self.assertNotIn("unsafe-inline", directives["script-src"])
                self.assertNotIn("http", csp)
                scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
                hashes = {
                    f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                    for s in scripts
                }
                self.assertEqual(set(directives["script-src"].split()) - {"'self'"}, hashes, path)
                if path.startswith("/docs"):
                    self.assertEqual(len(hashes), 1)  # Swagger UI's init

    def test_assets(self):
        for name, content_type in (
            ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
            ("swagger-ui.css", "text/css; charset=utf-8"),
            ("redoc.standalone.js", "text/javascript; charset=utf-8"),
            ("favicon.png", "image/png"),
        ):
            with self.subTest(name=name):
                response = self.client.get(f"/docs/static/{name}")
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.headers["content-type"], content_type)
                self.assertEqual(response.headers["x-content-type-options"], "nosniff")
                self.assertGreater(len(response.content), 1000)
        # Swagger UI 5: it renders FastAPI's OpenAPI 3.1 (4.x does not)
        bundle = self.client.get("/docs/static/swagger-ui-bundle.js").text
        self.assertRegex(bundle, r'PACKAGE_VERSION:"5\.')
        for name in ("nope.js", "..%2F..%2F__init__.py", "%2Fetc%2Fpasswd"):
            with self.subTest(name=name):
                self.assertStatus(self.client.get(f"/docs/static/{name}"), 404)

    def test_assets_stay_out_of_the_schema(self):
        schema = self.client.get("/openapi.json").json()
        self.assertFalse([p for p in schema["paths"] if "docs" in p or "redoc" in p])
