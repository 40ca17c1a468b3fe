import os
import re
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_saas.tests.test_portal import PortalCase

from .dns_fixtures import LocalDns
from .provider_common import ProviderServersMixin

# acme-portal.test publishes our MX and a wrong SPF; nothing else is in it
ZONE = """
acme-portal.test.   300 IN MX   10 mail.acme-portal.test.
acme-portal.test.   300 IN TXT  "v=spf1 a -all"
"""


def input_tag(text, input_id):
    """The ``<input>`` tag of id ``input_id``."""
    return re.search(rf'<input\b[^>]*\bid="{input_id}"[^>]*>', text).group(0)


def rows(text, css_class):
    """``{data-record-type: (data-status, row html)}`` of the check table."""
    found = re.findall(
        rf'<tr class="{css_class}" data-record-type="(\w+)" data-status="(\w+)">(.*?)</tr>',
        text,
        re.DOTALL,
    )
    return {rtype: (status, html) for rtype, status, html in found}


@tagged("post_install", "-at_install")
class TestPortalDnsCheckAndLimits(PortalCase):
    """The DNS check and the domain's own lower caps in the portal: the
    same model methods as GET .../dns-check and PUT .../outbound."""

    def test_dns_check_shows_published_wrong_and_missing(self):
        other = self.Domain.create({"name": "empty-acme.test", "tenant_id": self.tenant_a.id})
        self.login(self.user_a)
        page = self.get(f"/my/domains/{self.domain_a.id}").text
        self.assertIn(f'href="/my/domains/{self.domain_a.id}/dns-check#dns"', page)
        self.assertNotIn("o_emboux_dns_check_row", page)
        with (
            LocalDns(ZONE) as dns,
            patch.dict(os.environ, {"EMBOUX_DNS_NAMESERVERS": dns.nameservers}),
        ):
            text = self.get(f"/my/domains/{self.domain_a.id}/dns-check").text
            empty = self.get(f"/my/domains/{other.id}/dns-check").text
        checks = rows(text, "o_emboux_dns_check_row")
        self.assertEqual(set(checks), {"MX", "SPF"})
        status, html = checks["MX"]
        self.assertEqual(status, "published")
        self.assertIn("10 mail.acme-portal.test", html)
        self.assertIn("Published", html)
        status, html = checks["SPF"]
        self.assertEqual(status, "wrong")
        self.assertIn("v=spf1 mx ~all", html)  # expected
        self.assertIn("v=spf1 a -all", html)  # found
        self.assertIn("Wrong", html)
        self.assertIn('data-all-ok="0"', text)
        # the records to publish are still on the page
        self.assertIn('data-record-type="MX" data-purpose="MX"', text)
        missing = rows(empty, "o_emboux_dns_check_row")
        self.assertEqual({k: v[0] for k, v in missing.items()}, {"MX": "missing", "SPF": "missing"})
        self.assertIn("nothing", missing["MX"][1])
        self.assertIn("Missing", missing["MX"][1])

    def test_dns_check_of_another_tenant_is_not_found(self):
        self.login(self.user_a)
        for domain_id in (self.domain_b.id, 987654321):
            response = self.get(f"/my/domains/{domain_id}/dns-check", status=404)
            self.assertNotIn("globex-portal.test", response.text)

    def test_lower_own_caps(self):
        self.login(self.user_a)
        url = f"/my/domains/{self.domain_a.id}/limits"
        page = self.get(f"/my/domains/{self.domain_a.id}").text
        # the plan's (free tier) limits are shown
        self.assertIn(f'action="/my/domains/{self.domain_a.id}/limits"', page)
        self.assertIn('max="100"', input_tag(page, "daily_limit"))
        self.assertIn('max="2000"', input_tag(page, "monthly_limit"))
        response = self.post(url, {"daily_limit": "10", "monthly_limit": "150"})
        self.assertIn("msg=limits_changed", response.headers["Location"])
        self.assertEqual(
            (self.domain_a.outbound_daily_cap, self.domain_a.outbound_monthly_cap), (10, 150)
        )
        info = self.domain_a._outbound_info()
        self.assertEqual((info["daily_limit"], info["monthly_limit"]), (10, 150))
        page = self.get(response.headers["Location"]).text
        self.assertIn("The sending limits were changed.", page)
        self.assertIn('value="10"', input_tag(page, "daily_limit"))
        self.assertIn('value="150"', input_tag(page, "monthly_limit"))
        # empty: the plan's limit again
        self.post(url, {"daily_limit": "", "monthly_limit": "150"})
        self.assertEqual(self.domain_a.outbound_daily_cap, 0)
        self.assertEqual(self.domain_a._outbound_info()["daily_limit"], 100)
        self.assertEqual(self.domain_a.outbound_monthly_cap, 150)

    def test_caps_above_the_plan_and_bad_input_are_refused(self):
        self.domain_a.outbound_daily_cap = 10  # the customer's own cap
        self.login(self.user_a)
        url = f"/my/domains/{self.domain_a.id}/limits"
        for data, field, expected in (
            ({"daily_limit": "5000", "monthly_limit": ""}, "daily_limit", "5000 is above"),
            ({"daily_limit": "10", "monthly_limit": "2001"}, "monthly_limit", "2001 is above"),
            ({"daily_limit": "-1", "monthly_limit": ""}, "daily_limit", "Must not be negative"),
            ({"daily_limit": "many", "monthly_limit": ""}, "daily_limit", "A non-negative"),
            ({"daily_limit": "10", "monthly_limit": "1.5"}, "monthly_limit", "A non-negative"),
        ):
            response = self.post(url, data, status=422)
            # a plain sentence; the input it is about is marked below
            error = self.error_of(response)
            self.assertTrue(error.startswith(expected), error)
            self.assertNotIn("Traceback", response.text)
            # what was typed stays, marked
            tag = input_tag(response.text, field)
            self.assertIn(f'value="{data[field]}"', tag)
            self.assertIn("is-invalid", tag)
        error = self.error_of(self.post(url, {"daily_limit": "5000"}, status=422))
        self.assertIn("above the limit of your plan (100)", error)
        # nothing of a refused form was written
        self.assertEqual(
            (self.domain_a.outbound_daily_cap, self.domain_a.outbound_monthly_cap), (10, 0)
        )
        # at the plan's limit: allowed (the plan's limit, no cap of its own)
        self.post(url, {"daily_limit": "100", "monthly_limit": "2000"})
        self.assertEqual(
            (self.domain_a.outbound_daily_cap, self.domain_a.outbound_monthly_cap), (0, 0)
        )

    def test_caps_of_another_tenant_and_csrf(self):
        self.login(self.user_a)
        for domain_id in (self.domain_b.id, 987654321):
            response = self.post(
                f"/my/domains/{domain_id}/limits",
                {"daily_limit": "1", "monthly_limit": "1"},
                status=404,
            )
            self.assertNotIn("globex-portal.test", response.text)
        self.assertEqual(self.domain_b.outbound_daily_cap, 0)
        self.post(
            f"/my/domains/{self.domain_a.id}/limits",
            {"daily_limit": "1", "monthly_limit": "1"},
            status=400,
            csrf=False,
        )
        self.assertEqual(self.domain_a.outbound_daily_cap, 0)


