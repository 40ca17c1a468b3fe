from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Response, status

from odoo.addons.emboux_core.exceptions import EmbouxInputError

from ..dependencies import (
    AuthenticatedCaller,
    CallerEnv,
    Paging,
    master_body_when_refused,
    master_only,
    master_or_owner,
)
from ..routing import EmbouxRouter
from ..schemas import (
    DomainCreate,
    DomainOut,
    ErrorOut,
    OwnerIn,
    ParentIn,
    RetentionIn,
    RetentionOut,
    TransferIn,
    TransferOut,
)

router = EmbouxRouter(tags=["domains"])

_NOT_FOUND = {
    404: {"model": ErrorOut, "description": "Unknown domain, or another tenant's"},
}
_QUOTA = {403: {"model": ErrorOut, "description": "A tenant quota would be exceeded"}}


DomainName = Annotated[str, Path(description="Domain name, any case, Unicode or punycode")]


def find_domain(env, name):
    """The domain called ``name`` that the caller may see, else 404 (a name
    that is no valid domain name is unknown too: the API contract, reading
    an unknown name answers 404)."""
    try:
        domain = env["emboux.domain"]._find_by_name(name)
    except EmbouxInputError:
        domain = None
    if not domain:
        raise domain_not_found()
    return domain


def domain_not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Domain not found")


def domain_from_path(name: DomainName, env: CallerEnv):
    """The domain named in the path (404 when unknown or not the caller's)."""
    return find_domain(env, name)


Domain = Annotated[Any, Depends(domain_from_path)]


@router.post(
    "/domains/",
    status_code=status.HTTP_201_CREATED,
    **master_or_owner(
        responses={
            **_QUOTA,
            409: {"model": ErrorOut, "description": "The domain exists"},
        }
    ),
)
def create_domain(body: DomainCreate, caller: AuthenticatedCaller) -> DomainOut:
    """Create a domain. 409 when it exists (in any case), 422 for an invalid
    name. The master may give `partner_ref` (an unknown one is 422 naming
    it); a customer always owns what it creates, whatever `partner_ref` it
    sends. A domain of a tenant takes one of its `max_domains` slots (403
    naming `max_domains` when none is left, even for two parallel creates).
    `sub.example.com` links itself to a wildcard parent `example.com`; a
    customer cannot create a subdomain of a domain hosted for someone else
    (409).

    The provider (`provider`, else the default of Settings) is not called
    during the request: a domain with one answers `verification_status`
    `pending` at once, and its identity is created at the provider right
    after the commit (a subdomain of a wildcard parent with a provider is
    registered with the parent's identity instead), retried until the
    provider answers. `POST /domains/{name}/verify` does it now."""
    vals = {"name": body.name}
    if body.provider:
        vals["provider"] = body.provider
    if caller.is_master and body.partner_ref:
        vals["partner_ref"] = body.partner_ref
    domain = caller.env["emboux.domain"].create(vals)
    return DomainOut.from_record(domain)


@router.get("/domains/", **master_or_owner())
def list_domains(env: CallerEnv, page: Paging) -> list[DomainOut]:
    """The domains, ordered by name: all of them for the master, its own
    for a customer."""
    domains = env["emboux.domain"].search_fetch(
        [], DomainOut.RECORD_FIELDS, limit=page.limit, offset=page.offset, order="name, id"
    )
    return DomainOut.from_records(domains)


@router.get("/domains/{name}", **master_or_owner(responses=_NOT_FOUND))
def get_domain(domain: Domain) -> DomainOut:
    return DomainOut.from_record(domain)


@router.delete(
    "/domains/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_or_owner(responses=_NOT_FOUND),
)
def delete_domain(domain: Domain) -> Response:
    """Delete the domain with its mailboxes and aliases; its tenant gets
    the slot back. Its identity at the provider (a subdomain's
    registration) is removed after the commit."""
    domain.unlink()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/domains/{name}/suspend", **master_or_owner(responses=_NOT_FOUND))
