import logging
from typing import Any

from fastapi import APIRouter
from starlette.middleware import Middleware

from odoo import api, fields, models
from odoo.modules.module import get_manifest

from odoo.addons.emboux_core.tools import get_config

from ..docs import router as docs_router
from ..routers import ROUTERS, TAGS_METADATA
from ..routing import DocsTrailingSlashMiddleware, HTTPExceptionLogLevelMiddleware

_logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "/api"

API_DESCRIPTION = """
The REST API of the Emboux mail hosting suite: domains, mailboxes (`/users`),
aliases and catch-alls, tenants and their API keys, outbound sending
control (limits, warm-up, spike, the send decision of the Postfix policy
service), mail-provider verification (Mailgun, Amazon SES), DNS checks,
the suppression list and the providers' bounce/complaint webhooks.

**Authentication**: `Authorization: Bearer <token>` or `X-API-Key: <token>`,
either the master token (odoo.conf option `emboux_master_token`, or the
environment variable `EMBOUX_MASTER_TOKEN`, which wins) or a customer API
key (`POST /api-keys/`). Operations marked `x-required-role: master` need
the master token; the others take a customer key too. No, an unknown, an
expired or a revoked token: 401 `{"detail": "Not authenticated"}`; a
customer key on a master operation: 403 `{"detail": "Master token
required"}`. Public: `GET /health`, this schema, the docs, and the two
webhooks, which are authenticated by their providers' signatures instead
(Mailgun: HMAC with `MAILGUN_WEBHOOK_SIGNING_KEY`; SES: the SNS message
signature).

**Tenancy**: a customer sees and changes only its own tenant's domains,
mailboxes and aliases (its requests run as a user that record rules
confine); another tenant's object answers 404, as if it did not exist, and
is never changed. What a customer creates it owns (`partner_ref` is
ignored); the master may create for any `partner_ref` (422 for an unknown
one). A tenant quota that would be exceeded answers 403 with a detail that
starts with the quota's name (`max_domains`, `max_mailboxes_per_domain`,
`max_aliases_per_mailbox`); 0 means unlimited. A domain that the master
suspended only the master can activate (403 `Master token required`).

**Providers**: a new domain sent without `provider` gets the default of
Settings; when Settings names none, the configured one (Mailgun when
`MAILGUN_API_KEY` is set, else SES when `AWS_ENDPOINT_URL_SES` or
`AWS_REGION` is), else none. A provider that fails or times out never
loses the domain: it stays `pending` with `provider_error` set, and a
scheduled action retries.

**Conventions**: paths answer with and without a trailing slash (no redirect).
Errors are `{"detail": ...}`: 404 unknown resource, 409 conflict (already
exists, in any case), 422 invalid input (the detail names the field); a
failed request changes nothing. Lists take `limit` (default 100, at most
1000) and `offset` and are ordered by name. Times are ISO 8601 UTC (`Z`).
Create answers 201 with the object, delete 204, an action or a PUT of
settings 200 with the result. Read-only fields sent in a body are ignored.

**Limits**: a request body is at most 1 MiB (1048576 bytes, the webhooks'
included); a larger one answers 413 `{"detail": "Request body too large:
at most 1048576 bytes"}` before it is parsed, from `Content-Length` or as
soon as a chunked body passes the limit. A header line longer than 64 KiB,
or more than 100 headers, answer 431. A malformed `Accept-Language` is
ignored (the default language).

**Docs**: `/docs` (Swagger UI) and `/redoc` load their scripts and styles
from this server only (`/docs/static/`), under a Content-Security-Policy
that allows no other origin.
"""


class FastapiEndpoint(models.Model):
    _inherit = "fastapi.endpoint"

    app = fields.Selection(selection_add=[("emboux", "Emboux API")], ondelete={"emboux": "cascade"})

    def _get_fastapi_routers(self) -> list[APIRouter]:
        if self.app == "emboux":
            return [*ROUTERS, docs_router]
        return super()._get_fastapi_routers()

    def _get_app_dependencies_overrides(self):
        if self.app == "emboux":
            # none: while an app has any, FastAPI analyses every dependency
            # again on every request (emboux_api/dependencies.py); the
            # routes use neither company_id nor fastapi_endpoint_id
            return {}
        return super()._get_app_dependencies_overrides()

    def _get_fastapi_app_middlewares(self) -> list[Middleware]:
        middlewares = super()._get_fastapi_app_middlewares()
        if self.app == "emboux":
            middlewares = [
                *middlewares,
                Middleware(HTTPExceptionLogLevelMiddleware),
                Middleware(DocsTrailingSlashMiddleware),
            ]
        return middlewares

    def _prepare_fastapi_app_params(self) -> dict[str, Any]:
        params = super()._prepare_fastapi_app_params()
        if self.app == "emboux":
            params.update(
                title="Emboux API",
                version=get_manifest("emboux_api")["version"],
                description=API_DESCRIPTION,
                openapi_tags=[*(params.get("openapi_tags") or []), *TAGS_METADATA],
                # served by ..docs, without a CDN
                docs_url=None,
                redoc_url=None,
            )
        return params

    # ------------------------------------------------------------------
    # The shipped endpoint follows the configured prefix
    # ------------------------------------------------------------------
    @api.model
    def _emboux_root_path(self) -> str:
        """``emboux_api_prefix`` (env ``EMBOUX_API_PREFIX`` wins), cleaned:
        one leading slash, no trailing one; ``/api`` when unset."""
        prefix = get_config("emboux_api_prefix", default=DEFAULT_PREFIX)
        parts = [part for part in str(prefix).strip().split("/") if part]
        return "/" + "/".join(parts) if parts else DEFAULT_PREFIX

    @api.model
    def _emboux_sync_endpoint(self):
        """Give the shipped endpoint the configured root path and make sure
        its routes are in the endpoint registry (synced when the transaction
        commits). Called by the post-init hook and at every registry load,
        so a server started with another ``EMBOUX_API_PREFIX`` serves there."""
        endpoint = self.env.ref("emboux_api.endpoint_emboux_api", raise_if_not_found=False)
        if not endpoint:
            return
        endpoint = endpoint.sudo()
        root_path = self._emboux_root_path()
        if endpoint.root_path != root_path:
            clash = (
                self.sudo()
                .with_context(active_test=False)
                .search([("root_path", "=", root_path), ("id", "!=", endpoint.id)], limit=1)
            )
            if clash:
                _logger.error(
                    "Emboux API: prefix %s is already used by the endpoint %r; the API stays on %s",
                    root_path,
                    clash.name,
                    endpoint.root_path,
                )
            else:
                _logger.info(
                    "Emboux API: moving from %s to the configured prefix %s",
                    endpoint.root_path,
                    root_path,
                )
                endpoint.root_path = root_path
        if endpoint.active and not endpoint.registry_sync:
            endpoint.action_sync_registry()

    def _register_hook(self):
        super()._register_hook()
        try:
            with self.env.cr.savepoint():
                self._emboux_sync_endpoint()
        except Exception:
            # another worker may be doing the same right now; never let
            # this stop the registry from loading
            _logger.warning("Emboux API: could not sync the endpoint", exc_info=True)
