from odoo.tests import tagged

from .common import OutboundCase
from .provider_common import ProviderServersMixin

PROVIDER_LOGGER = "odoo.addons.emboux_outbound"


@tagged("post_install", "-at_install")
class TestStaffButtons(ProviderServersMixin, OutboundCase):
    """The domain form's buttons run the shared methods and say what
    happened in a notification, then reload the form."""

    def assertNotification(self, action, kind):
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], kind)
        self.assertEqual(action["params"]["next"]["tag"], "soft_reload")
        return action["params"]

    def test_verify_and_refresh(self):
        domain = self.Domain.create({"name": "button.test", "provider": "mailgun"})
        params = self.assertNotification(domain.button_provider_verify(), "success")
        self.assertTrue(params["message"].startswith("Mailgun: verification "), params)
        self.assertIn("button.test", self.mailgun.domains)
        params = self.assertNotification(domain.button_provider_refresh(), "success")
        self.assertIn("DKIM", params["message"])

    def test_provider_failure_is_a_warning_naming_it(self):
        domain = self.Domain.create({"name": "button-down.test", "provider": "mailgun"})
        self.mailgun.mode = "error"
        with self.assertLogs(PROVIDER_LOGGER, "WARNING"):
            params = self.assertNotification(domain.button_provider_verify(), "warning")
        self.assertIn("HTTP 500", params["message"])
        self.assertTrue(params["sticky"])

    def test_pause_and_resume(self):
        params = self.assertNotification(self.domain_a.button_outbound_pause(), "warning")
        self.assertIn("acme.test", params["message"])
        self.assertEqual(self.domain_a.outbound_status, "paused")
        self.assertNotification(self.domain_a.button_outbound_resume(), "success")
        self.assertEqual(self.domain_a.outbound_status, "active")
