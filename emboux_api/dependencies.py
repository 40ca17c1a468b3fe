"""Authentication and shared dependencies of the Emboux REST API.

Who may call what is decided here, once, and a route only declares its
role by spreading :func:`master_only` (role M of the API contract) or
:func:`master_or_owner` (role C) into its decorator::

    @router.get("/domains/", **master_only())

Making a route C is the one-line change ``master_only`` ->
``master_or_owner``.

The caller is :func:`authenticated_caller_impl`: :func:`master_caller`
first, then the token is looked up among the tenants' keys
(:func:`customer_caller`), which answers a :class:`Caller` with role
``customer``, the tenant's partner and the environment of the tenant's
technical portal user, which the record rules confine to the tenant
(``authenticated_partner_id`` is in its context too, see
``fastapi/models/ir_rule.py``); an unknown, expired or revoked key is
:func:`not_authenticated`. Routes never change.

The Emboux app declares no ``dependency_overrides`` (not even the fastapi
addon's ``company_id`` and ``fastapi_endpoint_id``, which its routes do not
use): while an app has any, FastAPI analyses every dependency of every
request again (``get_dependant`` in ``solve_dependencies``), about a third
of a request's time in the worker.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from odoo.api import Environment
from odoo.exceptions import AccessError

from odoo.addons.emboux_core.tools import is_master_token
from odoo.addons.emboux_saas.audit import (
    ACTOR_API_KEY,
    MASTER_ACTOR,
    AuditActor,
    actor_context,
)
from odoo.addons.fastapi.dependencies import odoo_env

from .schemas import ErrorOut

ROLE_MASTER = "master"
ROLE_CUSTOMER = "customer"

NOT_AUTHENTICATED = "Not authenticated"
MASTER_TOKEN_REQUIRED = "Master token required"

MAX_INT = 2**31 - 1
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="Bearer",
    description="`Authorization: Bearer <token>`: the master token or a customer API key.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="X-API-Key",
    description="`X-API-Key: <token>`, the same tokens as the Bearer scheme.",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request.

    ``env`` is the environment the route works in: the API's technical user
    for the master, the tenant's technical portal user (confined by record
    rules) for a customer. ``partner``, ``tenant``, ``api_key`` and
    ``token`` are the customer's (None for the master).
    """

    role: str
    env: Environment
    partner: Any = None
    tenant: Any = None
    api_key: Any = None
    token: str | None = field(default=None, repr=False)

    @property
    def is_master(self) -> bool:
        return self.role == ROLE_MASTER


def not_authenticated() -> HTTPException:
    """401 ``{"detail": "Not authenticated"}``: no, unknown, expired or
    revoked token."""
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=NOT_AUTHENTICATED,
        headers={"WWW-Authenticate": "Bearer"},
    )


# The dependencies that do no I/O are coroutines: FastAPI runs a plain
# function dependency in a worker thread (a thread hop each), a coroutine in
# the event loop at once.
async def api_token(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> str | None:
    """The token of the request: ``Authorization: Bearer``, else ``X-API-Key``."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    return api_key or None


def master_caller(token: str | None, env: Environment) -> Caller | None:
    """The master caller when ``token`` is the master token, else None.
    The staff audit trail credits its changes to the master token."""
    if is_master_token(token):
        return Caller(role=ROLE_MASTER, env=env(context=actor_context(env.context, MASTER_ACTOR)))
    return None


async def authenticated_caller_impl(
    token: Annotated[str | None, Depends(api_token)],
    env: Annotated[Environment, Depends(odoo_env)],
) -> Caller:
    """Who is calling: the master token (:func:`master_caller`, no I/O: in
    the event loop), else a customer API key (:func:`customer_caller`,
    which reads the database: in a worker thread, as FastAPI runs a plain
    dependency); 401 otherwise. Tests and other apps may replace it through
    FastAPI's ``dependency_overrides``; the Emboux app itself declares no
    override (see the module doc)."""
    caller = master_caller(token, env) or await run_in_threadpool(customer_caller, token, env)
    if caller is None:
        raise not_authenticated()
    return caller


def customer_caller(token: str | None, env: Environment) -> Caller | None:
    """The customer caller of a valid API key (not expired, not revoked),
    else None. Its environment is the tenant's technical portal user's, so
    record rules confine every route to the tenant. The staff audit trail
    credits its changes to the key (its name and token prefix)."""
    if not token:
        return None
    key = env["emboux.api.key"]._authenticate(token)
    if not key:
        return None
    tenant = key.sudo().tenant_id
    user = tenant.user_id
    if not tenant or not user or not user.active:
        return None
    partner = tenant.partner_id
    customer_env = env(
        user=user.id,
        su=False,
        context=actor_context(
            dict(env.context, authenticated_partner_id=partner.id),
            AuditActor(ACTOR_API_KEY, key.name, key.prefix),
        ),
    )
    return Caller(
        role=ROLE_CUSTOMER,
        env=customer_env,
        partner=partner.with_env(customer_env),
        tenant=tenant.with_env(customer_env),
        api_key=key.with_env(customer_env),
        token=token,
    )


async def authenticated_caller(
    caller: Annotated[Caller, Depends(authenticated_caller_impl)],
) -> Caller:
    """Depend on this (never on the ``_impl``) to get the caller."""
    return caller


async def master_required(caller: Annotated[Caller, Depends(authenticated_caller)]) -> Caller:
    """403 ``{"detail": "Master token required"}`` for any other caller."""
    if not caller.is_master:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=MASTER_TOKEN_REQUIRED)
    return caller


@contextmanager
def master_body_when_refused(caller):
    """Around a model method that refuses a customer what only the master
    may do (an ``AccessError``: a master-only field, activating a domain the
    master suspended): the API contract's exact 403 body. The master's
    refusals are not rewritten."""
    try:
        yield
    except AccessError as exc:
        if caller.is_master:
            raise
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail=MASTER_TOKEN_REQUIRED
        ) from exc


async def caller_env(caller: Annotated[Caller, Depends(authenticated_caller)]) -> Environment:
    """The environment a route works in (see :class:`Caller`)."""
    return caller.env


CallerEnv = Annotated[Environment, Depends(caller_env)]
AuthenticatedCaller = Annotated[Caller, Depends(authenticated_caller)]

_AUTH_RESPONSES = {
    401: {"model": ErrorOut, "description": "No, unknown, expired or revoked token"},
}


def master_only(**route_kwargs) -> dict:
    """Role M: the master token only; ``x-required-role: master`` in OpenAPI."""
    responses = {
        **_AUTH_RESPONSES,
        403: {"model": ErrorOut, "description": "Master token required"},
        **route_kwargs.pop("responses", {}),
    }
    openapi_extra = {"x-required-role": ROLE_MASTER, **route_kwargs.pop("openapi_extra", {})}
    dependencies = [Depends(master_required), *route_kwargs.pop("dependencies", [])]
    return dict(
        dependencies=dependencies, openapi_extra=openapi_extra, responses=responses, **route_kwargs
    )


def master_or_owner(**route_kwargs) -> dict:
    """Role C: the master or the customer owning the resource. Ownership is
    enforced by the record rules of the caller's environment: another
    tenant's resource is simply not found (404)."""
    responses = {**_AUTH_RESPONSES, **route_kwargs.pop("responses", {})}
    dependencies = [Depends(authenticated_caller), *route_kwargs.pop("dependencies", [])]
    return dict(dependencies=dependencies, responses=responses, **route_kwargs)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def paging(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} rows")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


Paging = Annotated[Page, Depends(paging)]
