import os
from unittest.mock import patch

from odoo.tests import new_test_user, tagged

from ..tools import verify_password
from .common import TourCase

DOMAIN = "backend-tour.example.com"
EMAIL = "info@backend-tour.example.com"
PASSWORD = "correct-horse-battery"
SMTP_HOST = "smtp.backend-tour.test"


@tagged("post_install", "-at_install")
class TestBackendTour(TourCase):
    """The staff forms in Debian's Chromium, as an Emboux manager: create a
    domain, create a mailbox with a password and Catch-All ticked on the
    creation form, read its SMTP settings, suspend the domain. A browser that
    is missing fails the test instead of skipping it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="emboux_tour_manager",
            password="emboux_tour_manager",
            name="Tour Manager",
            groups="base.group_user,emboux_core.group_emboux_manager",
        )

    def test_backend_tour(self):
        # the SMTP host the form shows (env wins over odoo.conf)
        with patch.dict(os.environ, {"EMBOUX_SMTP_HOST": SMTP_HOST}):
            self.run_tour("/odoo", "emboux_backend_tour", self.manager.login)

        domain = self.env["emboux.domain"].search([("name", "=", DOMAIN)])
        self.assertEqual(len(domain), 1)
        self.assertEqual(domain.create_uid, self.manager)
        self.assertEqual(domain.status, "suspended")
        self.assertEqual(domain.suspended_by_id, self.manager)
        self.assertTrue(domain.suspended_at)

        mailbox = (
            self.env["emboux.mailbox"]
            .with_context(active_test=False)
            .search([("email", "=", EMAIL)])
        )
        self.assertEqual(len(mailbox), 1)
        self.assertEqual(mailbox.domain_id, domain)
        self.assertEqual(mailbox.name, "Info Desk")
        self.assertEqual(mailbox.create_uid, self.manager)
        self.assertTrue(mailbox.active)
        password_hash = mailbox.sudo().password_hash
        self.assertTrue(password_hash.startswith("{SHA512-CRYPT}$6$"), password_hash)
        self.assertNotIn(PASSWORD, password_hash)
        self.assertTrue(verify_password(PASSWORD, password_hash))

        # Catch-All ticked on the creation form installs the
        # '@domain' alias at once
        catch_all = self.env["emboux.alias"].search([("source", "=", "@" + DOMAIN)])
        self.assertEqual(catch_all.mapped("destination"), [EMAIL])
        self.assertTrue(catch_all.catch_all)
        self.assertEqual(catch_all.domain_id, domain)
        self.assertTrue(mailbox.catch_all)
