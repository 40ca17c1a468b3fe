"""Amazon SES through boto3's v1 ``ses`` client.

boto3's standard configuration applies (credentials chain, ``AWS_REGION``
or ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_SES`` for a local endpoint);
the options ``emboux_aws_region`` and ``emboux_aws_endpoint_url_ses`` fill
in from odoo.conf when the environment says nothing.

- the identity: ``verify_domain_identity`` (TXT ``_amazonses.<domain>``)
  plus ``verify_domain_dkim`` (3 CNAMEs ``<token>._domainkey.<domain>``);
- feedback: ``set_identity_notification_topic`` points the identity's
  Bounce and Complaint notifications at an SNS topic (the suite's
  ``emboux_ses_notification_topic_arn``); a subdomain sending with its
  parent's identity gets the parent's notifications (no identity, nothing
  to set);
- statuses: ``get_identity_verification_attributes`` and
  ``get_identity_dkim_attributes``, 100 identities per call;
- a subdomain sends with its verified parent's identity and DKIM (SES
  covers subdomains of a verified domain): registering it checks the
  parent's identity and creates nothing;
- no SMTP credential per domain (one for the account): skipped.
"""

import os

from odoo.addons.emboux_core.tools import get_config

from .base import (
    FAILED,
    NOT_STARTED,
    PENDING,
    VERIFIED,
    IdentityStatus,
    MailProvider,
    ProviderError,
    register_provider,
)
from .mailgun import timeout_option

BATCH = 100  # identities per Get*Attributes call
# the notifications pointed at the suite's topic (Delivery: not wanted)
NOTIFICATION_TYPES = ("Bounce", "Complaint")
STATUS_MAP = {
    "Pending": PENDING,
    "TemporaryFailure": PENDING,
    "Success": VERIFIED,
    "Failed": FAILED,
    "NotStarted": NOT_STARTED,
}


def ses_records(domain_name, token, dkim_tokens):
    """The records SES asks for: the ownership TXT and the DKIM CNAMEs."""
    records = []
    if token:
        records.append(
            {
                "type": "TXT",
                "rrtype": "TXT",
                "name": f"_amazonses.{domain_name}",
                "value": token,
                "priority": None,
            }
        )
    for dkim in dkim_tokens or []:
        records.append(
            {
                "type": "DKIM",
                "rrtype": "CNAME",
                "name": f"{dkim}._domainkey.{domain_name}",
                "value": f"{dkim}.dkim.amazonses.com",
                "priority": None,
            }
        )
    return records


@register_provider
class SesProvider(MailProvider):
    code = "ses"
    name = "Amazon SES"
    spf_include = "include:amazonses.com"
    notification_topics = True

    def __init__(self, client=None):
        self._given_client = client

    def _client(self):
        if self._given_client is not None:
            return self._given_client
        import boto3
        from botocore.config import Config

        timeout = timeout_option()
        region = get_config("emboux_aws_region", env="AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION"
        )
        endpoint = get_config("emboux_aws_endpoint_url_ses", env="AWS_ENDPOINT_URL_SES")
        try:
            self._given_client = boto3.client(
                "ses",
                region_name=region or None,
                endpoint_url=endpoint or None,
                config=Config(
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
            )
        except Exception as exc:  # NoRegionError, bad endpoint, ...
            raise ProviderError(
                self.code, f"cannot make the SES client: {exc}", unreachable=True
            ) from exc
        return self._given_client

    def _call(self, operation, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            return getattr(client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ProviderError(
                self.code, f"{operation}: {error.get('Code')} {error.get('Message', '')}".strip()
            ) from exc
        except BotoCoreError as exc:
            # timeouts, connection errors, missing credentials; no secret in them
            raise ProviderError(self.code, f"{operation}: {exc}", unreachable=True) from exc

    def start_verification(self, domain_name):
        token = self._call("verify_domain_identity", Domain=domain_name).get("VerificationToken")
        dkim = self._call("verify_domain_dkim", Domain=domain_name).get("DkimTokens") or []
        return IdentityStatus(
            verification=PENDING, dkim=PENDING, records=ses_records(domain_name, token, dkim)
        )

    def set_notification_topic(self, domain_name, topic_arn):
        for kind in NOTIFICATION_TYPES:
            self._call(
                "set_identity_notification_topic",
                Identity=domain_name,
                NotificationType=kind,
                SnsTopic=topic_arn,
            )
        return True

    def get_statuses(self, domain_names):
        result = {}
        names = list(domain_names)
        for start in range(0, len(names), BATCH):
            batch = names[start : start + BATCH]
            verification = self._call("get_identity_verification_attributes", Identities=batch).get(
                "VerificationAttributes", {}
            )
            dkim = self._call("get_identity_dkim_attributes", Identities=batch).get(
                "DkimAttributes", {}
            )
            for name in batch:
                if name not in verification:
                    result[name] = IdentityStatus(exists=False)
                    continue
                attrs = verification[name]
                dkim_attrs = dkim.get(name, {})
                dkim_tokens = dkim_attrs.get("DkimTokens") or []
                result[name] = IdentityStatus(
                    verification=STATUS_MAP.get(attrs.get("VerificationStatus"), PENDING),
                    dkim=STATUS_MAP.get(dkim_attrs.get("DkimVerificationStatus"), NOT_STARTED),
                    records=ses_records(name, attrs.get("VerificationToken"), dkim_tokens)
                    if attrs.get("VerificationToken") and dkim_tokens
                    else None,
                )
        return result

    def register_subdomain(self, domain_name, parent_name):
        parent = self.get_statuses([parent_name])[parent_name]
        if not parent.exists:
            raise ProviderError(self.code, f"the parent domain {parent_name} is no SES identity")
        return IdentityStatus(verification=parent.verification, dkim=parent.dkim, records=[])

    def cleanup_subdomain(self, domain_name):
        """Registering a subdomain created nothing at SES: nothing to remove."""
        return

    def delete_domain(self, domain_name):
        self._call("delete_identity", Identity=domain_name)
