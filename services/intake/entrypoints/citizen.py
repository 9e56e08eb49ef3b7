"""What a citizen does after submitting: look the dossier up, supplement, withdraw, pay."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from contracts.intake_api import (
    ActionAccepted,
    CitizenView,
    OptOutAccepted,
    OptOutBody,
    OptOutChannel,
    PaymentBody,
    SupplementBody,
    WithdrawalBody,
)
from services.intake.actions import change_opt_out, take_action
from services.intake.entrypoints.http import NOT_FOUND, UNAUTHORISED, CodePath, problem
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.intake.views import citizen_view
from services.runtime import clock
from services.runtime.problems import ProblemError, problem_response
from services.runtime.ratelimit import retry_after_header

router = APIRouter(prefix="/v1", tags=["citizens"])
TOO_MANY = problem(
    "Too many look-ups for this code from this address; see Retry-After.",
    {"type": "about:blank", "title": "Tra cứu quá nhiều lần", "status": 429},
)
CONFLICT = problem(
    "The action makes no sense in the dossier's current status.",
    {
        "type": "about:blank",
        "title": "Không thể nộp bổ sung hồ sơ khi hồ sơ ở trạng thái «Đang xử lý»",
        "status": 409,
        "dossier_status": 4,
    },
)
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORISED,
    404: NOT_FOUND,
    409: CONFLICT,
}


@router.get(
    "/lookup/{ref}",
    response_model=CitizenView,
    summary="Citizen look-up by dossier code and the last 4 digits of the phone number.",
    description="Rate-limited per client address and code; returns no personal data.",
    responses={404: NOT_FOUND, 429: TOO_MANY},
)
async def lookup(
    ref: CodePath,
    request: Request,
    ctx: ContextDep,
    phone_last4: Annotated[
        str,
        Query(pattern=r"^[0-9]{4}$", description="Last 4 digits of the phone.", examples=["5678"]),
    ],
) -> dict[str, Any] | JSONResponse:
    client = request.client.host if request.client else "unknown"
    wait = ctx.lookups.take(f"{client}|{ref}", time.monotonic())
    if wait > 0:
        refused = problem_response(
            429, "Tra cứu quá nhiều lần", "Too many look-ups; try again later."
        )
        refused.headers["Retry-After"] = retry_after_header(wait)
        return refused
    async with ctx.runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT code, status, procedure_code, receiving_unit, current_unit, received_at,"
            " appointment_at, applicant->>'phone' AS phone FROM dossiers WHERE code = $1",
            ref,
        )
    if row is None or not str(row["phone"]).endswith(phone_last4):
        raise ProblemError(404, "Không tìm thấy hồ sơ", "No dossier matches this code and phone.")
    return citizen_view(ctx.catalog, dict(row))


@router.post(
    "/dossiers/{ref}/supplements",
    status_code=202,
    response_model=ActionAccepted,
    summary="The citizen supplied the missing papers (status 5); the clock resumes.",
    responses=ACTION_RESPONSES,
)
async def supplement(
    ref: CodePath, body: SupplementBody, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await take_action(ctx, portal, ref, "supplement", body, clock.now())


@router.post(
    "/dossiers/{ref}/withdrawal",
    status_code=202,
    response_model=ActionAccepted,
    summary="The citizen asks to withdraw the dossier (until the result is ready).",
    responses=ACTION_RESPONSES,
)
async def withdraw(
    ref: CodePath, body: WithdrawalBody, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await take_action(ctx, portal, ref, "withdrawal", body, clock.now())


@router.post(
    "/dossiers/{ref}/payment",
    status_code=202,
    response_model=ActionAccepted,
    summary="The citizen paid the financial obligation (status 6).",
    responses=ACTION_RESPONSES,
)
async def pay(
    ref: CodePath, body: PaymentBody, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await take_action(ctx, portal, ref, "payment", body, clock.now())


@router.post(
    "/dossiers/{ref}/opt-outs",
    status_code=202,
    response_model=OptOutAccepted,
    summary="The citizen, through the portal, stops one channel of messages about the dossier.",
    description=(
        "Only the portal the dossier belongs to (its units) may ask; notify stops that"
        " channel for this dossier's contact as soon as it reads the request (messages not"
        " yet sent on it are not sent)."
    ),
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def opt_out(
    ref: CodePath, body: OptOutBody, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await change_opt_out(ctx, portal, ref, body.channel, True, datetime.now(UTC))


@router.delete(
    "/dossiers/{ref}/opt-outs/{channel}",
    status_code=202,
    response_model=OptOutAccepted,
    summary="The citizen, through the portal, receives a channel again.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def opt_in(
    ref: CodePath, channel: OptOutChannel, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    return await change_opt_out(ctx, portal, ref, channel, False, datetime.now(UTC))
