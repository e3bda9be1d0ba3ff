"""API docs, Swagger UI at /docs and ReDoc at /redoc, from assets installed with the service.

FastAPI's own docs pages load their scripts from a CDN, so they stay blank on a machine without
internet. The same pages here use the copies that the `fastapi-offline` package ships.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    """The path the app is mounted under behind a proxy (uvicorn's --root-path), so links resolve there too."""
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every route, its schemas and examples, with "Try it out"."""
    prefix = _prefix(request)
    return get_swagger_ui_html(
        openapi_url=prefix + request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{prefix}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{prefix}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{prefix}{ASSETS_URL}/favicon.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same API description as one reading page."""
    prefix = _prefix(request)
    return get_redoc_html(
        openapi_url=prefix + request.app.openapi_url,
        title=f"{request.app.title} API",
        redoc_js_url=f"{prefix}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{prefix}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
