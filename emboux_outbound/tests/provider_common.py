"""Real provider parts for the tests: the fake Mailgun HTTP server and a
moto server for SES, both on loopback, with the environment pointing the
suite at them (dummy AWS credentials and region: nothing reaches the
internet). Shared by emboux_outbound's and emboux_api's tests."""

import os
import socket
from unittest.mock import patch

import requests

from odoo import fields

from odoo.addons.emboux_outbound.models.emboux_domain_provider import DEFAULT_PROVIDER_PARAM

from .fake_mailgun import FakeMailgun

MAILGUN_KEY = "key-test-mailgun-0123456789"
WEBHOOK_URL = "https://emboux.test/api/webhooks/mailgun"
PORTS = range(8320, 8330)  # the loopback ports of these tests


def _free_port(ports):
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 8320-8329")


class ProviderServersMixin:
    """``cls.mailgun`` (FakeMailgun) and ``cls.moto_url``, started once per
    class and reset before each test. List it before the test case class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_provider_servers()

    def setUp(self):
        super().setUp()
        self.reset_provider_servers()

    @classmethod
    def start_provider_servers(cls):
        from moto.server import ThreadedMotoServer

        cls.mailgun = FakeMailgun(api_key=MAILGUN_KEY, port=_free_port(PORTS)).start()
        cls.addClassCleanup(cls.mailgun.stop)
        port = _free_port(PORTS)
        cls.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        cls.moto.start()
        cls.addClassCleanup(cls.moto.stop)
        cls.moto_url = f"http://127.0.0.1:{port}"
        cls.provider_environ = {
            "MAILGUN_API_KEY": MAILGUN_KEY,
            "MAILGUN_BASE_URL": cls.mailgun.url,
            "MAILGUN_WEBHOOK_URL": WEBHOOK_URL,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SES": cls.moto_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "EMBOUX_PROVIDER_TIMEOUT": "1",
        }
        cls.startClassPatcher(patch.dict(os.environ, cls.provider_environ))

    def reset_provider_servers(self):
        # each test starts without a default provider; the inference from
        # the environment (both providers configured here) has its own test
        self.set_default_provider(None)
        self.mailgun.reset()
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=5).raise_for_status()

    def set_default_provider(self, code):
        # "none": explicitly none (unset would infer one from the environment)
        self.env["ir.config_parameter"].sudo().set_param(DEFAULT_PROVIDER_PARAM, code or "none")

    def ses(self):
        """A boto3 SES client on the moto server (the test's own view)."""
        import boto3

        return boto3.client("ses", region_name="us-east-1", endpoint_url=self.moto_url)

    def ses_identities(self):
        return set(self.ses().list_identities(IdentityType="Domain")["Identities"])

    def backdate_checks(self, domains):
        """As if the domains were last checked an hour ago: the cron polls
        each domain once per run, those checked before the run started."""
        domains.write(
            {"provider_checked_at": fields.Datetime.subtract(fields.Datetime.now(), hours=1)}
        )

    def run_postcommit(self):
        """What runs after the commit of the test's transaction (provider
        cleanup of deleted domains)."""
        self.env.cr.postcommit.run()

    def sync_providers(self):
        """What the polling cron does right after the commit of the test's
        transaction (create, link and activate wake it): the recorded
        provider work, then the polls. Answers the domains handled."""
        return self.env["emboux.domain"]._cron_poll_provider_verification()
