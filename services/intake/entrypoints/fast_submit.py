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

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.intake_api import SubmitDossier
from services.intake.entrypoints.http import router, submit_for_portal
from services.intake.entrypoints.security import portal_of_key
from services.intake.handlers import IntakeContext
from services.runtime.fast_path import (
    answer,
    first_headers,
    install_innermost,
    parse_body,
    route_of,
)
from services.runtime.strict_json import read_body, replay_body

PATH = "/v1/dossiers"
# The headers that decide the fast path: the first of each, as Starlette reads them.
_WANTED = frozenset({b"content-type", b"x-api-key", b"idempotency-key", b"x-service-token"})


class FastSubmission:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.route = route_of(router, PATH, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope, _WANTED)
        ctx: IntakeContext | None = self.owner.state.runtime.state.get("intake")
        if ctx is None or not _usual(headers):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away mid-body
            return
        replayed = replay_body(body, receive)
        submission = parse_body(SubmitDossier, body)
        if submission is None:
            await self.app(scope, replayed, send)
            return
        scope["route"], scope["path_params"] = self.route, {}  # for the span and metrics

        async def submit() -> Response | None:
            assert ctx is not None and submission is not None
            portal = await portal_of_key(ctx, headers[b"x-api-key"])
            if portal is None:  # the route answers the unknown key
                return None
            status, payload = await submit_for_portal(
                ctx, portal, submission, headers.get(b"idempotency-key")
            )
            return JSONResponse(payload, status_code=status)

        await answer(self.owner, scope, replayed, send, submit, self.app)


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


def install_fast_submission(app: FastAPI) -> None:
    """Innermost of the app's middleware, so every other one still sees the request."""
    install_innermost(app, FastSubmission, owner=app)
