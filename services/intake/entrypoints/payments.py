"""Online payment routes: portals start an attempt and read receipts; VNPay sends the
IPN and the citizen's browser comes back to the return page; ops reconcile."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake import payments
from services.intake.domain import vnpay
from services.intake.entrypoints.http import NOT_FOUND, UNAUTHORISED, CodePath, problem
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.runtime.auth import service_caller

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["payments"])
gateway = APIRouter(prefix="/v1/payments/vnpay", tags=["payments"])
ops = APIRouter(prefix="/internal/v1/payments", tags=["internal"], include_in_schema=False)
TxnPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,100}$", description="vnp_TxnRef.")]
NO_OBLIGATION = problem(
    "The dossier has no open financial obligation (not in status 6, or already paid).",
    {
        "type": "about:blank",
        "title": "Hồ sơ không có nghĩa vụ tài chính chờ nộp (trạng thái «Đang xử lý»)",
        "status": 409,
        "dossier_status": 4,
    },
)


class StartPayment(BaseModel):
    """The amount is not asked: it is the obligation the assessing unit recorded."""

    model_config = ConfigDict(extra="forbid")
    client_ip: IPv4Address | IPv6Address | None = Field(
        default=None, description="The citizen's address as the portal saw it (vnp_IpAddr)."
    )
    locale: Literal["vn", "en"] = "vn"


class PaymentStarted(BaseModel):
    dossier_code: str
    txn_ref: str = Field(description="vnp_TxnRef, unique per attempt.")
    amount_vnd: int
    payment_url: str = Field(description="Send the citizen's browser here (VNPay).")
    expires_at: datetime
    state: Literal["pending"]


class PaymentView(BaseModel):
    txn_ref: str
    dossier_code: str
    amount_vnd: int
    state: Literal["pending", "paid", "failed", "duplicate"]
    state_name: str
    created_at: datetime
    settled_at: datetime | None
    receipt_no: str | None


class PaymentReceipt(BaseModel):
    title: str
    receipt_no: str
    issued_at: datetime
    collecting_unit: str
    collecting_unit_name: str
    payer_name: str
    dossier_code: str
    procedure_code: str
    procedure_name: str
    content: str
    amount_vnd: int
    currency: Literal["VND"]
    payment_method: str
    txn_ref: str
    gateway_transaction_no: str | None
    bank_code: str | None
    state: Literal["paid", "duplicate"]
    state_name: str


class IpnAnswer(BaseModel):
    RspCode: str
    Message: str


@router.post(
    "/dossiers/{ref}/payments",
    status_code=201,
    response_model=PaymentStarted,
    summary="Start an online payment (VNPay) of the dossier's open financial obligation.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND, 409: NO_OBLIGATION},
)
async def start(
    ref: CodePath,
    request: Request,
    ctx: ContextDep,
    portal: PortalDep,
    body: StartPayment | None = None,
) -> dict[str, Any]:
    body = body or StartPayment()
    ip = str(body.client_ip) if body.client_ip else (request.client.host if request.client else "")
    return await payments.start_payment(ctx, portal, ref, ip, body.locale, datetime.now(UTC))


@router.get(
    "/dossiers/{ref}/payments",
    response_model=list[PaymentView],
    summary="The dossier's online payment attempts and where each stands.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def list_payments(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> list[dict[str, Any]]:
    return await payments.payments_of(ctx, portal, ref)


@router.get(
    "/dossiers/{ref}/payments/{txn_ref}/receipt",
    response_model=PaymentReceipt,
    summary="The electronic receipt (biên lai điện tử) of a paid attempt, as data.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_receipt(
    ref: CodePath, txn_ref: TxnPath, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await payments.receipt(ctx, portal, ref, txn_ref)


@router.get(
    "/dossiers/{ref}/payments/{txn_ref}/receipt.html",
    response_class=HTMLResponse,
    summary="The electronic receipt as a printable page.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_receipt_html(
    ref: CodePath, txn_ref: TxnPath, ctx: ContextDep, portal: PortalDep
) -> HTMLResponse:
    return HTMLResponse(payments.receipt_html(await payments.receipt(ctx, portal, ref, txn_ref)))


def _vnp_params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k.startswith("vnp_")}


@gateway.get(
    "/ipn",
    response_model=IpnAnswer,
    summary="VNPay's server-to-server IPN (GET, vnp_* parameters, vnp_SecureHash).",
    description="Answers VNPay's RspCode: 00 confirmed, 01 order not found, 02 already"
    " confirmed, 04 invalid amount, 97 invalid signature, 99 other.",
)
async def ipn(request: Request, ctx: ContextDep) -> dict[str, str]:
    try:
        return await payments.handle_ipn(ctx, _vnp_params(request), datetime.now(UTC))
    except Exception:  # VNPay's answer for anything else; it sends the IPN again
        log.exception("IPN could not be handled")
        return {"RspCode": vnpay.RSP_OTHER, "Message": vnpay.RSP_MESSAGES[vnpay.RSP_OTHER]}


@gateway.get(
    "/return",
    response_class=HTMLResponse,
    summary="Where VNPay sends the citizen's browser back: shows the outcome, changes nothing.",
)
async def return_page(request: Request, ctx: ContextDep) -> HTMLResponse:
    status, html = await payments.return_page(ctx, _vnp_params(request))
    return HTMLResponse(html, status_code=status)


@ops.post("/reconcile")
async def reconcile_now(
    ctx: ContextDep,
    caller: Annotated[str, Depends(service_caller("ops"))],
    grace_seconds: Annotated[float | None, Query(ge=0, le=86400)] = None,
) -> dict[str, Any]:
    """Run the reconciliation with VNPay's query API now; the report it recorded."""
    return await payments.reconcile(ctx, datetime.now(UTC), grace_seconds)
