"""Fake eSMS-style JSON brandname gateway.

Run: `uvicorn services.notify.fakes.esms_app:app --port 8101`
(receipts go to $FAKE_NOTIFY_CALLBACK_URL unless a request carries CallbackUrl).
`GET GetSendStatus?RefId=<SMSID>` answers where a message stands: what its last receipt
said, or the `query_status` set through `/_control`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.notify.fakes.control import FakeState, ReceiptCall, install_control
from services.notify.providers import esms

_PHONE = re.compile(r"^(0|84)\d{9}$")
_REQUIRED = ("ApiKey", "SecretKey", "Phone", "Content", "SmsType")
CODE_NOT_FOUND = "-1"


def _answer(code: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"CodeResult": code, "CountRegenerate": 0, **extra})


REPORT_DONE = {"SendStatus": esms.SEND_STATUS_DONE, "SendSuccess": "1", "SendFailed": "0"}


def _receipts(sms_id: str, request_id: str, phone: str) -> list[ReceiptCall]:
    common = {
        "SMSID": sms_id,
        "RequestId": request_id,
        "TypeId": esms.SMS_TYPE_CUSTOMER_CARE,
        "telcoid": "1",
        "phonenumber": phone,
        "TotalReceiver": "1",
        "TotalSent": "1",
        "TotalPrice": "0.0000",
    }
    at_carrier = {"SendStatus": esms.SEND_STATUS_AT_CARRIER, "SendSuccess": "0", "SendFailed": "0"}
    done = REPORT_DONE
    return [
        ReceiptCall("GET", params={**common, **at_carrier}),
        ReceiptCall("GET", params={**common, **done}),
    ]


def create_app(
    callback_url: str | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
) -> FastAPI:
    """`api_key`/`secret_key`, when set, are checked like the real gateway does (101)."""
    app = FastAPI(title="fake eSMS gateway")
    state = FakeState(callback_url=callback_url)
    app.state.fake = state
    install_control(app, state)

    @app.post(esms.SEND_PATH)
    async def send(request: Request) -> JSONResponse:
        raw = await request.body()  # read first: a slow answer must not lose the request
        failing = await state.begin_send()
        if failing and state.failure == "http":
            return JSONResponse({"error": "Service unavailable"}, status_code=503)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "Invalid request"}, status_code=400)
        if not isinstance(body, dict) or any(not body.get(k) for k in _REQUIRED):
            return JSONResponse({"error": "Invalid request"}, status_code=400)
        if (api_key and body["ApiKey"] != api_key) or (
            secret_key and body["SecretKey"] != secret_key
        ):
            return _answer(esms.CODE_BAD_CREDENTIALS, ErrorMessage="Authorize Failed")
        if failing:
            return _answer(esms.CODE_LOW_BALANCE, ErrorMessage="Not enough balance")
        if body["SmsType"] == esms.SMS_TYPE_CUSTOMER_CARE and not body.get("Brandname"):
            return _answer(esms.CODE_UNKNOWN_BRANDNAME, ErrorMessage="Brand name code is not exist")
        phone = str(body["Phone"])
        if not _PHONE.match(phone):
            return _answer(esms.CODE_BAD_PHONE, ErrorMessage="Phone number is invalid")
        request_id = str(body.get("RequestId") or "")
        if request_id and request_id in state.message_ids:
            # Like eSMS: a repeated RequestId is refused and nothing is sent again.
            return _answer(
                esms.CODE_DUPLICATE_REQUEST, ErrorMessage="Request exist 1", SendStatus="5"
            )
        sms_id = uuid.uuid4().hex
        if request_id:
            state.message_ids[request_id] = sms_id
        state.record(
            {
                "SMSID": sms_id,
                "RequestId": request_id,
                "Phone": phone,
                "Content": body["Content"],
                "Brandname": body.get("Brandname"),
                "IsUnicode": str(body.get("IsUnicode", "0")),
                "CallbackUrl": str(body.get("CallbackUrl") or ""),
                "report": REPORT_DONE,  # what the last receipt will say
            }
        )
        state.dispatch_receipts(
            _receipts(sms_id, request_id, phone), url=body.get("CallbackUrl") or None
        )
        return _answer(esms.CODE_ACCEPTED, SMSID=sms_id)

    @app.get(esms.STATUS_PATH)
    async def send_status(
        ref_id: str = Query(alias="RefId", default=""),
        key: str = Query(alias="ApiKey", default=""),
        secret: str = Query(alias="SecretKey", default=""),
    ) -> JSONResponse:
        if (api_key and key != api_key) or (secret_key and secret != secret_key):
            return _answer(esms.CODE_BAD_CREDENTIALS, ErrorMessage="Authorize Failed")
        found = state.by_provider_id.get(ref_id)
        if found is None:
            return _answer(CODE_NOT_FOUND, ErrorMessage="SMSID not found")
        report = dict(found["report"])
        if state.query_status is not None:
            report = {"SendStatus": state.query_status, "SendSuccess": "0", "SendFailed": "0"}
        return _answer(esms.CODE_ACCEPTED, SMSID=ref_id, TotalReceiver="1", **report)

    return app


app = create_app(callback_url=os.environ.get("FAKE_NOTIFY_CALLBACK_URL"))
