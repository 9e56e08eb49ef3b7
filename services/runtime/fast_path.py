"""Answering a hot route without FastAPI's per-request machinery, exactly as the route.

FastAPI's dependency solving, route matching and response handling cost about as much
CPU per request as a small route's own work. A service's hot route can get a plain ASGI
layer instead (intake's portal submissions, notify's eSMS receipts): installed innermost
of the app's middleware, so tracing, shedding, the size limit and strict JSON still run;
it calls the route's own handler, and whatever that raises is answered by the app's own
exception handlers, looked up as Starlette does. A request the layer is unsure of goes on
to the FastAPI route. The OpenAPI document still describes the route.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Set
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]
# What a layer's call answers: the response, or None to hand the request to the route.
Call = Callable[[], Awaitable[Response | None]]


def route_of(router: APIRouter, path: str, method: str) -> APIRoute:
    """The router's route for ``method path`` (the span's and the metrics' label)."""
    return next(
        r
        for r in router.routes  # the app's own list nests included routers
        if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
    )


def exception_handler(owner: FastAPI, exc: Exception) -> Handler | None:
    """The app's handler for ``exc``, by class along its MRO."""
    handlers: dict[Any, Handler] = owner.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


async def answer(
    owner: FastAPI, scope: Scope, receive: Receive, send: Send, call: Call, route: ASGIApp
) -> None:
    """Send what ``call`` answers; its exception as the app answers it; or, when it
    answers None, let ``route`` (the rest of the app) answer the request."""
    try:
        response = await call()
    except Exception as exc:
        handler = exception_handler(owner, exc)
        if handler is None:
            raise
        result = handler(Request(scope, receive), exc)
        response = await result if inspect.isawaitable(result) else result
    if response is None:
        await route(scope, receive, send)
    else:
        await response(scope, receive, send)


def install_innermost(app: FastAPI, layer: Any, **options: Any) -> None:
    """``add_middleware`` puts a layer outermost; a fast path goes last, inside all."""
    app.user_middleware.append(Middleware(layer, **options))


def first_headers(scope: Scope, wanted: Set[bytes]) -> dict[bytes, str]:
    """The first value of each ``wanted`` header (lower-case names), as Starlette reads it."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        name = key.lower()
        if name in wanted and name not in found:
            found[name] = value.decode("latin-1")
    return found


def parse_body(model: type[Model], body: bytes) -> Model | None:
    """The body as the route would read it (``json`` then the model in Python mode);
    None when the route would refuse it (the route then answers with its own error)."""
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, RecursionError, ValidationError):
        return None
