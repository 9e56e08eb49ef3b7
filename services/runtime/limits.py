"""Refuse request bodies over the limit before they are read into memory.

Plain ASGI (no BaseHTTPMiddleware). A declared ``Content-Length`` over the limit is
refused before the application runs; a body without one (chunked transfer encoding, or
one longer than declared) is counted as it is received and refused as soon as it
outgrows the limit, whoever reads it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.problems import PROBLEM_JSON, problem_bytes, send_problem

TITLE = "Yêu cầu quá lớn"
DEFAULT_MAX_REQUEST_BYTES = 1_048_576


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body outgrows the limit.

    An HTTPException, so FastAPI's body parsing lets it through (it turns any other
    error into a 400) and the app's handler answers 413.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, TITLE)
        self.max_bytes = max_bytes


def too_large_body(max_bytes: int) -> bytes:
    return problem_bytes(413, TITLE, f"The request body exceeds {max_bytes} bytes.")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside the app's exception handlers (e.g. by a middleware).
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_problem(send, 413, too_large_body(self.max_bytes))


def install_body_size_limit(app: FastAPI, max_bytes: int) -> None:
    """Refuse bodies over ``max_bytes`` with a 413 problem document."""

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> Response:
        return Response(
            too_large_body(exc.max_bytes),
            status_code=413,
            media_type=PROBLEM_JSON,
        )

    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
