from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Response, status

from ..dependencies import CallerEnv, Paging, master_only
from ..routing import EmbouxRouter
from ..schemas import (
    DomainCreate,
    DomainOut,
    ErrorOut,
    RetentionIn,
    RetentionOut,
    TransferIn,
    TransferOut,
)

router = EmbouxRouter(tags=["domains"])

_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown domain"}}


def domain_from_path(
    name: Annotated[str, Path(description="Domain name, any case, Unicode or punycode")],
    env: CallerEnv,
):
    """The domain named in the path (404 when unknown or not the caller's)."""
    domain = env["emboux.domain"]._find_by_name(name)
    if not domain:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Domain not found")
    return domain


Domain = Annotated[Any, Depends(domain_from_path)]


@router.post("/domains/", status_code=status.HTTP_201_CREATED, **master_only())
def create_domain(body: DomainCreate, env: CallerEnv) -> DomainOut:
    """Create a domain. 409 when it exists (in any case), 422 for an invalid name."""
    domain = env["emboux.domain"].create({"name": body.name})
    return DomainOut.from_record(domain)


@router.get("/domains/", **master_only())
def list_domains(env: CallerEnv, page: Paging) -> list[DomainOut]:
    """The domains, ordered by name."""
    domains = env["emboux.domain"].search(
        [], limit=page.limit, offset=page.offset, order="name, id"
    )
    return [DomainOut.from_record(domain) for domain in domains]


@router.get("/domains/{name}", **master_only(responses=_NOT_FOUND))
def get_domain(domain: Domain) -> DomainOut:
    return DomainOut.from_record(domain)


@router.delete(
    "/domains/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_only(responses=_NOT_FOUND),
)
def delete_domain(domain: Domain) -> Response:
    """Delete the domain with its mailboxes and aliases."""
    domain.unlink()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/domains/{name}/suspend", **master_only(responses=_NOT_FOUND))
def suspend_domain(domain: Domain) -> DomainOut:
    """Freeze delivery and logins; every message and setting is kept. Idempotent."""
    domain.action_suspend()
    return DomainOut.from_record(domain)


@router.put("/domains/{name}/activate", **master_only(responses=_NOT_FOUND))
def activate_domain(domain: Domain) -> DomainOut:
    """Restore a suspended domain. Idempotent."""
    domain.action_activate()
    return DomainOut.from_record(domain)


@router.get("/domains/{name}/retention", **master_only(responses=_NOT_FOUND))
def get_retention(domain: Domain) -> RetentionOut:
    return RetentionOut.from_record(domain)


@router.put("/domains/{name}/retention", **master_only(responses=_NOT_FOUND))
def set_retention(domain: Domain, body: RetentionIn) -> RetentionOut:
    """Days after which mail is purged; null or 0 keeps mail forever."""
    domain.set_retention(body.retention_days)
    return RetentionOut.from_record(domain)


@router.get("/domains/{name}/transfer", **master_only(responses=_NOT_FOUND))
def get_transfer(domain: Domain) -> TransferOut:
    return TransferOut.from_record(domain)


@router.put("/domains/{name}/transfer", **master_only(responses=_NOT_FOUND))
def set_transfer(domain: Domain, body: TransferIn) -> TransferOut:
    """Monthly transfer limit in MB; null or 0 means unlimited."""
    domain.set_transfer_limit(body.monthly_transfer_limit_mb)
    return TransferOut.from_record(domain)
