import os
import socket
import time
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from .. import dns_check
from .dns_fixtures import LocalDns


def free_udp_port():
    """A loopback UDP port where nothing answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestDnsCheck(TransactionCase):
    """``dns_check`` through dnspython against a real DNS server on
    loopback (dnslib)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = cls.enterClassContext(LocalDns())
        cls.resolver = dns_check.make_resolver(cls.dns.nameservers, timeout=2.0)

    def check(self, rtype, name, value, priority=None, rrtype=None):
        record = {"type": rtype, "name": name, "value": value, "priority": priority}
        if rrtype:
            record["rrtype"] = rrtype
        (result,) = dns_check.check_records([record], self.resolver)
        return result

    def test_mx(self):
        result = self.check("MX", "ACME.test.", "mail.acme.test.", 10)
        self.assertEqual(
            result,
            {
                "type": "MX",
                "name": "acme.test",
                "expected": "10 mail.acme.test",
                "found": ["10 mail.acme.test", "20 backup.example.net"],
                "ok": True,
            },
        )
        # the priority is not compared; the host is
        self.assertTrue(self.check("MX", "acme.test", "backup.example.net", 10)["ok"])
        self.assertFalse(self.check("MX", "acme.test", "mx.example.net", 10)["ok"])

    def test_spf(self):
        result = self.check("TXT", "acme.test", "v=spf1 mx ~all")
        self.assertEqual(result["type"], "SPF")
        # chunks joined, the other TXT record left out
        self.assertEqual(result["found"], ["v=spf1 mx include:mailgun.org ~all"])
        self.assertTrue(result["ok"])
        # every expected term must be there; the all policy is the customer's
        self.assertTrue(self.check("SPF", "acme.test", "v=spf1 +MX include:mailgun.org -all")["ok"])
        self.assertFalse(self.check("SPF", "acme.test", "v=spf1 include:amazonses.com ~all")["ok"])
        # two SPF records: a permanent error for receivers
        result = self.check("SPF", "two-spf.test", "v=spf1 mx ~all")
        self.assertEqual(sorted(result["found"]), ["v=spf1 a ~all", "v=spf1 mx ~all"])
        self.assertFalse(result["ok"])

    def test_spf_records_merged(self):
        checks = dns_check.check_records(
            [
                {"type": "TXT", "name": "acme.test", "value": "v=spf1 mx ~all"},
                {"type": "SPF", "name": "acme.test", "value": "v=spf1 include:mailgun.org ~all"},
            ],
            self.resolver,
        )
        self.assertEqual(len(checks), 1)
        self.assertEqual(checks[0]["expected"], "v=spf1 mx include:mailgun.org ~all")
        self.assertTrue(checks[0]["ok"])

    def test_txt(self):
        result = self.check("TXT", "_amazonses.acme.test", "TokEN123+/=")
        self.assertEqual(result["found"], ["TokEN123+/="])
        self.assertTrue(result["ok"])
        # verification tokens are case-sensitive
        self.assertFalse(self.check("TXT", "_amazonses.acme.test", "token123+/=")["ok"])

    def test_dkim(self):
        result = self.check("DKIM", "tok1._domainkey.acme.test", "TOK1.dkim.amazonses.com.")
        self.assertEqual(
            (result["expected"], result["found"], result["ok"]),
            ("tok1.dkim.amazonses.com", ["tok1.dkim.amazonses.com"], True),
        )
        self.assertFalse(self.check("DKIM", "tok1._domainkey.acme.test", "tok2.dkim.x.com")["ok"])
        self.assertFalse(self.check("DKIM", "tok9._domainkey.acme.test", "tok9.dkim.x.com")["ok"])
        # a DKIM key published as TXT (Mailgun): whitespace ignored
        key = "k=rsa;  p=MIGfMA0GCSqGSIb3DQEBAQ"
        self.assertTrue(self.check("DKIM", "smtp._domainkey.acme.test", key)["ok"])
        self.assertTrue(self.check("DKIM", "smtp._domainkey.acme.test", key, rrtype="TXT")["ok"])
        # the DNS type to publish decides how it is read
        cname = "tok1.dkim.amazonses.com"
        self.assertFalse(self.check("DKIM", "tok1._domainkey.acme.test", cname, rrtype="TXT")["ok"])
        self.assertTrue(self.check("TXT", "tok1._domainkey.acme.test", cname, rrtype="CNAME")["ok"])
        self.assertFalse(self.check("DKIM", "smtp._domainkey.acme.test", "k=rsa; p=OTHER")["ok"])

    def test_missing_records(self):
        for rtype, name, value in (
            ("MX", "nothing.test", "mail.nothing.test"),
            ("SPF", "nothing.test", "v=spf1 mx ~all"),
            ("TXT", "_amazonses.nothing.test", "x"),
            ("DKIM", "a._domainkey.nothing.test", "a.dkim.amazonses.com"),
            ("MX", "tok1._domainkey.acme.test", "x.test"),  # a CNAME, no MX
        ):
            result = self.check(rtype, name, value)
            self.assertEqual((result["found"], result["ok"]), ([], False), result)

    def test_unreachable_server_is_a_missing_record(self):
        resolver = dns_check.make_resolver(f"127.0.0.1:{free_udp_port()}", timeout=0.5)
        started = time.monotonic()
        (result,) = dns_check.check_records(
            [{"type": "MX", "name": "acme.test", "value": "mail.acme.test"}], resolver
        )
        self.assertEqual((result["found"], result["ok"]), ([], False))
        self.assertLess(time.monotonic() - started, 3)

    def test_nameservers_option(self):
        servers = dns_check.parse_nameservers(
            "127.0.0.1:5353, 10.0.0.1, [::1]:5300, ::1, dns.example.com, 1.2.3.4:99999,"
        )
        self.assertEqual(
            [(s.address, s.port) for s in servers],
            [("127.0.0.1", 5353), ("10.0.0.1", 53), ("::1", 5300), ("::1", 53)],
        )
        with patch.dict(os.environ, {"EMBOUX_DNS_NAMESERVERS": self.dns.nameservers}):
            resolver = dns_check.make_resolver()
        self.assertEqual(
            [(s.address, s.port) for s in resolver.nameservers], [("127.0.0.1", self.dns.port)]
        )
        with patch.dict(os.environ, {"EMBOUX_DNS_NAMESERVERS": "", "EMBOUX_DNS_TIMEOUT": "1.5"}):
            self.assertEqual(dns_check.make_resolver().lifetime, 1.5)

    def test_domain_dns_check(self):
        """The model method: the records the domain should publish
        (``_dns_records_to_publish()``: without a provider, the portal's MX
        and SPF), checked against the configured resolver."""
        domain = self.env["emboux.domain"].create({"name": "acme.test", "provider": False})
        env = {"EMBOUX_DNS_NAMESERVERS": self.dns.nameservers, "EMBOUX_MAIL_HOST": ""}
        with patch.dict(os.environ, env):
            result = domain._dns_check()
        self.assertEqual(result["domain"], "acme.test")
        self.assertEqual(len(result["checks"]), len(domain._dns_records_to_publish()))
        self.assertEqual([c["type"] for c in result["checks"]], ["MX", "SPF"])
        self.assertTrue(result["all_ok"], result)
        # another mail host: the MX check fails, and so does the whole
        env["EMBOUX_MAIL_HOST"] = "mx.example.net"
        with patch.dict(os.environ, env):
            result = domain._dns_check()
        self.assertFalse(result["checks"][0]["ok"])
        self.assertFalse(result["all_ok"])
