"""Intake's REST routes: parse, call a handler, serialise."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from contracts.intake_api import DossierView, Receipt, SubmitDossier
from services.intake.adapters import repository as repo
from services.intake.domain.rules import SubmissionRefused
from services.intake.handlers import IntakeContext, submit_with_race_retry
from services.runtime.problems import PROBLEM_JSON, ProblemError

router = APIRouter(prefix="/v1", tags=["dossiers"])
internal = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)

PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "RFC 9457 problem details"}


def get_context(request: Request) -> IntakeContext:
    ctx: IntakeContext = request.app.state.runtime.state["intake"]
    return ctx


ContextDep = Annotated[IntakeContext, Depends(get_context)]


@router.post(
    "/dossiers",
    status_code=201,
    response_model=Receipt,
    summary="Receive a complete dossier and return its receipt (form 01).",
    responses={409: PROBLEM, 422: PROBLEM},
)
async def submit(
    body: SubmitDossier,
    ctx: ContextDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=128, description="Retry-safe key chosen by the portal.")
    ] = None,
) -> JSONResponse:
    try:
        status, payload = await submit_with_race_retry(
            ctx, body, portal_id="default", idempotency_key=idempotency_key, now=datetime.now(UTC)
        )
    except SubmissionRefused as refused:
        raise ProblemError(422, refused.title, refused.detail, **refused.extra) from refused
    return JSONResponse(payload, status_code=status)


@router.get(
    "/dossiers/{ref}",
    response_model=DossierView,
    summary="A dossier's status, current unit and timeline, by id or dossier code.",
    responses={404: PROBLEM},
)
async def get_dossier(ref: str, ctx: ContextDep) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.load_dossier(conn, ref)
        if row is None:
            raise ProblemError(404, "Không tìm thấy hồ sơ", f"No dossier {ref}.")
        timeline = await repo.load_timeline(conn, row["id"])
    return {
        "id": row["id"],
        "code": row["code"],
        "status": row["status"],
        "procedure_code": row["procedure_code"],
        "receiving_unit": row["receiving_unit"],
        "current_unit": row["current_unit"],
        "received_at": row["received_at"],
        "appointment_at": row["appointment_at"],
        "timeline": timeline,
    }


@internal.get("/contacts/{contact_ref}")
async def contact(
    contact_ref: str, ctx: ContextDep, x_service_token: Annotated[str, Header()]
) -> dict[str, Any]:
    """Contact details for notify, fetched by reference so events carry no personal data."""
    if x_service_token != ctx.runtime.settings.service_token:
        raise ProblemError(403, "Forbidden")
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.load_dossier(conn, contact_ref)
    if row is None:
        raise ProblemError(404, "Không tìm thấy hồ sơ")
    import json

    applicant = json.loads(row["applicant"])
    return {
        "full_name": applicant["full_name"],
        "phone": applicant["phone"],
        "email": applicant.get("email"),
        "procedure_code": row["procedure_code"],
        "dossier_code": row["code"],
    }