def suspend_domain(domain: Domain) -> DomainOut:
    """Freeze delivery and logins; every message and setting is kept. Idempotent."""
    domain.action_suspend()
    return DomainOut.from_record(domain)


@router.put(
    "/domains/{name}/activate",
    **master_or_owner(
        responses={
            **_NOT_FOUND,
            403: {
                "model": ErrorOut,
                "description": "Master token required: the master (or staff) suspended this domain",
            },
        }
    ),
)
def activate_domain(domain: Domain, caller: AuthenticatedCaller) -> DomainOut:
    """Restore a suspended domain. Idempotent. A customer may activate a
    domain it suspended itself; one that the master or staff suspended
    only the master can activate (403 `Master token required`)."""
    with master_body_when_refused(caller):
        domain.action_activate()
    return DomainOut.from_record(domain)


@router.get("/domains/{name}/retention", **master_or_owner(responses=_NOT_FOUND))
def get_retention(domain: Domain) -> RetentionOut:
    return RetentionOut.from_record(domain)


@router.put("/domains/{name}/retention", **master_only(responses=_NOT_FOUND))
def set_retention(domain: Domain, body: RetentionIn) -> RetentionOut:
    """Days after which mail is purged; null or 0 keeps mail forever."""
    domain.set_retention(body.retention_days)
    return RetentionOut.from_record(domain)


@router.post("/domains/{name}/retention/purge", **master_only(responses=_NOT_FOUND))
def purge_retention(domain: Domain) -> RetentionOut:
    """Run the retention purge of this domain now: Dovecot expunges, in
    every folder of each of its mailboxes, the messages received more than
    `retention_days` days ago. Answers the retention object; a Dovecot that
    failed is in `last_purge_error` (200: the attempt is recorded). 422
    naming `status` for a suspended domain (never purged), naming
    `retention_days` for a domain that keeps mail forever."""
    domain.action_purge_retention()
    return RetentionOut.from_record(domain)


@router.get("/domains/{name}/transfer", **master_or_owner(responses=_NOT_FOUND))
def get_transfer(domain: Domain) -> TransferOut:
    return TransferOut.from_record(domain)


@router.put("/domains/{name}/transfer", **master_only(responses=_NOT_FOUND))
def set_transfer(domain: Domain, body: TransferIn) -> TransferOut:
    """Monthly transfer limit in MB; null or 0 means unlimited."""
    domain.set_transfer_limit(body.monthly_transfer_limit_mb)
    return TransferOut.from_record(domain)


@router.put("/domains/{name}/parent", **master_only(responses=_NOT_FOUND))
def set_parent(domain: Domain, body: ParentIn) -> DomainOut:
    """Link the domain to a parent (`parent`: its name; null unlinks; not
    sent: unchanged) and make it a wildcard parent or not (`wildcard`; not
    sent: unchanged). A new wildcard parent adopts its existing subdomains.
    422 naming `parent` for an unknown parent or one the domain is not a
    subdomain of."""
    parent = body.parent if "parent" in body.model_fields_set else domain.parent_id
    domain.set_parent(parent or None, wildcard=body.wildcard)
    return DomainOut.from_record(domain)


@router.put(
    "/domains/{name}/owner",
    **master_only(
        responses={
            **_NOT_FOUND,
            409: {"model": ErrorOut, "description": "The new owner has no active API key"},
        }
    ),
)
def set_owner(domain: Domain, body: OwnerIn) -> DomainOut:
    """Give the domain, with its mailboxes and aliases, to the tenant
    `partner_ref`, atomically: both tenants' `domains_used` move in the same
    transaction. 409 when that tenant has no active API key, 403 naming
    `max_domains` when it has no free slot, 422 naming `partner_ref` for an
    unknown tenant."""
    domain.action_transfer_owner(body.partner_ref)
    return DomainOut.from_record(domain)
