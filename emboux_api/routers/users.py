from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Response, status

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain

from ..dependencies import CallerEnv, Paging, master_or_owner
from ..routing import EmbouxRouter
from ..schemas import ErrorOut, MailboxCreate, MailboxOut, MailboxUpdate, QuotaIn, QuotaOut
from ..schemas.mailbox import MailboxDetailOut

router = EmbouxRouter(tags=["users"])

_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown mailbox, or another tenant's"}}
_QUOTA = {403: {"model": ErrorOut, "description": "max_mailboxes_per_domain would be exceeded"}}


def mailbox_from_path(
    email: Annotated[str, Path(description="Address of the mailbox, any case")],
    env: CallerEnv,
):
    """The mailbox at the address in the path, archived ones included (an
    address that is not valid is unknown too: 404)."""
    try:
        mailbox = env["emboux.mailbox"]._find_by_email(email)
    except EmbouxInputError:
        mailbox = None
    if not mailbox:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Mailbox not found")
    return mailbox


Mailbox = Annotated[Any, Depends(mailbox_from_path)]


@router.post("/users/", status_code=status.HTTP_201_CREATED, **master_or_owner(responses=_QUOTA))
def create_user(body: MailboxCreate, env: CallerEnv) -> MailboxOut:
    """Create a mailbox on a hosted domain. 409 when the address exists (in
    any case), 422 for an invalid address, an unknown domain or a weak
    password (a customer: also a domain that is not its own). `catch_all`
    makes it receive mail for unknown addresses too. A tenant's domain holds
    at most `max_mailboxes_per_domain` mailboxes (403 naming it)."""
    vals = body.model_dump(exclude_none=True)
    mailbox = env["emboux.mailbox"].create(vals)
    return MailboxOut.from_record(mailbox)


@router.get("/users/", **master_or_owner())
def list_users(
    env: CallerEnv,
    page: Paging,
    domain: Annotated[str | None, Query(description="Only this domain's mailboxes")] = None,
) -> list[MailboxOut]:
    """The mailboxes (archived ones included), ordered by address. A `domain`
    that is not hosted gives an empty list."""
    search_domain = []
    if domain is not None:
        search_domain = [("domain_id.name", "=", normalize_domain(domain, field="domain"))]
    mailboxes = (
        env["emboux.mailbox"]
        .with_context(active_test=False)
        .search_fetch(
            search_domain,
            MailboxOut.RECORD_FIELDS,
            limit=page.limit,
            offset=page.offset,
            order="email, id",
        )
    )
    return MailboxOut.from_records(mailboxes)


@router.get("/users/{email}", **master_or_owner(responses=_NOT_FOUND))
def get_user(mailbox: Mailbox) -> MailboxDetailOut:
    """The mailbox, with the storage it uses as Dovecot last reported it
    (`used_mb`, `used_at`: null until first read; read hourly)."""
    return MailboxDetailOut.from_record(mailbox)


@router.put("/users/{email}", **master_or_owner(responses=_NOT_FOUND))
def update_user(mailbox: Mailbox, body: MailboxUpdate) -> MailboxOut:
    """Change the password, display name, active flag (or catch-all)."""
    vals = body.model_dump(exclude_none=True)
    if "name" in body.model_fields_set and body.name is None:
        vals["name"] = False
    if vals:
        mailbox.write(vals)
    return MailboxOut.from_record(mailbox)


@router.delete(
    "/users/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_or_owner(responses=_NOT_FOUND),
)
def delete_user(mailbox: Mailbox) -> Response:
    """Delete the mailbox and the aliases delivering to it."""
    mailbox.unlink()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{email}/quota", **master_or_owner(responses=_NOT_FOUND))
def get_quota(mailbox: Mailbox) -> QuotaOut:
    """The quota and the storage used (`used_mb`, null until Dovecot reported it)."""
    return QuotaOut.from_record(mailbox)


@router.put("/users/{email}/quota", **master_or_owner(responses=_NOT_FOUND))
def set_quota(mailbox: Mailbox, body: QuotaIn) -> QuotaOut:
    """Storage quota in MB; null or 0 means unlimited."""
    mailbox.set_quota(body.quota_mb)
    return QuotaOut.from_record(mailbox)
