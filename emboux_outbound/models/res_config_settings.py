from markupsafe import Markup, escape

from odoo import fields, models

from odoo.addons.emboux_core.tools import get_config

from ..providers.mailgun import DEFAULT_BASE_URL, DEFAULT_TIMEOUT
from .emboux_domain import PROVIDER_SELECTION
from .emboux_domain_provider import DEFAULT_PROVIDER_PARAM

# the API contract's configuration: (odoo.conf option, environment variable, default, secret)
CONFIG_OPTIONS = [
    ("emboux_master_token", "EMBOUX_MASTER_TOKEN", None, True),
    ("emboux_policy_token", "EMBOUX_POLICY_TOKEN", None, True),
    ("emboux_api_prefix", "EMBOUX_API_PREFIX", "/api", False),
    ("emboux_mailgun_api_key", "MAILGUN_API_KEY", None, True),
    ("emboux_mailgun_base_url", "MAILGUN_BASE_URL", DEFAULT_BASE_URL, False),
    ("emboux_mailgun_webhook_url", "MAILGUN_WEBHOOK_URL", None, False),
    ("emboux_mailgun_webhook_signing_key", "MAILGUN_WEBHOOK_SIGNING_KEY", None, True),
    ("emboux_aws_region", "AWS_REGION", None, False),
    ("emboux_aws_endpoint_url_ses", "AWS_ENDPOINT_URL_SES", None, False),
    ("emboux_provider_timeout", "EMBOUX_PROVIDER_TIMEOUT", str(DEFAULT_TIMEOUT), False),
    ("emboux_dns_nameservers", "EMBOUX_DNS_NAMESERVERS", None, False),
    ("emboux_dns_timeout", "EMBOUX_DNS_TIMEOUT", "2", False),
    ("emboux_webhook_max_age", "EMBOUX_WEBHOOK_MAX_AGE", "86400", False),
    ("emboux_mail_host", "EMBOUX_MAIL_HOST", None, False),
    ("emboux_smtp_host", "EMBOUX_SMTP_HOST", None, False),
    ("emboux_bounce_rate_threshold", "BOUNCE_RATE_THRESHOLD", "0.005", False),
    ("emboux_complaint_rate_threshold", "COMPLAINT_RATE_THRESHOLD", "0.001", False),
    ("emboux_hourly_fraction", "HOURLY_FRACTION", "1/6", False),
    ("emboux_spike_max_multiplier", "SPIKE_MAX_MULTIPLIER", "5", False),
    ("emboux_spike_min_volume", "SPIKE_MIN_VOLUME", "100", False),
    ("emboux_guillotine_min_volume", "GUILLOTINE_MIN_VOLUME", "200", False),
    ("emboux_ses_sns_topic_arns", "EMBOUX_SES_SNS_TOPIC_ARNS", None, False),
    ("emboux_ses_notification_topic_arn", "EMBOUX_SES_NOTIFICATION_TOPIC_ARN", None, False),
    ("emboux_sns_allowed_hosts", "EMBOUX_SNS_ALLOWED_HOSTS", None, False),
    ("emboux_mailserver_db_role", "EMBOUX_MAILSERVER_DB_ROLE", "emboux_mailserver", False),
    ("emboux_mailserver_db_password", "EMBOUX_MAILSERVER_DB_PASSWORD", None, True),
    ("emboux_policyd_db_role", "EMBOUX_POLICYD_DB_ROLE", "emboux_policyd", False),
    ("emboux_policyd_db_password", "EMBOUX_POLICYD_DB_PASSWORD", None, True),
]
MASK = "••••••••"


def mask(value):
    """A secret as Settings shows it: never the value, its last 4
    characters only when it is long enough for them to reveal little."""
    value = str(value)
    return MASK + value[-4:] if len(value) >= 20 else MASK


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    emboux_default_provider = fields.Selection(
        PROVIDER_SELECTION,
        string="Default Mail Provider",
        config_parameter=DEFAULT_PROVIDER_PARAM,
        help="The provider of a new domain created without one (POST /domains/, the "
        "portal, the backend). Empty: the one the configuration sets up (Mailgun when "
        "MAILGUN_API_KEY is set, else SES when AWS_ENDPOINT_URL_SES or AWS_REGION is), "
        "else none: no provider, no verification.",
    )
    emboux_config_overview = fields.Html(
        string="Emboux Configuration",
        compute="_compute_emboux_config_overview",
        sanitize=False,
        help="Read from odoo.conf and the environment (which wins); secrets masked.",
    )

    def _compute_emboux_config_overview(self):
        rows = []
        for option, env, default, secret in CONFIG_OPTIONS:
            value = get_config(option, env=env)
            if value is None:
                shown = escape(self.env._("default: %(d)s", d=default) if default else "-")
            else:
                shown = escape(mask(value) if secret else value)
            rows.append(
                Markup("<tr><td><code>%s</code></td><td><code>%s</code></td><td>%s</td></tr>")
                % (env, option, shown)
            )
        table = (
            Markup(
                '<table class="table table-sm o_emboux_config"><thead><tr><th>%s</th>'
                "<th>%s</th><th>%s</th></tr></thead><tbody>"
            )
            % (self.env._("Environment"), self.env._("odoo.conf"), self.env._("Value"))
            + Markup("").join(rows)
            + Markup("</tbody></table>")
        )
        for settings in self:
            settings.emboux_config_overview = table
