import os
import unittest
from unittest.mock import patch

from odoo.tests import HttpCase, common as tests_common, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestPortalTour(HttpCase):
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
        contact = cls.env["res.partner"].create(
            {
                "name": "Tour Customer User",
                "parent_id": cls.tenant.partner_id.id,
                "email": "tour@example.org",
            }
        )
        cls.user = new_test_user(
            cls.env,
            login="portal_tour",
            password="portal_tour",
            groups="base.group_portal",
            partner_id=contact.id,
        )

    def test_portal_tour(self):
        if tests_common.websocket is None:
            self.fail("websocket-client is not installed: the browser tests cannot run")
        try:
            tests_common._find_executable()
        except unittest.SkipTest:
            self.fail("Chromium is not installed (scripts/ensure_chromium.sh): the tour cannot run")
        with patch.dict(os.environ, {"EMBOUX_MAIL_HOST": "mx.tour-host.test"}):
            try:
                self.start_tour("/my", "emboux_portal_tour", login=self.user.login)
            except unittest.SkipTest as exc:
                self.fail(f"the tour did not run: {exc}")
        self.env.invalidate_all()
        mailbox = self.env["emboux.mailbox"].search([("email", "=", "info@tour.example.com")])
        self.assertEqual(mailbox.name, "Info Desk")
        self.assertTrue(mailbox.catch_all)
        self.assertEqual(mailbox.create_uid, self.user)
