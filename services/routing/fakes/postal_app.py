"""A local stand-in for a VNPost-style postal order API (docs/POSTAL.md).

Run: `python -m services.routing.fakes --port 8110` (or `PORT=8110`). It checks the
`Token` header, creates one order per `partner_order_code` (a repeat answers the order
already made), and on `POST /_control/track/{order_id}` sends routing a tracking
callback signed with the shared secret, as the real service does when a parcel moves.

`POST /_control` sets failures: `fail_next` answers the next N creations with 503;
`lose_answers` creates the order but answers 503 (the answer lost on the way back).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.routing.domain.postal import (
    DEV_API_KEY,
    DEV_CALLBACK_SECRET,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

_REQUIRED = ("partner_order_code", "sender", "receiver", "parcel")


class Control(BaseModel):
    fail_next: int = Field(default=0, ge=0, le=1000)
    lose_answers: int = Field(default=0, ge=0, le=1000)


class Track(BaseModel):
    status: str = Field(pattern="^(accepted|in_transit|delivered|returned_to_sender)$")
    secret: str | None = None  # sign with another secret (a forger's test)
    note: str = ""


def create_app(api_key: str | None = None, callback_secret: str | None = None) -> FastAPI:
    key = api_key or os.environ.get("POSTAL_API_KEY") or DEV_API_KEY
    secret = callback_secret or os.environ.get("POSTAL_CALLBACK_SECRET") or DEV_CALLBACK_SECRET
    app = FastAPI(title="stand-in postal service")
    orders: dict[str, dict[str, Any]] = {}  # by partner_order_code
    by_id: dict[str, dict[str, Any]] = {}
    knobs = {"fail_next": 0, "lose_answers": 0, "requests": 0}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/orders")
    async def create(request: Request, token: str = Header(default="")) -> JSONResponse:
        knobs["requests"] += 1
        if token != key:
            return JSONResponse({"code": "UNAUTHORIZED", "message": "Sai token"}, 401)
        if knobs["fail_next"] > 0:
            knobs["fail_next"] -= 1
            return JSONResponse({"code": "SERVICE_UNAVAILABLE", "message": "Quá tải"}, 503)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"code": "BAD_REQUEST", "message": "JSON"}, 400)
        if not isinstance(body, dict) or any(not body.get(k) for k in _REQUIRED):
            return JSONResponse({"code": "BAD_REQUEST", "message": "Thiếu trường"}, 400)
        receiver = body["receiver"]
        if not all(receiver.get(k) for k in ("name", "phone", "address")):
            return JSONResponse({"code": "BAD_REQUEST", "message": "Thiếu người nhận"}, 400)
        ref = str(body["partner_order_code"])
        order = orders.get(ref)
        fresh = order is None
        if order is None:
            order = {
                "order_id": f"VN{secrets.token_hex(6).upper()}",
                "tracking_number": f"EH{secrets.randbelow(10**9):09d}VN",
                "partner_order_code": ref,
                "status": "created",
                "callback_url": body.get("callback_url"),
                "request": body,
            }
            orders[ref] = order
            by_id[order["order_id"]] = order
        if knobs["lose_answers"] > 0:
            knobs["lose_answers"] -= 1
            return JSONResponse({"code": "GATEWAY_TIMEOUT", "message": "Hết thời gian"}, 503)
        data = {k: order[k] for k in ("order_id", "tracking_number", "partner_order_code")}
        return JSONResponse(
            {"code": "OK", "data": {**data, "status": order["status"]}}, 201 if fresh else 200
        )

    @app.get("/api/v1/orders/{order_id}")
    async def get_order(order_id: str, token: str = Header(default="")) -> JSONResponse:
        if token != key:
            return JSONResponse({"code": "UNAUTHORIZED", "message": "Sai token"}, 401)
        order = by_id.get(order_id)
        if order is None:
            return JSONResponse({"code": "NOT_FOUND", "message": "Không có"}, 404)
        data = {k: order[k] for k in ("order_id", "tracking_number", "partner_order_code")}
        return JSONResponse({"code": "OK", "data": {**data, "status": order["status"]}})

    @app.post("/_control")
    async def control(body: Control) -> dict[str, int]:
        knobs["fail_next"], knobs["lose_answers"] = body.fail_next, body.lose_answers
        return knobs

    @app.get("/_control/orders")
    async def list_orders() -> dict[str, Any]:
        return {"requests": knobs["requests"], "orders": list(orders.values())}

    @app.post("/_control/track/{order_id}")
    async def track(order_id: str, body: Track) -> JSONResponse:
        """Send the order's callback URL a tracking callback; answer what routing said."""
        order = by_id.get(order_id)
        if order is None or not order.get("callback_url"):
            return JSONResponse({"code": "NOT_FOUND"}, 404)
        order["status"] = body.status
        payload = json.dumps(
            {
                "order_id": order_id,
                "partner_order_code": order["partner_order_code"],
                "tracking_number": order["tracking_number"],
                "status": body.status,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                "note": body.note,
            }
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(body.secret or secret, timestamp, payload),
        }
        async with httpx.AsyncClient() as client:
            answer = await client.post(order["callback_url"], content=payload, headers=headers)
        return JSONResponse({"callback_status": answer.status_code, "callback_body": answer.json()})

    return app
