"""Fake Zalo ZNS API (`POST /message/template`).

Run: `uvicorn services.notify.fakes.zalo_app:app --port 8103`. Numbers listed in
`non_zalo_phones` (constructor or `/_control`) are answered -118. Delivery comes back
as a `user_received_message` webhook POSTed to the callback URL, signed like Zalo signs
it (`X-ZEvent-Signature`, see `receipt_auth.zalo_signed_text`) with the OA secret key.
The fake dedupes on tracking_id so that a retried send does not reach the citizen twice.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.notify.dev_defaults import DEV_ZALO_APP_ID, DEV_ZALO_OA_SECRET_KEY
from services.notify.domain.receipt_auth import zalo_signature
from services.notify.fakes.control import FakeState, ReceiptCall, install_control
from services.notify.providers import zalo_zns as zns

_MSISDN = re.compile(r"^84\d{9}$")
FAKE_APP_ID = DEV_ZALO_APP_ID
FAKE_OA_ID = "fake-oa"


def _answer(code: int, message: str, data: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def signed_webhook(webhook: dict[str, Any], app_id: str, oa_secret_key: str) -> ReceiptCall:
    """The webhook as Zalo posts it: a JSON body and its signature over the raw bytes."""
    raw = json.dumps(webhook, ensure_ascii=False).encode()
    signature = zalo_signature(app_id, raw, str(webhook["timestamp"]), oa_secret_key)
    return ReceiptCall(
        "POST",
        content=raw,
        headers={"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={signature}"},
    )


def create_app(
    callback_url: str | None = None,
    access_token: str | None = None,
    non_zalo_phones: Iterable[str] = (),
    daily_quota: int = 500,
    app_id: str = FAKE_APP_ID,
    oa_secret_key: str = DEV_ZALO_OA_SECRET_KEY,
) -> FastAPI:
    app = FastAPI(title="fake Zalo ZNS")
    state = FakeState(callback_url=callback_url, non_zalo_phones=set(non_zalo_phones))
    app.state.fake = state
    install_control(app, state)

    @app.post(zns.SEND_PATH)
    async def send_template(request: Request) -> JSONResponse:
        raw = await request.body()  # read first: a slow answer must not lose the request
        failing = await state.begin_send()
        if failing and state.failure == "http":
            return JSONResponse({"error": "bad gateway"}, status_code=502)
        if access_token and request.headers.get("access_token") != access_token:
            return _answer(zns.INVALID_ACCESS_TOKEN, "Access token is invalid")
        if failing:
            return _answer(zns.UNKNOWN_ERROR, "Unknown error")
        try:
            body = json.loads(raw)
        except ValueError:
            return _answer(-122, "Body request is not in JSON format")
        if not isinstance(body, dict):
            return _answer(-122, "Body request is not in JSON format")
        phone = str(body.get("phone", ""))
        if not _MSISDN.match(phone):
            return _answer(zns.INVALID_PHONE, "Phone number is invalid")
        if not body.get("template_id"):
            return _answer(zns.INVALID_TEMPLATE_ID, "Template ID is invalid")
        data = body.get("template_data")
        if not isinstance(data, dict) or not data:
            return _answer(zns.TEMPLATE_DATA_EMPTY, "Template data is empty")
        if phone in state.non_zalo_phones:
            return _answer(zns.NOT_A_ZALO_ACCOUNT, "Zalo account not existed")
        tracking_id = str(body.get("tracking_id") or "")
        sent = len(state.messages)
        if tracking_id and tracking_id in state.message_ids:
            msg_id = state.message_ids[tracking_id]
        else:
            msg_id = uuid.uuid4().hex
            if tracking_id:
                state.message_ids[tracking_id] = msg_id
            state.record(
                {
                    "msg_id": msg_id,
                    "tracking_id": tracking_id,
                    "phone": phone,
                    "template_id": str(body["template_id"]),
                    "template_data": data,
                }
            )
            sent += 1
            webhook = {
                "app_id": app_id,
                "event_name": zns.EVENT_USER_RECEIVED,
                "sender": {"id": FAKE_OA_ID},
                "recipient": {"id": uuid.uuid5(uuid.NAMESPACE_OID, phone).hex},
                "message": {
                    "msg_id": msg_id,
                    "tracking_id": tracking_id,
                    "delivery_time": _now_ms(),
                },
                "timestamp": _now_ms(),
            }
            state.dispatch_receipts([signed_webhook(webhook, app_id, oa_secret_key)])
        quota = {"dailyQuota": str(daily_quota), "remainingQuota": str(daily_quota - sent)}
        return _answer(
            zns.OK, "Success", {"msg_id": msg_id, "sent_time": _now_ms(), "quota": quota}
        )

    return app


app = create_app(callback_url=os.environ.get("FAKE_NOTIFY_CALLBACK_URL"))
