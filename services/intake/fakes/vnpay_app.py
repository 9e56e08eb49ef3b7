"""Stand-in VNPay gateway: the payment page, the IPN it sends, and the query API.

`GET /paymentv2/vpcpay.html?vnp_...` checks the merchant's hash and settles the attempt
at once as `/_control` says (pay, fail, cancel), then sends the citizen's browser back to
`vnp_ReturnUrl` (302) and the IPN to the terminal's IPN URL (configured per terminal, as
at VNPay): once, never (`ipn: drop`), several times (`ipn: repeat`), after a delay, or
with a broken hash (`tamper_ipn`). `POST /merchant_webapi/api/transaction` answers
`querydr`. `/_transactions` and `/_ipns` show what happened; `/_reset` forgets it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from services.intake.config import DEV_VNPAY_HASH_SECRET, DEV_VNPAY_TMN_CODE
from services.intake.domain import vnpay

log = logging.getLogger(__name__)
PAY_PATH = "/paymentv2/vpcpay.html"
API_PATH = "/merchant_webapi/api/transaction"


class Control(BaseModel):
    outcome: Literal["pay", "fail", "cancel"] = "pay"
    ipn: Literal["send", "drop", "repeat"] = "send"
    ipn_repeats: int = Field(default=3, ge=1, le=20)
    ipn_delay_ms: int = Field(default=0, ge=0, le=60_000)
    tamper_ipn: bool = False  # change the amount after signing (a forged IPN)
    ipn_url: str | None = None  # replaces the terminal's IPN URL when given


@dataclass(slots=True)
class GatewayState:
    ipn_url: str
    control: Control = field(default_factory=Control)
    transactions: dict[str, dict[str, str]] = field(default_factory=dict)
    ipns: list[dict[str, Any]] = field(default_factory=list)
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    transport: httpx.AsyncBaseTransport | None = None  # tests: the merchant in-process


def create_app(
    ipn_url: str,
    tmn_code: str = DEV_VNPAY_TMN_CODE,
    secret: str = DEV_VNPAY_HASH_SECRET,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    app = FastAPI(title="stand-in VNPay gateway")
    state = GatewayState(ipn_url=ipn_url, transport=transport)
    app.state.gateway = state

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(PAY_PATH, response_model=None)
    async def pay(request: Request) -> HTMLResponse | RedirectResponse:
        params = dict(request.query_params)
        if not vnpay.verify(params, secret) or params.get("vnp_TmnCode") != tmn_code:
            return HTMLResponse("<h1>Sai chữ ký (code 70)</h1>", status_code=400)
        txn_ref = params.get("vnp_TxnRef", "")
        if txn_ref in state.transactions:
            return HTMLResponse("<h1>Giao dịch đã tồn tại</h1>", status_code=400)
        c = state.control
        code = {"pay": vnpay.SUCCESS, "fail": "51", "cancel": vnpay.CUSTOMER_CANCELLED}[c.outcome]
        now = datetime.now(UTC)
        result = {
            "vnp_TmnCode": tmn_code,
            "vnp_Amount": params["vnp_Amount"],
            "vnp_BankCode": "NCB",
            "vnp_BankTranNo": f"VNP{secrets.randbelow(10**8):08d}",
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": params.get("vnp_OrderInfo", ""),
            "vnp_PayDate": vnpay.vn_date(now),
            "vnp_ResponseCode": code,
            "vnp_TransactionNo": f"{secrets.randbelow(10**8):08d}",
            "vnp_TransactionStatus": code if code == vnpay.SUCCESS else "02",
            "vnp_TxnRef": txn_ref,
        }
        state.transactions[txn_ref] = {**result, "vnp_CreateDate": params["vnp_CreateDate"]}
        signed = {**result, "vnp_SecureHash": vnpay.sign(result, secret)}
        if c.ipn != "drop":
            ipn = dict(signed)
            if c.tamper_ipn:
                ipn["vnp_Amount"] = str(int(ipn["vnp_Amount"]) // 100)
            times = c.ipn_repeats if c.ipn == "repeat" else 1
            task = asyncio.get_running_loop().create_task(
                _send_ipns(state, c.ipn_url or state.ipn_url, ipn, times, c.ipn_delay_ms)
            )
            state.pending.add(task)
            task.add_done_callback(state.pending.discard)
        return RedirectResponse(f"{params['vnp_ReturnUrl']}?{urlencode(signed)}", status_code=302)

    @app.post(API_PATH)
    async def transaction_api(request: Request) -> JSONResponse:
        body = await request.json()
        base = {
            "vnp_ResponseId": secrets.token_hex(8),
            "vnp_Command": str(body.get("vnp_Command", "")),
            "vnp_TmnCode": tmn_code,
        }
        if body.get("vnp_Command") != "querydr" or not vnpay.query_request_valid(body, secret):
            return JSONResponse(
                {**base, "vnp_ResponseCode": "97", "vnp_Message": "Invalid Checksum"}
            )
        found = state.transactions.get(str(body.get("vnp_TxnRef", "")))
        if found is None:
            return JSONResponse({**base, "vnp_ResponseCode": "91", "vnp_Message": "Not found"})
        answer = {
            **base,
            "vnp_ResponseCode": vnpay.SUCCESS,
            "vnp_Message": "QueryDR Success",
            "vnp_TxnRef": found["vnp_TxnRef"],
            "vnp_Amount": found["vnp_Amount"],
            "vnp_BankCode": found["vnp_BankCode"],
            "vnp_PayDate": found["vnp_PayDate"],
            "vnp_TransactionNo": found["vnp_TransactionNo"],
            "vnp_TransactionType": "01",
            "vnp_TransactionStatus": found["vnp_TransactionStatus"],
            "vnp_OrderInfo": found["vnp_OrderInfo"],
            "vnp_PromotionCode": "",
            "vnp_PromotionAmount": "",
        }
        return JSONResponse(vnpay.sign_query_response(answer, secret))

    @app.post("/_control")
    async def control(body: Control) -> dict[str, Any]:
        state.control = body
        return body.model_dump()

    @app.get("/_transactions")
    async def transactions() -> dict[str, dict[str, str]]:
        return state.transactions

    @app.get("/_ipns")
    async def ipns() -> list[dict[str, Any]]:
        await asyncio.gather(*state.pending, return_exceptions=True)
        return state.ipns

    @app.post("/_reset")
    async def reset() -> dict[str, str]:
        await asyncio.gather(*state.pending, return_exceptions=True)
        state.control = Control()
        state.ipns.clear()
        return {"status": "ok"}

    return app


async def _send_ipns(
    state: GatewayState, url: str, params: dict[str, str], times: int, delay_ms: int
) -> None:
    async with httpx.AsyncClient(timeout=10.0, transport=state.transport) as client:
        for _ in range(times):
            await asyncio.sleep(delay_ms / 1000)
            try:
                response = await client.get(url, params=params)
                answer: Any = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                answer = {"error": type(exc).__name__}
            state.ipns.append({"txn_ref": params.get("vnp_TxnRef"), "answer": answer})


app = create_app(
    ipn_url=os.environ.get("INTAKE_URL", "http://127.0.0.1:8001") + "/v1/payments/vnpay/ipn"
)
