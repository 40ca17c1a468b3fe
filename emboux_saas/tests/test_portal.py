import os
import re
from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STRONG = "correct horse battery"


class PortalCase(HttpCase):
    """Two tenants with a portal user each; tenant A has a domain with a
    mailbox, an alias and a key, and so has tenant B."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.Tenant = env["emboux.tenant"]
        cls.Domain = env["emboux.domain"]
        cls.Mailbox = env["emboux.mailbox"].with_context(active_test=False)
        cls.Alias = env["emboux.alias"]
        cls.Key = env["emboux.api.key"].with_context(active_test=False)
        cls.tenant_a = cls.Tenant._get_or_create("portal-acme", "Acme Portal")
        cls.tenant_b = cls.Tenant._get_or_create("portal-globex", "Globex Portal")
        cls.domain_a = cls.Domain.create({"name": "acme-portal.test", "tenant_id": cls.tenant_a.id})
        cls.domain_b = cls.Domain.create(
            {"name": "globex-portal.test", "tenant_id": cls.tenant_b.id}
        )
        cls.mailbox_a = cls.Mailbox.create({"email": "ann@acme-portal.test", "password": STRONG})
        cls.mailbox_b = cls.Mailbox.create({"email": "bob@globex-portal.test", "password": STRONG})
        cls.alias_a = cls.Alias.create(
            {"source": "sales@acme-portal.test", "destination": "ann@acme-portal.test"}
        )
        cls.alias_b = cls.Alias.create(
            {"source": "sales@globex-portal.test", "destination": "bob@globex-portal.test"}
        )
        cls.key_a, cls.token_a = cls.Key.generate(cls.tenant_a, "acme ci")
        cls.key_b, cls.token_b = cls.Key.generate(cls.tenant_b, "globex ci")
        cls.user_a = cls._portal_user(cls.tenant_a, "portal_acme")
        cls.user_b = cls._portal_user(cls.tenant_b, "portal_globex")

    @classmethod
    def _portal_user(cls, tenant, login):
        contact = cls.env["res.partner"].create(
            {"name": login, "parent_id": tenant.partner_id.id, "email": f"{login}@example.org"}
        )
        return new_test_user(
            cls.env, login=login, password=login, groups="base.group_portal", partner_id=contact.id
        )

    def setUp(self):
        super().setUp()
        # the default mail host ("mail.<domain>") unless a test sets one
        env_patch = patch.dict(os.environ, {"EMBOUX_MAIL_HOST": ""})
        env_patch.start()
        self.addCleanup(env_patch.stop)

    # helpers ---------------------------------------------------------------
    def login(self, user):
        self.authenticate(user.login, user.login)

    def get(self, url, status=200):
        response = self.url_open(url)
        self.assertEqual(response.status_code, status, f"GET {url}")
        return response

    def csrf(self, url="/my/api-keys"):
        match = CSRF_RE.search(self.get(url).text)
        self.assertTrue(match, f"no CSRF token in the forms of {url}")
        return match.group(1)

    def post(self, url, data=None, status=303, csrf=True):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf()
        response = self.url_open(url, data=data, allow_redirects=False)
        self.assertEqual(response.status_code, status, f"POST {url}: {response.text[-2000:]}")
        self.env.invalidate_all()
        return response

    def error_of(self, response):
        match = re.search(
            r'class="alert alert-danger o_emboux_error"[^>]*>(.*?)</div>', response.text, re.DOTALL
        )
        self.assertTrue(match, "no error message on the page")
        return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip()

    def invalid_inputs(self, response):
        """The names of the inputs the page marks invalid: the message is a
        plain sentence, the input it is about is marked."""
        return {
            re.search(r'\bname="([^"]+)"', tag).group(1)
            for tag in re.findall(r"<input\b[^>]*>", response.text)
            if "is-invalid" in tag and re.search(r'\bname="', tag)
        }


@tagged("post_install", "-at_install")
class TestPortal(PortalCase):
    def test_home_counters(self):
        self.login(self.user_a)
        home = self.get("/my")
        for url in ("/my/domains", "/my/mailboxes", "/my/aliases", "/my/api-keys"):
            self.assertIn(url, home.text)
        counters = self.make_jsonrpc_request(
            "/my/counters",
            {
                "counters": [
                    "emboux_domain_count",
                    "emboux_mailbox_count",
                    "emboux_alias_count",
                    "emboux_api_key_count",
                ]
            },
        )
        self.assertEqual(
            counters,
            {
                "emboux_domain_count": 1,
                "emboux_mailbox_count": 1,
                "emboux_alias_count": 1,
                "emboux_api_key_count": 1,
            },
        )

    def test_deactivated_mailbox_listed(self):
        """A deactivated mailbox stays in the customer's list (marked), so it
        can be turned back on; the home counter counts it."""
        off = self.Mailbox.create({"email": "old@acme-portal.test", "password": STRONG})
        off.active = False
        self.login(self.user_a)
        listing = self.get("/my/mailboxes").text
        self.assertIn("old@acme-portal.test", listing)
        self.assertIn(f"/my/mailboxes/{off.id}", listing)
        self.assertEqual(listing.count("o_emboux_mailbox_inactive"), 1)
        counters = self.make_jsonrpc_request("/my/counters", {"counters": ["emboux_mailbox_count"]})
        self.assertEqual(counters, {"emboux_mailbox_count": 2})
        self.get(f"/my/mailboxes/{off.id}")

    def test_home_without_tenant(self):
        """A portal user of no tenant sees no mail hosting entry."""
        other = new_test_user(
            self.env, login="portal_nobody", password="portal_nobody", groups="base.group_portal"
        )
        self.authenticate(other.login, other.login)
        self.assertNotIn("/my/domains", self.get("/my").text)
        self.assertIn("not a mail hosting customer", self.get("/my/domains").text)

    def test_pages_show_own_data_only(self):
        self.login(self.user_a)
        pages = {
            "/my/domains": ["acme-portal.test"],
            f"/my/domains/{self.domain_a.id}": ["ann@acme-portal.test", "sales@acme-portal.test"],
            "/my/mailboxes": ["ann@acme-portal.test"],
            f"/my/mailboxes/{self.mailbox_a.id}": [
                "ann@acme-portal.test",
                "sales@acme-portal.test",
            ],
            "/my/aliases": ["sales@acme-portal.test"],
            "/my/api-keys": ["acme ci", self.key_a.prefix],
        }
        for url, expected in pages.items():
            text = self.get(url).text
            for value in expected:
                self.assertIn(value, text, url)
            for foreign in ("globex-portal.test", "globex ci", self.key_b.prefix):
                self.assertNotIn(foreign, text, url)
            self.assertNotIn(self.token_a, text, f"{url} shows a token")

    def test_domain_page_dns_records_and_usage(self):
        self.tenant_a.write(
            {"max_domains": 3, "max_mailboxes_per_domain": 5, "max_aliases_per_mailbox": 4}
        )
        self.login(self.user_a)
        text = self.get(f"/my/domains/{self.domain_a.id}").text
        mx = re.search(r'data-record-type="MX".*?</tr>', text, re.DOTALL).group(0)
        self.assertIn("mail.acme-portal.test", mx)
        self.assertIn(">10<", mx)
        txt = re.search(r'data-record-type="TXT".*?</tr>', text, re.DOTALL).group(0)
        self.assertIn("v=spf1 mx ~all", txt)
        usage = re.search(r'o_emboux_mailbox_usage">(.*?)</small>', text, re.DOTALL).group(1)
        self.assertEqual(re.sub(r"\s+", " ", usage).strip(), "1 used of 5")
        # aliases per mailbox: 1 of 4
        self.assertIn("1 / 4", re.sub(r"\s+", " ", text))
        domains = self.get("/my/domains").text
        self.assertRegex(
            re.sub(r"\s+", " ", domains), r"Domains used: <strong>1</strong> of <strong>3</strong>"
        )
        # the configured mail host wins
        with patch.dict(os.environ, {"EMBOUX_MAIL_HOST": "mx.emboux.test"}):
            text = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn(
            "mx.emboux.test", re.search(r'data-record-type="MX".*?</tr>', text, re.DOTALL).group(0)
        )

    def test_other_tenant_is_not_found(self):
        """Every id of another tenant answers 404, page or write, and nothing
        of it changes."""
        hash_b = self.mailbox_b.sudo().password_hash
        self.login(self.user_a)
        missing = 987654321
        for url in (
            f"/my/domains/{self.domain_b.id}",
            f"/my/mailboxes/{self.mailbox_b.id}",
            f"/my/domains/{missing}",
            f"/my/mailboxes/{missing}",
        ):
            self.get(url, status=404)
        writes = {
            f"/my/domains/{self.domain_b.id}/mailboxes": {
                "local_part": "evil",
                "password": STRONG,
                "quota_mb": "10",
                "catch_all": "1",
            },
            f"/my/domains/{self.domain_b.id}/aliases": {
                "source_local": "evil",
                "destination": "ann@acme-portal.test",
            },
            f"/my/mailboxes/{self.mailbox_b.id}/password": {
                "password": "another long password",
                "password_confirm": "another long password",
            },
            f"/my/mailboxes/{self.mailbox_b.id}/quota": {"quota_mb": "1"},
            f"/my/mailboxes/{self.mailbox_b.id}/catch-all": {"catch_all": "1"},
            f"/my/mailboxes/{self.mailbox_b.id}/aliases": {"source_local": "evil"},
            # an alias of mine on the other tenant's domain
            f"/my/mailboxes/{self.mailbox_a.id}/aliases": {
                "source_local": "evil",
                "source_domain_id": str(self.domain_b.id),
            },
            f"/my/aliases/{self.alias_b.id}/delete": {},
            f"/my/aliases/{self.alias_a.id}/delete": {"mailbox_id": str(self.mailbox_b.id)},
            f"/my/api-keys/{self.key_b.id}/revoke": {},
            f"/my/api-keys/{missing}/revoke": {},
        }
        for url, data in writes.items():
            self.post(url, data, status=404)
        self.assertEqual(self.Mailbox.search_count([("domain_id", "=", self.domain_b.id)]), 1)
        self.assertEqual(
            self.Alias.search([("domain_id", "=", self.domain_b.id)]), self.alias_b, "aliases of B"
        )
        self.assertFalse(self.Alias.search_count([("source", "=like", "evil@%")]))
        self.assertTrue(self.alias_a.exists(), "the alias was deleted through a foreign mailbox id")
        self.assertEqual(self.mailbox_b.sudo().password_hash, hash_b)
        self.assertEqual(self.mailbox_b.quota_mb, 1024)
        self.assertFalse(self.mailbox_b.catch_all)
        self.assertEqual(self.key_b.state, "active")
        self.assertEqual(self.tenant_b.domains_used, 1)

    def test_write_without_csrf_token_is_refused(self):
        self.login(self.user_a)
        self.post(
            f"/my/domains/{self.domain_a.id}/mailboxes",
            {"local_part": "nocsrf", "password": STRONG, "quota_mb": "10"},
            status=400,
            csrf=False,
        )
        self.assertFalse(self.Mailbox.search_count([("email", "=", "nocsrf@acme-portal.test")]))

    def test_create_mailbox_with_catch_all(self):
        self.login(self.user_a)
        response = self.post(
            f"/my/domains/{self.domain_a.id}/mailboxes",
            {
                "local_part": "Info",
                "name": "Info Desk",
                "password": STRONG,
                "quota_mb": "500",
                "catch_all": "1",
            },
        )
        self.assertTrue(
            response.headers["Location"].endswith(
                f"/my/domains/{self.domain_a.id}?msg=mailbox_created"
            )
        )
        mailbox = self.Mailbox.search([("email", "=", "info@acme-portal.test")])
        self.assertEqual(
            (mailbox.name, mailbox.quota_mb, mailbox.catch_all), ("Info Desk", 500, True)
        )
        self.assertEqual(mailbox.create_uid, self.user_a, "not created as the portal user")
        catch_all = self.Alias.search([("source", "=", "@acme-portal.test")])
        self.assertEqual(catch_all.destination, "info@acme-portal.test")
        text = self.get(response.headers["Location"]).text
        self.assertIn("The mailbox was created.", text)
        self.assertIn("@acme-portal.test", text)

    def test_full_quota_shows_message_and_creates_nothing(self):
        self.tenant_a.max_mailboxes_per_domain = 1
        self.login(self.user_a)
        response = self.post(
            f"/my/domains/{self.domain_a.id}/mailboxes",
            {
                "local_part": "second",
                "name": "Second One",
                "password": STRONG,
                "quota_mb": "77",
                "catch_all": "1",
            },
            status=422,
        )
        error = self.error_of(response)
        self.assertTrue(error.startswith("The quota of 1 mailboxes on acme-portal.test"), error)
        self.assertEqual(self.invalid_inputs(response), {"local_part"})
        self.assertNotIn("Traceback", response.text)
        # the form keeps what was typed, except the password
        self.assertIn('value="second"', response.text)
        self.assertIn('value="Second One"', response.text)
        self.assertIn('value="77"', response.text)
        self.assertNotIn(STRONG, response.text)
        self.assertFalse(self.Mailbox.search_count([("email", "=", "second@acme-portal.test")]))
        self.assertFalse(self.Alias.search_count([("source", "=", "@acme-portal.test")]))

    def test_weak_password_names_the_field(self):
        self.login(self.user_a)
        response = self.post(
            f"/my/domains/{self.domain_a.id}/mailboxes",
            {"local_part": "weak", "password": "short", "quota_mb": "10", "catch_all": "1"},
            status=422,
        )
        self.assertTrue(self.error_of(response).startswith("The password is too weak"))
        self.assertEqual(self.invalid_inputs(response), {"password"})
        self.assertIn('value="weak"', response.text)
        self.assertNotIn('value="short"', response.text)
        self.assertFalse(self.Mailbox.search_count([("email", "=", "weak@acme-portal.test")]))
        self.assertFalse(self.Alias.search_count([("source", "=", "@acme-portal.test")]))

    def test_bad_address_and_conflict(self):
        self.login(self.user_a)
        url = f"/my/domains/{self.domain_a.id}/mailboxes"
        response = self.post(
            url, {"local_part": "bad address", "password": STRONG, "quota_mb": "1"}, status=422
        )
        self.assertIn("is not a valid e-mail address", self.error_of(response))
        self.assertEqual(self.invalid_inputs(response), {"local_part"})
        response = self.post(
            url, {"local_part": "ann", "password": STRONG, "quota_mb": "1"}, status=422
        )
        self.assertIn("already exists", self.error_of(response))
        response = self.post(
            url, {"local_part": "neg", "password": STRONG, "quota_mb": "-3"}, status=422
        )
        self.assertEqual(self.error_of(response), "Must not be negative (got -3)")
        self.assertEqual(self.Mailbox.search_count([("domain_id", "=", self.domain_a.id)]), 1)

    def test_change_password(self):
        self.login(self.user_a)
        before = self.mailbox_a.sudo().password_hash
        url = f"/my/mailboxes/{self.mailbox_a.id}/password"
        response = self.post(url, {"password": "tiny", "password_confirm": "tiny"}, status=422)
        self.assertTrue(self.error_of(response).startswith("The password is too weak"))
        self.assertNotIn('value="tiny"', response.text)
        response = self.post(
            url, {"password": STRONG + "1", "password_confirm": STRONG + "2"}, status=422
        )
        self.assertIn("differ", self.error_of(response))
        self.assertEqual(self.mailbox_a.sudo().password_hash, before)
        self.post(
            url, {"password": "a new long password", "password_confirm": "a new long password"}
        )
        from odoo.addons.emboux_core.tools import verify_password

        self.assertTrue(verify_password("a new long password", self.mailbox_a.sudo().password_hash))

    def test_change_quota(self):
        self.login(self.user_a)
        url = f"/my/mailboxes/{self.mailbox_a.id}/quota"
        response = self.post(url, {"quota_mb": "lots"}, status=422)
        self.assertEqual(self.error_of(response), "A non-negative whole number is required")
        self.assertIn('value="lots"', response.text)
        self.assertEqual(self.mailbox_a.quota_mb, 1024)
        self.post(url, {"quota_mb": "2048"})
        self.assertEqual(self.mailbox_a.quota_mb, 2048)
        self.assertIn(
            "The storage quota was changed.",
            self.get(f"/my/mailboxes/{self.mailbox_a.id}?msg=quota_changed").text,
        )

    def test_catch_all_toggle(self):
        self.login(self.user_a)
        url = f"/my/mailboxes/{self.mailbox_a.id}/catch-all"
        self.post(url, {"catch_all": "1"})
        self.assertTrue(self.mailbox_a.catch_all)
        self.post(url, {})
        self.assertFalse(self.mailbox_a.catch_all)

    def test_aliases_add_and_remove(self):
        self.tenant_a.max_aliases_per_mailbox = 3
        self.login(self.user_a)
        # from the domain page, to any address
        self.post(
            f"/my/domains/{self.domain_a.id}/aliases",
            {"source_local": "hello", "destination": "ann@acme-portal.test"},
        )
        hello = self.Alias.search([("source", "=", "hello@acme-portal.test")])
        self.assertEqual(hello.destination, "ann@acme-portal.test")
        again = self.post(
            f"/my/domains/{self.domain_a.id}/aliases",
            {"source_local": "hello", "destination": "ann@acme-portal.test"},
        )
        self.assertIn("msg=alias_exists", again.headers["Location"])
        # from the mailbox page
        self.post(f"/my/mailboxes/{self.mailbox_a.id}/aliases", {"source_local": "contact"})
        self.assertTrue(self.Alias.search_count([("source", "=", "contact@acme-portal.test")]))
        # quota: 3 aliases deliver to ann now
        response = self.post(
            f"/my/mailboxes/{self.mailbox_a.id}/aliases", {"source_local": "fourth"}, status=422
        )
        self.assertTrue(
            self.error_of(response).startswith("The quota of 3 aliases to ann@acme-portal.test")
        )
        self.assertIn('value="fourth"', response.text)
        self.assertFalse(self.Alias.search_count([("source", "=", "fourth@acme-portal.test")]))
        response = self.post(
            f"/my/domains/{self.domain_a.id}/aliases",
            {"source_local": "x", "destination": "not an address"},
            status=422,
        )
        self.assertIn("is not a valid e-mail address", self.error_of(response))
        # remove, back to the page it was removed from
        response = self.post(
            f"/my/aliases/{hello.id}/delete", {"mailbox_id": str(self.mailbox_a.id)}
        )
        self.assertIn(
            f"/my/mailboxes/{self.mailbox_a.id}?msg=alias_removed", response.headers["Location"]
        )
        self.assertFalse(hello.exists())
        response = self.post(f"/my/aliases/{self.alias_a.id}/delete")
        self.assertIn(
            f"/my/domains/{self.domain_a.id}?msg=alias_removed", response.headers["Location"]
        )
        self.assertFalse(self.alias_a.exists())

    def test_api_key_token_shown_once_and_revoke(self):
        self.login(self.user_a)
        response = self.post(
            "/my/api-keys/new", {"name": "deploy bot", "expires_at": "2031-01-02"}, status=200
        )
        self.assertEqual(response.headers.get("Cache-Control"), "no-store")
        token = re.search(r'o_emboux_token"[^>]*>([^<]+)<', response.text).group(1).strip()
        key = self.Key.search([("name", "=", "deploy bot")])
        self.assertEqual(key.tenant_id, self.tenant_a)
        self.assertEqual(str(key.expires_at), "2031-01-02 00:00:00")
        self.assertTrue(token.startswith(key.prefix))
        self.assertEqual(self.Key._authenticate(token), key)
        # never again
        listing = self.get("/my/api-keys").text
        self.assertIn(key.prefix, listing)
        self.assertNotIn(token, listing)
        self.assertNotIn("o_emboux_token", listing)
        # a bad name: message naming the field, nothing made
        response = self.post("/my/api-keys/new", {"name": "  "}, status=422)
        self.assertEqual(self.error_of(response), "A key name is required")
        response = self.post("/my/api-keys/new", {"name": "when", "expires_at": "soon"}, status=422)
        self.assertIn("is not an ISO 8601 time", self.error_of(response))
        self.assertIn('value="when"', response.text)
        self.assertEqual(self.Key.search_count([("tenant_id", "=", self.tenant_a.id)]), 2)
        # revoke
        response = self.post(f"/my/api-keys/{key.id}/revoke")
        self.assertIn("msg=key_revoked", response.headers["Location"])
        self.assertEqual(key.state, "revoked")
        self.assertFalse(self.Key._authenticate(token))
        listing = self.get("/my/api-keys").text
        self.assertIn("The API key was revoked.", self.get("/my/api-keys?msg=key_revoked").text)
        self.assertIn("Revoked", listing)

    def test_tenant_b_sees_its_own(self):
        self.login(self.user_b)
        text = self.get("/my/domains").text
        self.assertIn("globex-portal.test", text)
        self.assertNotIn("acme-portal.test", text)
        self.get(f"/my/domains/{self.domain_a.id}", status=404)
        self.post(f"/my/api-keys/{self.key_a.id}/revoke", status=404)
        self.assertEqual(self.key_a.state, "active")
