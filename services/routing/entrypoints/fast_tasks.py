"""Officials' claim and complete without the framework's per-request machinery.

``POST /v1/tasks/{task_id}/claim`` and ``…/complete`` are the operator API's hot routes:
each task an official works is both, and FastAPI's route matching, dependency solving
and response handling cost about a fifth of routing's CPU per request. This plain ASGI
layer (``runtime/fast_path.py``) sits inside every middleware (tracing, age shedding,
size limit, strict JSON) and answers the usual request itself: a task id the route's
pattern accepts, one bearer token, a JSON body that validates as the route's model. It
authenticates through the same ``OperatorAuth`` (token, then the official's account)
before anything else, calls the route's own function and answers errors with the app's
own exception handlers. Anything else goes on to the FastAPI route with its body
replayed, which answers exactly as it always has; the OpenAPI document describes it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.routing.entrypoints.http import (
    ActionResult,
    ClaimBody,
    CompleteBody,
    claim,
    complete,
    router,
)
from services.runtime.auth import OperatorAuth
from services.runtime.fast_path import (
    answer,
    first_headers,
    install_innermost,
    parse_body,
    route_of,
)
from services.runtime.strict_json import read_body, replay_body

CLAIM = "/v1/tasks/{task_id}/claim"
COMPLETE = "/v1/tasks/{task_id}/complete"
# One path segment for the id (as Starlette matches ``{task_id}``), then the action.
_PATH = re.compile(r"^/v1/tasks/(?P<task_id>[^/]+)/(?P<action>claim|complete)$")
# ``TaskPath``'s own bounds: ASCII only, so the NFC and storable-text checks pass as is.
_TASK_ID = re.compile(r"^[0-9A-Za-z._:\-]{1,200}$")
_MAX_AUTHORIZATION = 8192  # the dependency's ``Header(max_length=8192)``
_WANTED = frozenset({b"content-type", b"authorization"})

Endpoint = Callable[..., Awaitable[Any]]


class _Action:
    def __init__(self, path: str, body: type[BaseModel], endpoint: Endpoint) -> None:
        self.route: APIRoute = route_of(router, path, "POST")
        self.body = body
        self.endpoint = endpoint


class FastTaskActions:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.actions = {
            "claim": _Action(CLAIM, ClaimBody, claim),
            "complete": _Action(COMPLETE, CompleteBody, complete),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = (
            _PATH.match(scope.get("path", ""))
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if matched is None or _TASK_ID.match(matched["task_id"]) is None:
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope, _WANTED)
        runtime = getattr(self.owner.state, "runtime", None)
        auth: OperatorAuth | None = getattr(runtime, "auth", None)
        if auth is None or not _usual(headers):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away mid-body
            return
        replayed = replay_body(body, receive)
        action = self.actions[matched["action"]]
        parsed = parse_body(action.body, body)
        if parsed is None:
            await self.app(scope, replayed, send)
            return
        task_id = matched["task_id"]
        scope["route"], scope["path_params"] = action.route, {"task_id": task_id}

        async def act() -> Response | None:
            assert auth is not None and parsed is not None
            who = await auth.principal(headers[b"authorization"])
            result = await action.endpoint(task_id, parsed, Request(scope, replayed), who)
            return JSONResponse(ActionResult.model_validate(result).model_dump(mode="json"))

        await answer(self.owner, scope, replayed, send, act, self.app)


def _usual(headers: dict[bytes, str]) -> bool:
    """A JSON body and a bearer token the route's dependency would read as they are."""
    media = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
    token = headers.get(b"authorization", "")
    return (
        media == "application/json"
        and token.startswith("Bearer ")
        and len(token) <= _MAX_AUTHORIZATION
    )


def install_fast_task_actions(app: FastAPI) -> None:
    """Innermost of the app's middleware, so every other one still sees the request."""
    install_innermost(app, FastTaskActions, owner=app)
