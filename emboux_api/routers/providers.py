"""Mail provider routes: verification at a provider, subdomain
provisioning, self-service and the change of provider. Thin: the work is
the domain's methods in emboux_outbound (``action_provider_*``,
``_provider_status``, ``_dns_records_to_publish``,
``_provider_change_info``)."""

from typing import Annotated

from fastapi import Path

from ..dependencies import AuthenticatedCaller, master_only, master_or_owner
from ..routing import EmbouxRouter
from ..schemas import ErrorOut, VerifyOut, VerifyStatusOut
from ..schemas.provider import ProviderChangeOut, ProviderIn
from .domains import Domain, domain_not_found

router = EmbouxRouter(tags=["providers"])

_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown domain, or another tenant's"}}
_NO_PROVIDER = {
    422: {
        "model": ErrorOut,
        "description": "`provider`: the domain has none and Settings name no default",
    }
}
VERIFY_DOC = """Start the verification of the domain at its provider
(its own, else the default of Settings, which the domain then keeps; none:
422 naming `provider`) and answer the DNS records to publish:
`{"domain", "status", "dkim_status", "provider", "verified_at",
"inherited_from", "provider_error", "records": [{"type":
"MX"|"SPF"|"TXT"|"DKIM", "rrtype": "MX"|"TXT"|"CNAME", "name", "value",
"priority"}]}`. Idempotent: an identity that exists at the provider is
reused, and a verified domain stays verified.

A subdomain linked to a wildcard parent is registered with the parent's
identity instead (see `register-subdomain`, without its requirement that
the parent be verified already).

A provider that fails or times out is no error of the request: the answer
is 200 with `status` `pending` and `provider_error` set, and the polling
cron (every 2 hours) retries.

The master may verify a root domain that is not hosted here: the identity
is created at the default provider of Settings and nothing is stored
locally. A customer sees its own domains only (another tenant's: 404)."""


def _verify(name, caller):
    Domain_ = caller.env["emboux.domain"]
    domain = Domain_._find_by_name(name)
    if not domain:
        if caller.is_master:
            status_, records = Domain_._provider_verify_remote(name)
            return VerifyOut.from_parts(status_, records)
        raise domain_not_found()
    domain.action_provider_verify()
    return VerifyOut.from_parts(domain._provider_status(), domain._dns_records_to_publish())


def _verify_status(domain):
    domain.action_provider_refresh()
    return VerifyStatusOut.from_status(domain._provider_status())


DomainName = Annotated[str, Path(description="Domain name, any case, Unicode or punycode")]


@router.post(
    "/domains/{name}/verify",
    description=VERIFY_DOC,
    **master_or_owner(responses={**_NOT_FOUND, **_NO_PROVIDER}),
)
def verify_domain(name: DomainName, caller: AuthenticatedCaller) -> VerifyOut:
    return _verify(name, caller)


@router.get("/domains/{name}/verify-status", **master_or_owner(responses=_NOT_FOUND))
def verify_status(domain: Domain) -> VerifyStatusOut:
    """Ask the provider for the domain's verification and DKIM status, store
    it and answer it. A linked subdomain answers its wildcard parent's
    (`inherited_from`); a provider failure answers the last known state."""
    return _verify_status(domain)


@router.post(
    "/domains/{name}/ses-verify",
    description="Legacy alias of `POST /domains/{name}/verify`.\n\n" + VERIFY_DOC,
    **master_only(responses={**_NOT_FOUND, **_NO_PROVIDER}),
)
def ses_verify(name: DomainName, caller: AuthenticatedCaller) -> VerifyOut:
    return _verify(name, caller)


@router.get("/domains/{name}/ses-status", **master_only(responses=_NOT_FOUND))
def ses_status(domain: Domain) -> VerifyStatusOut:
    """Legacy alias of `GET /domains/{name}/verify-status`."""
    return _verify_status(domain)


@router.post(
    "/domains/{name}/register-subdomain",
    **master_or_owner(
        responses={
            **_NOT_FOUND,
            409: {
                "model": ErrorOut,
                "description": "`name`: not a subdomain of a verified wildcard parent",
            },
        }
    ),
)
def register_subdomain(domain: Domain) -> VerifyOut:
    """`{name}` is a subdomain linked to a verified wildcard parent: register
    it with the parent's provider so that it sends at once with the parent's
    DKIM identity (Mailgun: a domain whose DKIM authority is the parent;
    SES: the parent's identity covers it), with its SMTP credential where
    the provider has one per domain. Idempotent. Answers as `verify`; a
    provider failure is `provider_error` (the cron does not retry this one:
    call again)."""
    domain.action_provider_register_subdomain()
    return VerifyOut.from_parts(domain._provider_status(), domain._dns_records_to_publish())


PROVIDER_DOC = """Move the domain's sending identity to `provider` (master only).

A verified domain keeps sending through its current provider (relay,
credential, DNS records, verification) while its identity is created and
verified at the new one: the identity is created right after the request
(the polling cron, woken at once), the answer says `next_status`
`not_started`. The records to publish (`records`) then include the new
provider's, and the SPF both includes. Once the new provider verified the
domain (the polling cron, or `GET /domains/{name}/verify-status`), the
domain switches: `provider` is the new one, the old identity is removed,
and the records to publish are the new provider's only. A failure of the
new provider is `next_error`; the domain keeps sending through the old one.

A domain that sends through no provider yet (none, or not verified)
switches at once and is set up at the new provider as a new domain
(`status` `pending`).

Idempotent: the same provider again answers the state of the move (and
starts over a move the new provider refused; one that could not start yet
is retried by the cron anyway); the current provider cancels a move (the
new identity is removed). 422 naming `provider` for an unknown provider; 409
naming `provider` for a subdomain that sends with its parent's identity
(change the parent's)."""


@router.put(
    "/domains/{name}/provider",
    description=PROVIDER_DOC,
    **master_only(
        responses={
            **_NOT_FOUND,
            409: {
                "model": ErrorOut,
                "description": "`provider`: a subdomain sending with its parent's identity",
            },
        }
    ),
)
def change_provider(domain: Domain, body: ProviderIn) -> ProviderChangeOut:
    domain.action_provider_change(body.provider)
    return ProviderChangeOut.from_info(domain._provider_change_info())