@tagged("post_install", "-at_install")
class TestPortalSubdomains(ProviderServersMixin, PortalCase):
    """A subdomain of a wildcard parent, from the portal: created as POST
    /domains/ creates it, then registered with the parent's verified
    identity (POST .../register-subdomain), at the fake Mailgun."""

    def setUp(self):
        super().setUp()
        self.tenant_a.max_domains = 5
        # the parent's identity exists and is verified at Mailgun
        self.mailgun.domains["wild-acme.test"] = {
            "state": "active",
            "dkim_self": True,
            "created_at": "Thu, 13 Oct 2026 18:02:55 GMT",
            "credentials": {},
            "webhooks": {},
        }
        self.parent = self.Domain.create(
            {
                "name": "wild-acme.test",
                "tenant_id": self.tenant_a.id,
                "provider": "mailgun",
                "is_wildcard": True,
            }
        )
        self.parent._set_verification("verified", "verified")

    def test_add_and_register_subdomain_of_verified_wildcard_parent(self):
        self.login(self.user_a)
        page = self.get(f"/my/domains/{self.parent.id}").text
        self.assertIn(f'action="/my/domains/{self.parent.id}/subdomains"', page)
        self.assertNotIn("o_emboux_subdomains_unverified", page)
        self.assertNotIn(
            "o_emboux_subdomain_create", self.get(f"/my/domains/{self.domain_a.id}").text
        )
        response = self.post(f"/my/domains/{self.parent.id}/subdomains", {"label": "Shop"})
        sub = self.Domain.search([("name", "=", "shop.wild-acme.test")])
        self.assertTrue(sub)
        self.assertTrue(
            response.headers["Location"].endswith(f"/my/domains/{sub.id}?msg=subdomain_added")
        )
        self.assertEqual(sub.parent_id, self.parent)
        self.assertEqual(sub.tenant_id, self.tenant_a)
        self.assertEqual(sub.provider, "mailgun")
        self.assertEqual(self.tenant_a.domains_used, 3)
        page = self.get(response.headers["Location"]).text
        self.assertIn("The subdomain was added", page)
        self.assertIn(f'action="/my/domains/{sub.id}/register-subdomain"', page)
        # registered now, with the parent's DKIM identity
        response = self.post(f"/my/domains/{sub.id}/register-subdomain")
        self.assertIn("msg=subdomain_registered", response.headers["Location"])
        self.assertEqual(sub.provider_identity, "subdomain")
        self.assertFalse(self.mailgun.domains["shop.wild-acme.test"]["dkim_self"])
        self.assertEqual(sub._provider_status()["status"], "verified")
        self.assertIn("registered with its parent", self.get(response.headers["Location"]).text)
        # again: idempotent
        self.post(f"/my/domains/{sub.id}/register-subdomain")
        self.assertEqual(sub.provider_identity, "subdomain")

    def test_refusals_are_messages(self):
        self.login(self.user_a)
        url = f"/my/domains/{self.parent.id}/subdomains"
        for label, expected in (
            ("", "A subdomain name is required"),
            ("bad label", "is not a valid domain name"),
            ("-x", "is not a valid domain name"),
        ):
            response = self.post(url, {"label": label}, status=422)
            self.assertIn(expected, self.error_of(response), label)
            self.assertIn("is-invalid", input_tag(response.text, "subdomain_label"))
        self.tenant_a.max_domains = 2
        response = self.post(url, {"label": "shop"}, status=422)
        self.assertTrue(self.error_of(response).startswith("The quota of 2 domains"))
        self.assertIn("is-invalid", input_tag(response.text, "subdomain_label"))
        self.assertIn('value="shop"', input_tag(response.text, "subdomain_label"))
        self.assertFalse(self.Domain.search_count([("name", "=", "shop.wild-acme.test")]))
        self.assertEqual(self.tenant_a.domains_used, 2)
        # registration while the parent is not verified (yet): the model
        # refuses, the page says why, nothing reaches the provider
        self.tenant_a.max_domains = 5
        self.parent._set_verification("pending")
        self.assertIn(
            "o_emboux_subdomains_unverified", self.get(f"/my/domains/{self.parent.id}").text
        )
        sub = self.Domain.create({"name": "shop.wild-acme.test", "tenant_id": self.tenant_a.id})
        registrations = self.mailgun.count("PUT", "/dkim_authority")
        response = self.post(f"/my/domains/{sub.id}/register-subdomain", status=422)
        self.assertIn("is not verified", self.error_of(response))
        self.assertEqual(self.mailgun.count("PUT", "/dkim_authority"), registrations)
        # a domain that is no linked subdomain
        response = self.post(f"/my/domains/{self.domain_a.id}/register-subdomain", status=422)
        self.assertIn("not a subdomain of a wildcard parent", self.error_of(response))

    def test_other_tenant_and_csrf(self):
        sub = self.Domain.create({"name": "linked.wild-acme.test", "tenant_id": self.tenant_a.id})
        self.assertEqual(sub.parent_id, self.parent)
        registrations = self.mailgun.count("PUT", "/dkim_authority")
        self.login(self.user_b)
        for url in (
            f"/my/domains/{self.parent.id}/subdomains",
            f"/my/domains/{sub.id}/register-subdomain",
            "/my/domains/987654321/subdomains",
            "/my/domains/987654321/register-subdomain",
        ):
            response = self.post(url, {"label": "evil"}, status=404)
            self.assertNotIn("wild-acme.test", response.text)
        self.assertFalse(self.Domain.search_count([("name", "=", "evil.wild-acme.test")]))
        self.login(self.user_a)
        self.post(
            f"/my/domains/{self.parent.id}/subdomains", {"label": "nocsrf"}, status=400, csrf=False
        )
        self.post(f"/my/domains/{sub.id}/register-subdomain", {"x": "1"}, status=400, csrf=False)
        self.assertFalse(self.Domain.search_count([("name", "=", "nocsrf.wild-acme.test")]))
        self.assertEqual(self.tenant_a.domains_used, 3)
        self.assertEqual(self.mailgun.count("PUT", "/dkim_authority"), registrations)
