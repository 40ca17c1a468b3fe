"""Mailgun through its v3 REST API (``requests``, HTTP basic auth
``api:<MAILGUN_API_KEY>``), as Mailgun documents it.

- a domain's identity is a Mailgun domain (``POST /v3/domains``); its
  ``state`` ``active`` is verified, ``unverified`` pending; its DKIM record
  is in ``sending_dns_records``;
- on creation the domain's ``permanent_fail`` and ``complained`` webhooks
  point to ``MAILGUN_WEBHOOK_URL`` when it is set;
- a subdomain of a verified parent is a Mailgun domain of its own whose
  DKIM authority is its root domain's (``PUT .../dkim_authority self=false``),
  so it signs with the parent's key at once;
- the SMTP credential ``emboux-relay@<domain>`` is created only when missing.
"""

import logging
import secrets

import requests

from odoo.addons.emboux_core.tools import get_config

from .base import (
    PENDING,
    VERIFIED,
    IdentityStatus,
    MailProvider,
    ProviderError,
    SmtpCredential,
    register_provider,
)

_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.mailgun.net"
DEFAULT_TIMEOUT = 10.0
SMTP_LOCAL_PART = "emboux-relay"
WEBHOOK_EVENTS = ("permanent_fail", "complained")
MAX_WEBHOOK_URLS = 3  # Mailgun's limit per event type


def timeout_option():
    """Seconds a provider call may take (``emboux_provider_timeout``, env
    ``EMBOUX_PROVIDER_TIMEOUT``), default 10."""
    value = get_config("emboux_provider_timeout", default=DEFAULT_TIMEOUT)
    try:
        return max(float(value), 0.1)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT


