"""503 instead of 500 when intake cannot take work: its queue is full or PostgreSQL is
unreachable (also on routes that only read, and in the portal-key check)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.intake.groupcommit import UNAVAILABLE_ERRORS, ServiceUnavailable, unavailable
from services.runtime.problems import problem_response

log = logging.getLogger(__name__)


def _answer(refusal: ServiceUnavailable) -> JSONResponse:
    response = problem_response(refusal.status, refusal.title, refusal.detail)
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def install_unavailable_handlers(app: FastAPI) -> None:
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceUnavailable)
        return _answer(exc)

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: PostgreSQL unavailable: %r", request.method, request.url.path, exc)
        return _answer(unavailable())

    app.add_exception_handler(ServiceUnavailable, refused)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, outage)
