"""The attention viewer page: one static HTML page whose script calls the public API (no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"  # the page's script, stylesheet and icon
# Outside STATIC_DIR, so the page is served only here, with its Content-Security-Policy.
PAGE_FILE = Path(__file__).resolve().parents[1] / "page.html"
# The page loads only its own script and stylesheet and calls only this origin; nothing inline, no framing.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["page"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The viewer: a text box, examples, and each result as a heat map over the user's own text."""
    return FileResponse(PAGE_FILE, media_type="text/html; charset=utf-8", headers={"content-security-policy": PAGE_CSP})
