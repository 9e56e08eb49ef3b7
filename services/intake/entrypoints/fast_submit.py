"""The portals' submission route without the framework's per-request machinery.

``POST /v1/dossiers`` is intake's hot route. FastAPI's dependency solving, route matching
and response handling cost about as much CPU as the submission's own checks. This plain
ASGI layer sits inside every middleware (tracing, age shedding, size limit, strict JSON)
and answers the usual request itself: a JSON body that validates as ``SubmitDossier``, a
known portal key, an acceptable ``Idempotency-Key``. It calls the same handler the route
calls and answers with the app's own exception handlers. Anything else (no or an unknown
key, a body that does not parse or validate, a service token, an odd header) goes on to
the FastAPI route with its body replayed, which answers exactly as it always has; the
OpenAPI document still describes that route.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.intake_api import SubmitDossier
from services.intake.entrypoints.http import router, submit_for_portal
from services.intake.entrypoints.security import portal_of_key
from services.intake.handlers import IntakeContext
from services.runtime.strict_json import replay_body

PATH = "/v1/dossiers"
# The headers that decide the fast path: the first of each, as Starlette reads them.
_WANTED = frozenset({b"content-type", b"x-api-key", b"idempotency-key", b"x-service-token"})
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class FastSubmission:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self._route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = _first_headers(scope)
        ctx: IntakeContext | None = self.owner.state.runtime.state.get("intake")
        if ctx is None or not _usual(headers):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away mid-body
            return
        submission = _parse(body)
        if submission is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"], scope["path_params"] = self.route(), {}  # for the span and metrics
        try:
            portal = await portal_of_key(ctx, headers[b"x-api-key"])
            if portal is None:  # the route answers the unknown key
                await self.app(scope, replay_body(body, receive), send)
                return
            status, payload = await submit_for_portal(
                ctx, portal, submission, headers.get(b"idempotency-key")
            )
            response: Response = JSONResponse(payload, status_code=status)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            answer = handler(Request(scope, receive), exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def route(self) -> APIRoute:
        if self._route is None:
            self._route = next(
                r
                for r in router.routes  # the app's own list nests included routers
                if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ())
            )
        return self._route

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for ``exc``, looked up as Starlette does (by class, MRO)."""
        handlers: dict[Any, Handler] = self.owner.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


def _first_headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        name = key.lower()
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _usual(headers: dict[bytes, str]) -> bool:
    """A portal's JSON submission whose headers the route would accept as they are."""
    media = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
    key = headers.get(b"idempotency-key")
    return (
        media == "application/json"
        and bool(headers.get(b"x-api-key"))
        and b"x-service-token" not in headers
        and (key is None or 1 <= len(key) <= 128)
    )


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _parse(body: bytes) -> SubmitDossier | None:
    """The body as the route would read it (``json`` then the model in Python mode)."""
    try:
        return SubmitDossier.model_validate(json.loads(body))
    except (ValueError, RecursionError, ValidationError):
        return None


def install_fast_submission(app: FastAPI) -> None:
    """Innermost of the app's middleware, so every other one still sees the request.

    ``add_middleware`` puts a layer outermost; this one goes to the end of the list."""
    app.user_middleware.append(Middleware(FastSubmission, owner=app))
