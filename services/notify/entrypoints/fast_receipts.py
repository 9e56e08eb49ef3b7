"""Delivery receipts without the framework's per-request machinery.

eSMS calls back twice per SMS (at the carrier, then delivered), Viettel once per SMS and
Zalo's OA webhook once per ZNS message, so at load receipts are as many requests as
notify sends messages. This layer (``runtime/fast_path.py``) answers
``GET /v1/callbacks/esms/{message_id}/{token}``, ``POST /v1/callbacks/viettel`` and
``POST /v1/callbacks/zalo`` by calling the route's own function, which checks the source
address, the token or the signature exactly as before; refusals are the app's own
problem answers. Any other request goes on to the FastAPI app.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.notify.entrypoints.receipts import (
    esms_callback,
    router,
    viettel_callback,
    zalo_callback,
)
from services.runtime.fast_path import answer, install_innermost, route_of

ESMS = "/v1/callbacks/esms/{message_id}/{token}"
ZALO = "/v1/callbacks/zalo"
VIETTEL = "/v1/callbacks/viettel"
# Starlette's ``str`` path parameters: one segment each, as the route matches them.
_ESMS_PATH = re.compile(r"^/v1/callbacks/esms/(?P<message_id>[^/]+)/(?P<token>[^/]+)$")


class FastReceipts:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.esms = route_of(router, ESMS, "GET")
        self.zalo = route_of(router, ZALO, "POST")
        self.viettel = route_of(router, VIETTEL, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope["method"]
        if method == "POST" and path == ZALO:
            scope["route"], scope["path_params"] = self.zalo, {}  # for the span, metrics

            async def zalo() -> Response | None:
                return JSONResponse(await zalo_callback(Request(scope, receive)))

            await answer(self.owner, scope, receive, send, zalo, self.app)
            return
        if method == "POST" and path == VIETTEL:
            scope["route"], scope["path_params"] = self.viettel, {}

            async def viettel() -> Response | None:
                return JSONResponse(await viettel_callback(Request(scope, receive)))

            await answer(self.owner, scope, receive, send, viettel, self.app)
            return
        matched = _ESMS_PATH.match(path) if method == "GET" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        params = matched.groupdict()
        scope["route"], scope["path_params"] = self.esms, params

        async def esms() -> Response | None:
            request = Request(scope, receive)
            return JSONResponse(await esms_callback(params["message_id"], params["token"], request))

        await answer(self.owner, scope, receive, send, esms, self.app)


def install_fast_receipts(app: FastAPI) -> None:
    install_innermost(app, FastReceipts, owner=app)
