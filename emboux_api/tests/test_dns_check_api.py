import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_outbound.tests.dns_fixtures import LocalDns

from .common import TenancyCase


@tagged("post_install", "-at_install")
class TestDnsCheckApi(TenancyCase):
    """``GET /domains/{name}/dns-check`` against a real DNS server on
    loopback: acme.test publishes what it should, globex.test nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = cls.enterClassContext(LocalDns())
        cls.startClassPatcher(
            patch.dict(
                os.environ,
                {"EMBOUX_DNS_NAMESERVERS": cls.dns.nameservers, "EMBOUX_MAIL_HOST": ""},
            )
        )

    def test_published(self):
        body = self.assertStatus(self.api("GET", "/domains/ACME.test/dns-check"), 200)
        self.assertEqual(body["domain"], "acme.test")
        self.assertTrue(body["all_ok"], body)
        mx = next(check for check in body["checks"] if check["type"] == "MX")
        self.assertEqual(
            mx,
            {
                "type": "MX",
                "name": "acme.test",
                "expected": "10 mail.acme.test",
                "found": ["10 mail.acme.test", "20 backup.example.net"],
                "ok": True,
            },
        )
        spf = next(check for check in body["checks"] if check["type"] == "SPF")
        self.assertEqual(spf["found"], ["v=spf1 mx include:mailgun.org ~all"])

    def test_nothing_published(self):
        body = self.assertStatus(self.api("GET", "/domains/globex.test/dns-check/"), 200)
        self.assertFalse(body["all_ok"])
        self.assertTrue(body["checks"])
        for check in body["checks"]:
            self.assertEqual((check["found"], check["ok"]), ([], False))

    def test_dns_unreachable(self):
        with LocalDns() as gone:
            nameservers = gone.nameservers
        env = {"EMBOUX_DNS_NAMESERVERS": nameservers, "EMBOUX_DNS_TIMEOUT": "0.5"}
        with patch.dict(os.environ, env):
            body = self.assertStatus(self.api("GET", "/domains/acme.test/dns-check"), 200)
        self.assertFalse(body["all_ok"])

    def test_tenancy(self):
        self.assertStatus(self.api("GET", "/domains/acme.test/dns-check", token=self.token_a), 200)
        self.assertStatus(
            self.api("GET", "/domains/acme.test/dns-check", token=self.token_b),
            404,
            "Domain not found",
        )
        self.assertStatus(self.api("GET", "/domains/nowhere.test/dns-check"), 404)
        self.assertStatus(self.api("GET", "/domains/acme.test/dns-check", token=None), 401)
