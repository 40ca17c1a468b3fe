"""API keys, tenants, usage and delta sync (the API contract)."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse

from ..dependencies import AuthenticatedCaller, CallerEnv, Paging, master_only, master_or_owner
from ..routing import EmbouxRouter
from ..schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ErrorOut,
    TenantIn,
    TenantOut,
    UsageOut,
)
from ..schemas.common import Text

keys_router = EmbouxRouter(tags=["api-keys"])
tenants_router = EmbouxRouter(tags=["tenants"])

_KEY_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown API key"}}
_TENANT_NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown tenant"}}


def _not_found(what):
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


# ----------------------------------------------------------------------
# API keys
# ----------------------------------------------------------------------
@keys_router.post("/api-keys/", status_code=status.HTTP_201_CREATED, **master_only())
def create_api_key(body: ApiKeyCreate, env: CallerEnv) -> ApiKeyCreated:
    """Make an API key for the tenant `partner_ref`, creating the tenant
    (and its customer) when new. The answer holds the token, this once
    only: only its hash is stored. 422 naming the field for an invalid
    `partner_ref`, an empty `name` or an `expires_at` not in the future."""
    tenant = env["emboux.tenant"]._get_or_create(body.partner_ref)
    key, token = env["emboux.api.key"].generate(tenant, body.name, expires_at=body.expires_at)
    return ApiKeyCreated.from_record(key, token)


@keys_router.get("/api-keys/", **master_only())
def list_api_keys(
    env: CallerEnv,
    page: Paging,
    partner_ref: Annotated[Text | None, Query(description="Only this tenant's keys")] = None,
) -> list[ApiKeyOut]:
    """Every API key, revoked and expired ones included (see `state`),
    ordered by name then id; never a token. An unknown `partner_ref` gives
    an empty list."""
    search_domain = []
    if partner_ref is not None:
        search_domain = [("tenant_id.partner_ref", "=", partner_ref.strip())]
    keys = (
        env["emboux.api.key"]
        .with_context(active_test=False)
        .search_fetch(
            search_domain,
            ApiKeyOut.RECORD_FIELDS,
            limit=page.limit,
            offset=page.offset,
            order="name, id",
        )
    )
    return ApiKeyOut.from_records(keys)


@keys_router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    **master_only(responses=_KEY_NOT_FOUND),
)
def revoke_api_key(
    env: CallerEnv,
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's `id`")],
) -> Response:
    """Revoke the key: it answers 401 from now on. The key stays listed
    (`state` "revoked"); revoking it again changes nothing (204)."""
    key = env["emboux.api.key"].with_context(active_test=False).browse(key_id).exists()
    if not key:
        raise _not_found("API key")
    key.action_revoke()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@keys_router.get(
    "/api-keys/{token}/usage",
    response_model=UsageOut,
    **master_or_owner(
        responses={
            404: {
                "model": ErrorOut,
                "description": "Unknown, expired or revoked token; for a customer, "
                "any token but its own",
            }
        }
    ),
)
def api_key_usage(
    caller: AuthenticatedCaller,
    token: Annotated[str, Path(description="The API key itself")],
    since: Annotated[
        str | None,
        Query(
            description="ISO 8601 time, normally the `server_time` of the previous answer: "
            "adds `changes`, what changed or was deleted at or after it"
        ),
    ] = None,
) -> Any:
    """The key's tenant: its quotas and usage and, with `since`, the
    domains, mailboxes (`users`) and aliases changed at or after that time
    and what was deleted (`deleted`, an alias with its `destination`). Pass
    the answer's `server_time` as the next `since` to miss nothing (some
    objects may come twice). A domain moved to another tenant counts as
    deleted for its former tenant.

    The master may ask about any valid key. A customer may ask about its
    own token only (the one it calls with): any other token, of its own
    tenant or another, answers 404, so the route never tells whether a
    token exists. Unknown, expired and revoked tokens: 404."""
    key = caller.env["emboux.api.key"]._for_usage(token, caller.api_key, caller.token)
    if not key:
        raise _not_found("API key")
    return JSONResponse(UsageOut.from_usage(key._usage(since=since)).as_json())


# ----------------------------------------------------------------------
# tenants
# ----------------------------------------------------------------------
def tenant_from_path(
    partner_ref: Annotated[str, Path(description="The tenant's reference (case matters)")],
    env: CallerEnv,
):
    tenant = env["emboux.tenant"]._find_by_ref(partner_ref)
    if not tenant:
        raise _not_found("Tenant")
    return tenant


Tenant = Annotated[Any, Depends(tenant_from_path)]


@tenants_router.get("/tenants/{partner_ref}", **master_only(responses=_TENANT_NOT_FOUND))
def get_tenant(tenant: Tenant) -> TenantOut:
    """The tenant's quotas (0 means unlimited) and its exact `domains_used`."""
    return TenantOut.from_record(tenant)


@tenants_router.put("/tenants/{partner_ref}", **master_only(responses=_TENANT_NOT_FOUND))
def update_tenant(tenant: Tenant, body: TenantIn) -> TenantOut:
    """Change the quotas (non-negative whole numbers, 0 unlimited) and the
    customer's name; fields not sent (or null) are unchanged, `partner_ref`
    and `domains_used` are read-only (ignored). Lowering a quota below the
    current use refuses new objects only. A tenant is created by
    `POST /api-keys/`; an unknown one answers 404 here."""
    quotas = body.model_dump(exclude_none=True, exclude={"name"})
    if quotas:
        tenant.set_quotas(**quotas)
    if body.name is not None:
        tenant.set_name(body.name)
    return TenantOut.from_record(tenant)
