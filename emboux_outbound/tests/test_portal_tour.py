import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_core.tests.common import TourCase
from odoo.addons.emboux_saas.tests.common import make_portal_user

from .dns_fixtures import LocalDns

# what the new domain's DNS publishes: our MX, a wrong SPF
ZONE = """
tour-new.example.com.   300 IN MX   10 mx.tour-host.test.
tour-new.example.com.   300 IN TXT  "v=spf1 a -all"
"""


@tagged("post_install", "-at_install")
class TestPortalDomainTour(TourCase):
    """A customer's domain from start to end in Debian's Chromium: add it,
    see its records, run the DNS check (a DNS server on loopback), add a
    mailbox with catch-all, delete it. A missing browser fails the test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant = cls.env["emboux.tenant"]._get_or_create("portal-domain-tour", "Tour Co")
        cls.tenant.max_domains = 3
        cls.user = make_portal_user(
            cls.env, cls.tenant, "portal_domain_tour", password="portal_domain_tour"
        )

    def test_portal_domain_tour(self):
        Domain = self.env["emboux.domain"]
        with (
            LocalDns(ZONE) as dns,
            patch.dict(
                os.environ,
                {
                    "EMBOUX_MAIL_HOST": "mx.tour-host.test",
                    "EMBOUX_DNS_NAMESERVERS": dns.nameservers,
                },
            ),
        ):
            self.run_tour("/my/domains", "emboux_portal_domain_tour", self.user.login)
        self.assertFalse(Domain.search_count([("name", "=", "tour-new.example.com")]))
        self.assertFalse(
            self.env["emboux.mailbox"]
            .with_context(active_test=False)
            .search_count([("email", "=", "hello@tour-new.example.com")])
        )
        self.assertEqual(self.tenant.domains_used, 0)
        # made and deleted by the tour: the domain, its mailbox and catch-all logged
        deleted = self.env["emboux.deletion.log"].search([("tenant_id", "=", self.tenant.id)])
        self.assertEqual(
            sorted(deleted.mapped("key")),
            ["@tour-new.example.com", "hello@tour-new.example.com", "tour-new.example.com"],
        )
