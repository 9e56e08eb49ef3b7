"""eSMS's delivery receipts without the framework's per-request machinery.

eSMS calls back twice per SMS (at the carrier, then delivered), so at load its receipts
are as many requests as notify sends messages. This layer (``runtime/fast_path.py``)
answers ``GET /v1/callbacks/esms/{message_id}/{token}`` by calling the route's own
function, which checks the source address and the token exactly as before; refusals are
the app's own problem answers. Any other request goes on to the FastAPI app.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.notify.entrypoints.receipts import esms_callback, router
from services.runtime.fast_path import answer, install_innermost, route_of

TEMPLATE = "/v1/callbacks/esms/{message_id}/{token}"
# Starlette's ``str`` path parameters: one segment each, as the route matches them.
_PATH = re.compile(r"^/v1/callbacks/esms/(?P<message_id>[^/]+)/(?P<token>[^/]+)$")


class FastEsmsReceipts:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.route = route_of(router, TEMPLATE, "GET")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if matched is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        params = matched.groupdict()
        scope["route"], scope["path_params"] = self.route, params  # for the span, metrics

        async def receipt() -> Response | None:
            request = Request(scope, receive)
            return JSONResponse(await esms_callback(params["message_id"], params["token"], request))

        await answer(self.owner, scope, receive, send, receipt, self.app)


def install_fast_receipts(app: FastAPI) -> None:
    install_innermost(app, FastEsmsReceipts, owner=app)
