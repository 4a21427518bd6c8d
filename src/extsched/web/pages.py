"""Routes serving the settings pages and their static files.

The pages carry no tenant data: the browser holds the credential (SPEC §11) and the scripts read
everything through the JSON API, so these routes need no sign-in. A strict Content Security
Policy lets only the service's own scripts run, whatever text a schedule holds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from extsched import __version__
from extsched.domain.schedule_rules import time_zones

HERE = Path(__file__).parent
STATIC = "/settings/static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["settings pages"])
PAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The page; its scripts read the JSON API", "content": {"text/html": {}}},
    404: {"description": "A URL no page has (one holding NUL)"},
}
templates = Jinja2Templates(directory=HERE / "templates")


@cache
def _zones() -> tuple[str, ...]:
    return tuple(time_zones())


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"static": STATIC, "asset_version": __version__, "zones": _zones(), **context},
        headers=HEADERS,
    )


@router.get("/settings", include_in_schema=False)
async def settings_root() -> RedirectResponse:
    return RedirectResponse("/settings/extensions")


@router.get("/settings/extensions", response_class=HTMLResponse, responses=PAGE)
async def extensions_page(request: Request) -> HTMLResponse:
    return _page(request, "extensions.html", page="extensions")


@router.get("/settings/extensions/{extension_id}", response_class=HTMLResponse, responses=PAGE)
async def extension_page(request: Request, extension_id: str) -> HTMLResponse:
    return _page(request, "extension.html", page="extension", extension_id=extension_id)


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), "settings-static")
