"""Fake Viettel brandname SOAP gateway (`wsCpMt`).

Run: `uvicorn services.notify.fakes.viettel_app:app --port 8102`; the endpoint is
`POST /bulkapi`. Receipts are POSTed as JSON {RequestID, ReceiverID, Status,
DoneTime} to $FAKE_NOTIFY_CALLBACK_URL with `Authorization: Bearer <receipt token>`
(the real gateway documents no report channel; where a contract agrees one, this shape
and a shared token are what notify accepts, see `viettel_soap.parse_receipt`).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import datetime
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.responses import Response

from contracts.vietnam import VN_TZ
from services.notify.dev_defaults import DEV_VIETTEL_RECEIPT_TOKEN
from services.notify.fakes.control import FakeState, ReceiptCall, install_control
from services.notify.providers import viettel_soap as vt

SEND_PATH = "/bulkapi"
_FIELDS = (
    "User",
    "Password",
    "CPCode",
    "RequestID",
    "UserID",
    "ReceiverID",
    "ServiceID",
    "CommandCode",
    "Content",
    "ContentType",
)


def _soap(result: str, message: str) -> Response:
    xml = (
        '<?xml version="1.0" ?>'
        f'<S:Envelope xmlns:S="{vt.SOAP_ENV_NS}"><S:Body>'
        f'<ns2:wsCpMtResponse xmlns:ns2="{vt.SERVICE_NS}"><return>'
        f"<message>{escape(message)}</message><result>{result}</result>"
        "</return></ns2:wsCpMtResponse></S:Body></S:Envelope>"
    )
    return Response(xml, media_type="text/xml; charset=utf-8")


def _fault(status: int, reason: str) -> Response:
    xml = (
        f'<S:Envelope xmlns:S="{vt.SOAP_ENV_NS}"><S:Body><S:Fault>'
        f"<faultcode>S:Server</faultcode><faultstring>{escape(reason)}</faultstring>"
        "</S:Fault></S:Body></S:Envelope>"
    )
    return Response(xml, status_code=status, media_type="text/xml; charset=utf-8")


def _fields(xml_text: bytes) -> dict[str, str] | None:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    call = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "wsCpMt"), None)
    if call is None:
        return None
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in call}


def _done_time() -> str:
    return datetime.now(VN_TZ).strftime("%Y%m%d%H%M%S")  # yyyyMMddHHmmss, Vietnam time


def create_app(
    callback_url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    receipt_token: str = DEV_VIETTEL_RECEIPT_TOKEN,
) -> FastAPI:
    app = FastAPI(title="fake Viettel SOAP gateway")
    state = FakeState(callback_url=callback_url)
    app.state.fake = state
    install_control(app, state)

    @app.post(SEND_PATH)
    async def ws_cp_mt(request: Request) -> Response:
        raw = await request.body()  # read first: a slow answer must not lose the request
        failing = await state.begin_send()
        if failing and state.failure == "http":
            return _fault(500, "Internal server error")
        fields = _fields(raw)
        if fields is None or any(name not in fields for name in _FIELDS):
            return _fault(400, "Malformed wsCpMt request")
        if (user and fields["User"] != user) or (password and fields["Password"] != password):
            return _soap("0", "Authenticate: Fail")
        if failing:
            return _soap("0", "Check Balance: Fail")
        if fields["ContentType"] not in (vt.CONTENT_TYPE_UNACCENTED, vt.CONTENT_TYPE_ACCENTED):
            return _soap("0", "ContentType invalid")
        if fields["ContentType"] == vt.CONTENT_TYPE_UNACCENTED and not fields["Content"].isascii():
            return _soap("0", "Content must be unaccented for ContentType 0")
        receiver = fields["ReceiverID"]
        if not (receiver.isdigit() and receiver.startswith("84") and len(receiver) == 11):
            return _soap("0", "CheckMsisdn: Fail")
        request_id = fields["RequestID"]
        if request_id in state.message_ids:
            return _soap(vt.RESULT_OK, "Duplicate RequestID: ignored")
        state.message_ids[request_id] = request_id
        state.record({k: v for k, v in fields.items() if k != "Password"})
        calls = [
            ReceiptCall(
                "POST",
                json={
                    "RequestID": request_id,
                    "ReceiverID": receiver,
                    "Status": status,
                    "DoneTime": _done_time(),
                },
                headers={"Authorization": f"Bearer {receipt_token}"},
            )
            for status in (vt.DLR_ACCEPTED, vt.DLR_DELIVERED)
        ]
        state.dispatch_receipts(calls)
        return _soap(vt.RESULT_OK, "Insert MT_QUEUE: OK")

    return app


app = create_app(callback_url=os.environ.get("FAKE_NOTIFY_CALLBACK_URL"))
