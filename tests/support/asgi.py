"""ASGI stand-ins for tests of the services' fast layers."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


class Route:
    """The FastAPI route behind a fast layer: records the bodies that reached it and
    answers 299 "route", so a test tells it apart from the layer's own answers."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})
