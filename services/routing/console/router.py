"""Operator console: a web page served by routing, plus the JSON it reads.

The browser talks only to routing (same origin): routing's own operator API for the
inbox and task actions, and the ``/console/api`` routes below, which read routing's
tables and call intake, SLA and notify over HTTP on the server side. Every route checks
the operator's signed token and answers only what the role may see: an official their
unit, a unit head their unit and its statistics, a province supervisor everything.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from services.routing.console import actions, dossiers, health, hints, inbox, names, stats
from services.runtime.problems import ProblemError, problem_responses

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "dossier.js": "text/javascript; charset=utf-8",
    "stats.js": "text/javascript; charset=utf-8",
    "health.js": "text/javascript; charset=utf-8",
}

# The page and its files are not part of the API; the JSON the page reads is.
router = APIRouter()
api = APIRouter(
    prefix="/console/api", tags=["console"], responses=problem_responses(401, 403, 404, 422)
)
for screen in (names.api, inbox.api, dossiers.api, actions.api, stats.api, health.api, hints.api):
    api.include_router(screen)

# --- the page ---------------------------------------------------------------------------


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console/", include_in_schema=False)
async def console_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/console/static/{name}", include_in_schema=False)
async def console_static(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ProblemError(404, "Không tìm thấy tệp")
    return FileResponse(STATIC / name, media_type=media_type)


router.include_router(api)
