import os
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.emboux_core.tests.common import TourCase

from .common import make_portal_user


@tagged("post_install", "-at_install")
class TestPortalTour(TourCase):
    """The main portal flow in Debian's Chromium: log in, open the domains,
    create a mailbox with catch-all, see the DNS records. A browser that is
    missing fails the test instead of skipping it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant = cls.env["emboux.tenant"]._get_or_create("portal-tour", "Tour Customer")
        cls.domain = cls.env["emboux.domain"].create(
            {"name": "tour.example.com", "tenant_id": cls.tenant.id}
        )
        cls.user = make_portal_user(cls.env, cls.tenant, "portal_tour", password="portal_tour")

    def test_portal_tour(self):
        with patch.dict(os.environ, {"EMBOUX_MAIL_HOST": "mx.tour-host.test"}):
            self.run_tour("/my", "emboux_portal_tour", self.user.login)
        mailbox = self.env["emboux.mailbox"].search([("email", "=", "info@tour.example.com")])
        self.assertEqual(mailbox.name, "Info Desk")
        self.assertTrue(mailbox.catch_all)
        self.assertEqual(mailbox.create_uid, self.user)
