"""The API's documentation pages, served without any outside origin.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a
public CDN (and ReDoc its fonts from Google) into the page where people
paste the master token. These routes serve the same pages with the assets
that the pinned ``fastapi-offline`` package ships (Swagger UI 5, which
renders FastAPI's OpenAPI 3.1; ReDoc 2), under ``<prefix>/docs/static/``,
and a Content-Security-Policy that allows the server's own origin only.
The one inline script of each page (Swagger UI's init) is allowed by its
hash. So the docs also work on a host without internet.
"""

import base64
from functools import cache
import hashlib
from importlib.metadata import version
from pathlib import Path
import re

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
import fastapi_offline
from starlette.responses import HTMLResponse, Response

STATIC_DIR = Path(fastapi_offline.__file__).parent / "static"
STATIC_PATH = "/docs/static"
# a new package version is a new URL: the assets can be cached for long
ASSETS_VERSION = version("fastapi-offline")
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

# Swagger UI and ReDoc set inline styles (ReDoc injects <style> elements)
# and load their icons as data: URIs; ReDoc runs its search in a blob:
# worker. Scripts: our origin, and the page's own inline script by hash.
CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def asset_url(root, name):
    return f"{root}{STATIC_PATH}/{name}?v={ASSETS_VERSION}"


def with_csp(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a CSP that allows its inline scripts by their hashes."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in (m.encode() for m in INLINE_SCRIPT.findall(page.body.decode()))
    )
    page.headers["Content-Security-Policy"] = CSP.format(hashes=hashes)
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    app = request.app
    return with_csp(
        get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset_url(root, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(root, "swagger-ui.css"),
            swagger_favicon_url=asset_url(root, "favicon.png"),
            # no badge image from the public validator
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    app = request.app
    return with_csp(
        get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset_url(root, "redoc.standalone.js"),
            redoc_favicon_url=asset_url(root, "favicon.png"),
            with_google_fonts=False,
        )
    )


@cache
def _asset(name):
    return (STATIC_DIR / name).read_bytes()


@router.get(STATIC_PATH + "/{name}")
def docs_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not found")
    return Response(
        _asset(name),
        media_type=media_type,
        headers={
            "Cache-Control": "public, max-age=604800",
            "X-Content-Type-Options": "nosniff",
        },
    )