@register_provider
class MailgunProvider(MailProvider):
    code = "mailgun"
    name = "Mailgun"
    spf_include = "include:mailgun.org"
    per_domain_smtp_credentials = True

    def __init__(self):
        self.api_key = get_config("emboux_mailgun_api_key", env="MAILGUN_API_KEY")
        base = get_config("emboux_mailgun_base_url", env="MAILGUN_BASE_URL") or DEFAULT_BASE_URL
        # accept the base with or without the version
        self.base_url = base.rstrip("/").removesuffix("/v3")
        self.webhook_url = get_config("emboux_mailgun_webhook_url", env="MAILGUN_WEBHOOK_URL")
        self.timeout = timeout_option()

    # ------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------
    def _call(self, method, path, ok_missing=False, **kwargs):
        """The JSON answer of ``method path``; None for a 404 when
        ``ok_missing``. ProviderError for anything else than a 2xx."""
        if not self.api_key:
            raise ProviderError(self.code, "MAILGUN_API_KEY is not configured", unreachable=True)
        where = f"{method} {path}"
        try:
            response = requests.request(
                method,
                self.base_url + path,
                auth=("api", self.api_key),
                timeout=self.timeout,
                **kwargs,
            )
        except requests.Timeout as exc:
            raise ProviderError(
                self.code, f"{where}: no answer within {self.timeout:g} s", unreachable=True
            ) from exc
        except requests.RequestException as exc:
            # the exception names the URL, never the credentials
            raise ProviderError(
                self.code, f"{where}: connection failed ({type(exc).__name__})", unreachable=True
            ) from exc
        if response.status_code == 404 and ok_missing:
            return None
        if not 200 <= response.status_code < 300:
            raise ProviderError(
                self.code,
                f"{where}: HTTP {response.status_code} {self._message(response)}",
                # a refused key fails every call of the account alike
                unreachable=response.status_code == 401,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(self.code, f"{where}: the answer is not JSON") from exc

    @staticmethod
    def _message(response):
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            message = None
        return str(message or response.reason or "")[:200]

    # ------------------------------------------------------------------
    # answers
    # ------------------------------------------------------------------
    def _status(self, body):
        """An IdentityStatus from a domain answer (GET, create, verify) or
        a DKIM authority answer (no ``domain`` object)."""
        domain = body.get("domain") or {}
        active = domain.get("state") == "active"
        records = []
        dkim_valid = None
        for rec in body.get("sending_dns_records") or []:
            rrtype = (rec.get("record_type") or "").upper()
            name = (rec.get("name") or "").lower().rstrip(".")
            value = rec.get("value") or ""
            if rrtype == "TXT" and "._domainkey." in f".{name}":
                records.append(
                    {
                        "type": "DKIM",
                        "rrtype": "TXT",
                        "name": name,
                        "value": value,
                        "priority": None,
                    }
                )
                dkim_valid = rec.get("valid") == "valid"
            # the SPF TXT is merged into the domain's one SPF record
            # (spf_include); the tracking CNAME is optional and not published
        verification = VERIFIED if active else PENDING
        dkim = VERIFIED if active or dkim_valid else PENDING
        return IdentityStatus(verification=verification, dkim=dkim, records=records)

    # ------------------------------------------------------------------
    # the interface
    # ------------------------------------------------------------------
    def _ensure_domain(self, domain_name):
        """The domain's answer, creating the domain when Mailgun does not
        know it (then its webhooks too)."""
        body = self._call("GET", f"/v3/domains/{domain_name}", ok_missing=True)
        if body is None:
            body = self._call("POST", "/v3/domains", data={"name": domain_name})
            _logger.info("mailgun: domain %s created", domain_name)
        self._ensure_webhooks(domain_name)
        return body

    def _ensure_webhooks(self, domain_name):
        if not self.webhook_url:
            return
        current = self._call("GET", f"/v3/domains/{domain_name}/webhooks", ok_missing=True) or {}
        hooks = current.get("webhooks") or {}
        for event in WEBHOOK_EVENTS:
            urls = list((hooks.get(event) or {}).get("urls") or [])
            if self.webhook_url in urls:
                continue
            if urls:
                urls = [*urls[: MAX_WEBHOOK_URLS - 1], self.webhook_url]
                self._call("PUT", f"/v3/domains/{domain_name}/webhooks/{event}", data={"url": urls})
            else:
                self._call(
                    "POST",
                    f"/v3/domains/{domain_name}/webhooks",
                    data={"id": event, "url": self.webhook_url},
                )

    def start_verification(self, domain_name):
        self._ensure_domain(domain_name)
        # ask Mailgun to check the DNS now (the answer has the records)
        return self._status(self._call("PUT", f"/v3/domains/{domain_name}/verify"))

    def get_statuses(self, domain_names):
        result = {}
        for name in domain_names:
            try:
                body = self._call("PUT", f"/v3/domains/{name}/verify", ok_missing=True)
            except ProviderError as exc:
                if exc.unreachable:
                    raise  # the whole batch would fail the same way
                result[name] = IdentityStatus(error=exc)
                continue
            if body is None:
                result[name] = IdentityStatus(exists=False, records=None)
            else:
                result[name] = self._status(body)
        return result

    def register_subdomain(self, domain_name, parent_name):
        parent = self._call("GET", f"/v3/domains/{parent_name}", ok_missing=True)
        if parent is None:
            raise ProviderError(self.code, f"the parent domain {parent_name} is not at Mailgun")
        self._ensure_domain(domain_name)
        answer = self._call(
            "PUT", f"/v3/domains/{domain_name}/dkim_authority", data={"self": "false"}
        )
        status = self._status(answer)
        parent_status = self._status(parent)
        # it signs with the parent's key: the parent's state is its state
        status.verification = parent_status.verification
        status.dkim = parent_status.dkim
        return status

    def ensure_smtp_credential(self, domain_name):
        login = f"{SMTP_LOCAL_PART}@{domain_name}"
        listing = self._call("GET", f"/v3/domains/{domain_name}/credentials", ok_missing=True)
        if listing is None:
            raise ProviderError(self.code, f"the domain {domain_name} is not at Mailgun")
        if any((item.get("login") or "").lower() == login for item in listing.get("items") or []):
            return SmtpCredential(login=login)
        password = secrets.token_urlsafe(24)  # 32 characters, Mailgun's maximum
        self._call(
            "POST",
            f"/v3/domains/{domain_name}/credentials",
            data={"login": login, "password": password},
        )
        _logger.info("mailgun: SMTP credential %s created", login)
        return SmtpCredential(login=login, password=password, created=True)

    def delete_domain(self, domain_name):
        # Mailgun deletes the domain's credentials and webhooks with it
        self._call("DELETE", f"/v3/domains/{domain_name}", ok_missing=True)
