"""Routing's signed PDFs: forms 02, 03, 05, 06 and the result, for the operators of the
units the dossier passed through (as its workflow); each print is an audited read, since
the forms name the citizen."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from reference import reference
from services.routing.adapters import access_log
from services.routing.adapters import documents as store
from services.routing.console.common import settings_of
from services.routing.documents import FORM_EVENTS, Citizen, NoSuchForm, build
from services.routing.entrypoints.http import _may_see, no_such_dossier
from services.runtime.auth import OperatorDep, Principal
from services.runtime.documents.model import Outcome
from services.runtime.documents.service import PDF, Documents, documents_of, pdf_response
from services.runtime.problems import ProblemError, problem_responses

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["documents"])
DocumentsDep = Annotated[Documents, Depends(documents_of)]
OPERATOR_DOCUMENT = "operator.document"
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}},
    **problem_responses(401, 403, 404),
}


async def _ask(request: Request, service: str, path: str) -> Any:
    """Another service's JSON with routing's credential; None when it does not answer."""
    cfg = settings_of(request)
    headers = {"X-Service-Token": request.app.state.runtime.settings.own_service_token()}
    try:
        async with httpx.AsyncClient(timeout=cfg.console_http_timeout) as client:
            answer = await client.get(cfg.url(service) + path, headers=headers)
        answer.raise_for_status()
        return answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("%s look-up for a document failed: %s", service, type(exc).__name__)
        return None


async def _citizen(request: Request, code: str) -> Citizen | None:
    receipt = await _ask(request, "intake", f"/v1/dossiers/{code}/receipt")
    if not isinstance(receipt, dict):
        return None
    appointment = receipt.get("appointment_at")
    return Citizen(
        name=receipt.get("applicant_name") or None,
        appointment_at=datetime.fromisoformat(appointment) if appointment else None,
    )


async def _outcomes(request: Request, dossier_id: UUID) -> dict[str, Outcome]:
    """SLA's judgement of each step (by task id): early, on time or late."""
    answer = await _ask(request, "sla", f"/v1/dossiers/{dossier_id}/deadlines")
    rows = answer.get("deadlines", []) if isinstance(answer, dict) else []
    return {r["task_id"]: r["outcome"] for r in rows if r.get("task_id") and r.get("outcome")}


async def _issue(
    request: Request, who: Principal, dossier_id: UUID, form: str, documents: Documents
) -> Response:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        await _may_see(conn, who, dossier_id)
        found = await store.instance(conn, dossier_id)
        if found is None:
            raise no_such_dossier()
        state, code = found
        events = await store.events_of(conn, dossier_id, FORM_EVENTS[form])
        if not events and form != "06":
            raise ProblemError(404, "Hồ sơ chưa có văn bản này", f"No form {form} yet.")
        await access_log.record_read(
            conn,
            actor=who.user_id,
            role=who.role,
            unit_code=who.unit_code,
            dossier_id=dossier_id,
            dossier_code=code,
            what=OPERATOR_DOCUMENT,
            parts=(f"form-{form}", "applicant_name"),
        )
    citizen = await _citizen(request, code)
    outcomes = await _outcomes(request, dossier_id) if form == "06" else {}
    ref = reference(rt.settings.reference_profile)
    try:
        model = build(
            form, state, code, events, ref, citizen or Citizen(), outcomes, documents.place
        )
    except NoSuchForm as missing:
        raise ProblemError(404, "Hồ sơ chưa có văn bản này", f"No form {form} yet.") from missing
    headers = {} if citizen is not None else {"X-Contact-Lookup": "unavailable"}
    return pdf_response(await documents.issue(model), model.form, code, headers)


@router.get(
    "/dossiers/{dossier_id}/forms/{form}.pdf",
    response_class=Response,
    responses=RESPONSES,
    summary="Form 02, 03, 05 or 06 of a dossier as a signed PDF.",
    description="02 the latest supplement request, 03 the refusal, 05 the stop notice,"
    " 06 the process control sheet (one line per hand-off, judged by SLA). For operators"
    " of the units the dossier passed through; each print is written to the read trail.",
)
async def form_pdf(
    dossier_id: UUID,
    form: Literal["02", "03", "05", "06"],
    request: Request,
    who: OperatorDep,
    documents: DocumentsDep,
) -> Response:
    return await _issue(request, who, dossier_id, form, documents)


@router.get(
    "/dossiers/{dossier_id}/result.pdf",
    response_class=Response,
    responses=RESPONSES,
    summary="The result document (the papers issued) as a signed PDF.",
)
async def result_pdf(
    dossier_id: UUID, request: Request, who: OperatorDep, documents: DocumentsDep
) -> Response:
    return await _issue(request, who, dossier_id, "KQ", documents)
