"""API docs, Swagger UI at /docs and ReDoc at /redoc, from assets installed with the service.

FastAPI's own docs pages load their scripts from a CDN, so they stay blank on a machine without
internet. The same pages here use the copies that the `fastapi-offline` package ships, under a
Content-Security-Policy that allows this origin only, plus the one inline script Swagger UI starts
from (by its hash). Both UIs style elements inline and draw icons from `data:` URLs; ReDoc runs
its search in a `blob:` worker.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs-assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _urls(request: Request) -> tuple[str, str]:
    """The OpenAPI document's URL and the assets' URL prefix, under the path the app is mounted at behind a
    proxy (uvicorn's --root-path), so the links resolve there too."""
    prefix = request.scope.get("root_path", "").rstrip("/")
    return prefix + request.app.openapi_url, prefix + ASSETS_URL


def with_csp(page: HTMLResponse) -> HTMLResponse:
    """Set the docs CSP on `page`, allowing exactly the inline scripts it contains."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["content-security-policy"] = DOCS_CSP.format(hashes=hashes)
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every route, its schemas and examples, with "Try it out"."""
    openapi_url, assets = _urls(request)
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
    )
    return with_csp(page)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same API description as one reading page."""
    openapi_url, assets = _urls(request)
    page = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} API",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    return with_csp(page)
