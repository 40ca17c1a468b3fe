"""Route and router classes of the Emboux API: error mapping and optional
trailing slashes.

The OCA fastapi addon strips FastAPI's exception handlers on purpose: an
exception must leave the app so that Odoo's dispatcher rolls the
transaction back (and retries it on a serialisation failure), then
``fastapi.error_handlers.convert_exception_to_status_body`` writes the
response. That function maps ``HTTPException`` as is, but every
``UserError`` to 400 and an ``IntegrityError`` (turned into a
``ValidationError`` by ``odoo.service.model.retrying``) to 400 too.

So :class:`EmbouxRoute` runs each request in a savepoint and converts our
exceptions into ``HTTPException`` with the API contract's codes *before* they leave
the app; they still leave it, so Odoo still rolls back the whole request:

- ``EmbouxInputError``, other ``ValidationError``, not-null and check
  violations: 422, the detail names the field;
- ``EmbouxConflictError``, unique and foreign-key violations (two parallel
  creates), other ``UserError``: 409;
- ``EmbouxQuotaError`` (a tenant quota would be exceeded): 403, the detail
  names the quota;
- ``MissingError``: 404;
- request validation errors: 422 with FastAPI's list of errors, without the
  ``input`` values (a password is never echoed).

Our exceptions carry the field (or quota) in ``field`` and a plain
sentence as message, which staff and customers read as it is; the detail
``<field>: <message>`` is made here, by :func:`field_detail` (which the
Mailgun webhook's 406 uses too): ``name: the domain 'x.org' already exists``.

``AccessError`` keeps the addon's 403; serialisation failures and Odoo's
``ConcurrencyError`` are left alone so that Odoo retries the request.
The savepoint is rolled back on any error, which keeps the cursor usable
(after an IntegrityError) and makes a failed request leave nothing behind
even where nobody rolls the transaction back (tests).
"""

import logging

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
import psycopg2
from psycopg2 import errorcodes
from starlette.exceptions import HTTPException as StarletteHTTPException

from odoo.exceptions import AccessError, MissingError, UserError, ValidationError

from odoo.addons.emboux_core.exceptions import EmbouxConflictError, EmbouxInputError
from odoo.addons.emboux_saas.exceptions import EmbouxQuotaError
from odoo.addons.fastapi.context import odoo_env_ctx

_logger = logging.getLogger(__name__)

BODY_PARSE_ERROR = "There was an error parsing the body"  # fastapi.routing
HTTP_422 = 422  # status.HTTP_422_UNPROCESSABLE_* changed names across starlette versions


# our exceptions and their status codes; each carries ``field``
EMBOUX_ERRORS = (
    (EmbouxInputError, HTTP_422),
    (EmbouxConflictError, status.HTTP_409_CONFLICT),
    (EmbouxQuotaError, status.HTTP_403_FORBIDDEN),
)


def field_detail(exc):
    """The detail of one of our exceptions: ``<field>: <message>``, the
    sentence's first letter in lower case unless its first word is an
    acronym (``API``): ``name: the domain 'x.org' already exists``."""
    message = str(exc.args[0]) if exc.args else ""
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return f"{exc.field}: {message}" if exc.field else message


def _integrity_detail(exc):
    """``name: 'x' already exists`` from PostgreSQL's diagnostics."""
    diag = getattr(exc, "diag", None)
    column = getattr(diag, "column_name", None)
    detail = getattr(diag, "message_detail", None) or ""
    # "Key (name)=(example.com) already exists."
    if detail.startswith("Key (") and ")=(" in detail:
        keys, _sep, rest = detail[len("Key (") :].partition(")=(")
        values = rest.rsplit(")", 1)[0]
        if exc.pgcode == errorcodes.UNIQUE_VIOLATION:
            return f"{keys}: '{values}' already exists"
        return f"{keys}: '{values}' is referenced elsewhere or refers to nothing"
    if column:
        return f"{column}: invalid value"
    constraint = getattr(diag, "constraint_name", None)
    return f"invalid value (constraint {constraint})" if constraint else "invalid value"


