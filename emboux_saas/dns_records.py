"""The DNS records a customer publishes for a hosted domain.

One function, so that the portal and the DNS check (``GET
/domains/{name}/dns-check``, emboux_outbound) expect the same records.
Provider records (DKIM, the provider's SPF include) come with
emboux_outbound.
"""

from odoo.addons.emboux_core.tools import get_config

MX_PRIORITY = 10
SPF_VALUE = "v=spf1 mx ~all"


def mail_host(domain_name):
    """The host that receives the domain's mail: the ``emboux_mail_host``
    option (env ``EMBOUX_MAIL_HOST`` wins), else ``mail.<domain>``."""
    return get_config("emboux_mail_host") or f"mail.{domain_name}"


def dns_records(domain_name):
    """``[{"type", "name", "priority", "value"}]`` to publish for
    ``domain_name`` (normalised, punycode): the MX record to the mail host
    and the SPF TXT record that lets that host send."""
    return [
        {
            "type": "MX",
            "name": domain_name,
            "priority": MX_PRIORITY,
            "value": mail_host(domain_name),
        },
        {"type": "TXT", "name": domain_name, "priority": None, "value": SPF_VALUE},
    ]
