from typing import Annotated

from fastapi import HTTPException, Path, Query, Response, status

from odoo.addons.emboux_core.exceptions import EmbouxInputError
from odoo.addons.emboux_core.tools import normalize_domain, normalize_email

from ..dependencies import CallerEnv, Paging, master_or_owner
from ..routing import EmbouxRouter
from ..schemas import AliasCreate, AliasOut, ErrorOut

router = EmbouxRouter(tags=["aliases"])


@router.post(
    "/aliases/",
    status_code=status.HTTP_201_CREATED,
    **master_or_owner(
        responses={
            200: {"model": AliasOut, "description": "The alias existed"},
            403: {"model": ErrorOut, "description": "max_aliases_per_mailbox would be exceeded"},
        }
    ),
)
def upsert_alias(body: AliasCreate, env: CallerEnv, response: Response) -> AliasOut:
    """Create the alias `source -> destination` (201), or answer the
    existing one (200). A source `@domain` is the domain's catch-all. A
    customer's source must be on one of its domains (422 naming `source`);
    a tenant may have at most `max_aliases_per_mailbox` rows delivering to
    one address (403 naming it)."""
    alias, created = env["emboux.alias"].upsert(body.source, body.destination)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return AliasOut.from_record(alias)


@router.get("/aliases/", **master_or_owner())
def list_aliases(
    env: CallerEnv,
    page: Paging,
    domain: Annotated[str | None, Query(description="Only this domain's aliases")] = None,
) -> list[AliasOut]:
    """The aliases, ordered by source then destination. A `domain` that is
    not hosted gives an empty list."""
    search_domain = []
    if domain is not None:
        search_domain = [("domain_id.name", "=", normalize_domain(domain, field="domain"))]
    aliases = env["emboux.alias"].search_fetch(
        search_domain,
        AliasOut.RECORD_FIELDS,
        limit=page.limit,
        offset=page.offset,
        order="source, destination, id",
    )
    return AliasOut.from_records(aliases)


@router.delete(
    "/aliases/{source}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_or_owner(responses={404: {"model": ErrorOut, "description": "No such alias"}}),
)
def delete_alias(
    env: CallerEnv,
    source: Annotated[str, Path(description="An address, or '@domain' for a catch-all")],
    destination: Annotated[
        str | None, Query(description="Delete only this row; else every row of the source")
    ] = None,
) -> Response:
    try:
        aliases = env["emboux.alias"]._find_by_source(source)
    except EmbouxInputError:  # no valid source is an unknown one
        aliases = env["emboux.alias"]
    if destination is not None:
        destination = normalize_email(destination, field="destination")
        aliases = aliases.filtered(lambda alias: alias.destination == destination)
    if not aliases:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Alias not found")
    aliases.unlink()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