def to_http_exception(exc):
    """The ``HTTPException`` answering ``exc``, or None to let it through."""
    if isinstance(exc, StarletteHTTPException):  # FastAPI's own, and its body parser's
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body its JSON decoder gave up on (absurd
            # nesting): invalid input like any other malformed JSON
            return HTTPException(
                status_code=HTTP_422,
                detail=[{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}],
            )
        return None
    if isinstance(exc, RequestValidationError):
        errors = [
            {"type": err.get("type"), "loc": list(err.get("loc", ())), "msg": err.get("msg")}
            for err in exc.errors()
        ]
        return HTTPException(status_code=HTTP_422, detail=errors)
    for exc_type, code in EMBOUX_ERRORS:
        if isinstance(exc, exc_type):
            return HTTPException(status_code=code, detail=field_detail(exc))
    if isinstance(exc, AccessError):
        return None  # the addon answers 403
    if isinstance(exc, MissingError):
        return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not found")
    if isinstance(exc, ValidationError):
        return HTTPException(status_code=HTTP_422, detail=exc.args[0])
    if isinstance(exc, UserError):
        return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=exc.args[0])
    if isinstance(exc, psycopg2.IntegrityError):
        if exc.pgcode in (errorcodes.UNIQUE_VIOLATION, errorcodes.FOREIGN_KEY_VIOLATION):
            code = status.HTTP_409_CONFLICT
        else:  # not null, check, exclusion
            code = HTTP_422
        return HTTPException(status_code=code, detail=_integrity_detail(exc))
    if isinstance(exc, psycopg2.DataError):
        # a value PostgreSQL refuses (out of range, invalid text): bad input
        return HTTPException(status_code=HTTP_422, detail="invalid value")
    return None


def one_statement(endpoint):
    """Mark a route whose writes are one SQL statement (the send
    decision): it runs without the savepoint, two round trips fewer on the
    hot path. A failed statement leaves nothing to undo, and the error
    still leaves the app, so Odoo rolls the request back."""
    endpoint._emboux_one_statement = True
    return endpoint


class EmbouxRoute(APIRoute):
    """Runs the route in a savepoint and maps our exceptions (module doc)."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        in_savepoint = not getattr(self.endpoint, "_emboux_one_statement", False)

        async def emboux_route_handler(request):
            env = odoo_env_ctx.get()
            try:
                if not in_savepoint:
                    return await handler(request)
                # flushed on exit: constraint violations surface in here
                with env.cr.savepoint():
                    return await handler(request)
            except Exception as exc:
                http_exc = to_http_exception(exc)
                if http_exc is None:
                    raise
                if isinstance(exc, psycopg2.Error):
                    _logger.info("%s %s: %s", request.method, request.url.path, exc)
                raise http_exc from exc

        return emboux_route_handler


class EmbouxRouter(APIRouter):
    """An ``APIRouter`` whose routes use :class:`EmbouxRoute` and answer
    with and without a trailing slash, without a redirect (the API contract: trailing
    slash optional everywhere). The twin path stays out of the schema."""

    def __init__(self, **kwargs):
        kwargs.setdefault("route_class", EmbouxRoute)
        super().__init__(**kwargs)

    def add_api_route(self, path, endpoint, **kwargs):
        res = super().add_api_route(path, endpoint, **kwargs)
        twin = path[:-1] if path.endswith("/") else path + "/"
        if twin and twin != "/":
            twin_kwargs = dict(kwargs, include_in_schema=False)
            if twin_kwargs.get("operation_id"):
                twin_kwargs["operation_id"] += "_twin"
            super().add_api_route(twin, endpoint, **twin_kwargs)
        return res


class HTTPExceptionLogLevelMiddleware:
    """Odoo logs an exception leaving a request at ERROR with its traceback,
    unless it carries a ``loglevel`` (``odoo.http.Application.__call__``).
    An ``HTTPException`` is an answer, not a server error: log it at INFO,
    one line (401, 404 of an unknown path, 405, 409, 422, ...)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        except StarletteHTTPException as exc:
            if not hasattr(exc, "loglevel"):
                exc.loglevel = logging.INFO
            raise


class DocsTrailingSlashMiddleware:
    """``/openapi.json/``, ``/docs/`` and ``/redoc/`` answer as without the
    slash (the API contract: trailing slash optional everywhere), instead of
    Starlette's redirect. The routers' own paths have twins
    (:class:`EmbouxRouter`); FastAPI's schema route and the documentation
    pages (``docs.py``, no OAuth2 redirect page: the API has no OAuth2) do
    not."""

    DOC_PATHS = ("/openapi.json", "/docs", "/redoc")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path") or ""
        if scope.get("type") == "http" and path.endswith("/"):
            stripped = path.rstrip("/")
            if stripped.endswith(self.DOC_PATHS):
                scope = dict(scope, path=stripped)
                if scope.get("raw_path"):
                    scope["raw_path"] = scope["raw_path"].rstrip(b"/")
        await self.app(scope, receive, send)
