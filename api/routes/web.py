"""The chat page: ``/`` and its assets under ``/static``, plain files with no build step.

The page is hand-written ES modules (``api/static/js``), so ``chatstream up`` serves it
as it is in the repository. A strict Content-Security-Policy keeps any text that slips
into the DOM from running as script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ("STATIC_DIR", "mount", "router")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Everything the page loads is its own: no inline script, no third-party origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
_PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

router = APIRouter(tags=["web"])


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers=_PAGE_HEADERS)


class _Assets(StaticFiles):
    """Static files that browsers revalidate (ETag) instead of caching blindly, so an
    upgraded edge never serves a page with yesterday's scripts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")
