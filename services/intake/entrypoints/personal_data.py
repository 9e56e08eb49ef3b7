"""Personal-data routes of intake: a dossier's documents for portals (identity documents'
storage references only for the submitting portal, audited), and the data-subject export
for the province's operators."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Header

from contracts.intake_api import DataSubjectRequest, DossierDocuments
from services.intake.adapters import personal_data as store
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.domain.personal_data import documents_for, is_sensitive, mask_citizen_id
from services.intake.domain.status import status_name
from services.intake.entrypoints.http import NOT_FOUND, UNAUTHORISED, CodePath, problem
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.intake.handlers import IntakeContext
from services.intake.views import vn
from services.runtime.data_access import note_reads
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["dossiers"])
admin = APIRouter(prefix="/v1/admin", tags=["operators"])
# The services asked for what they hold about a person's dossiers, and where.
HOLDERS = ("notify", "sla", "routing")
EXPORT_PATH = "/internal/v1/data-subject/export"


def reader(portal: Portal) -> str:
    """The caller label of a portal (the console reads as ``service:routing``)."""
    return portal.id if portal.id.startswith("service:") else f"portal:{portal.id}"


@router.get(
    "/dossiers/{ref}/documents",
    response_model=DossierDocuments,
    summary="The dossier's papers with their storage references.",
    description=(
        "Identity documents (CCCD, passport, ID card) are sensitive: their storage"
        " reference is given only to the portal that submitted the dossier, and each such"
        " read is audited; other readers see `storage_ref_withheld: true`."
    ),
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def dossier_documents(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.load_dossier(conn, ref)
    if row is None or not portal.may_act_for(row["receiving_unit"]):
        raise ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for this portal.")
    documents = json.loads(row["documents"])
    view = documents_for(documents, submitting_portal=portal.id == row["portal_id"])
    caller = reader(portal)
    if view.revealed_sensitive:
        async with ctx.runtime.pool.acquire() as conn:
            await store.record_access(
                conn,
                caller=caller,
                action="identity_document_read",
                dossier_ids=[row["id"]],
                details={"documents": [d["type_code"] for d in view.documents if d["sensitive"]]},
            )
    note_reads(ctx.reads, caller, [row["id"]])
    return {"code": row["code"], "documents": view.documents}


async def requester(
    ctx: ContextDep,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
    x_service_token: Annotated[
        str | None, Header(description="The operators' own credential.", max_length=512)
    ] = None,
) -> str:
    """The operators' credential (`ops`) or a province supervisor's bearer token."""
    if x_service_token:
        return ctx.runtime.credentials.require(x_service_token, ("ops",))
    principal = await ctx.runtime.auth.principal(authorization)
    if principal.role != "province_supervisor":
        raise ProblemError(
            403,
            "Chỉ giám sát cấp tỉnh được trích xuất dữ liệu cá nhân",
            "Data-subject exports need the province supervisor's role or the ops credential.",
        )
    return f"operator:{principal.user_id}"


@admin.post(
    "/data-subject-requests",
    summary="Everything the system holds about one citizen (data-subject request).",
    description=(
        "Gathers intake's dossiers of this citizen ID (applicant, documents including"
        " identity documents' storage references, timeline) and asks notify, SLA and routing"
        " for what they hold about those dossiers. `sources` says which answered; an"
        " export with `complete: false` must be repeated before it is handed over. Every"
        " export is written to intake's `personal_data_access` audit. Send `X-Service-Token`"
        " (ops) or a province supervisor's bearer token."
    ),
    responses={
        401: problem("No credential."),
        403: problem("Neither the ops credential nor a province supervisor."),
    },
)
async def data_subject_export(
    body: DataSubjectRequest,
    ctx: ContextDep,
    caller: Annotated[str, Depends(requester)],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with ctx.runtime.pool.acquire() as conn:
        dossiers = await store.dossiers_of_citizen(conn, body.citizen_id)
        ids: list[UUID] = [d["id"] for d in dossiers]
        timelines = await store.timelines(conn, ids)
    held: dict[str, Any] = {"intake": {"dossiers": [_dossier(ctx, d, timelines) for d in dossiers]}}
    sources: dict[str, str] = {"intake": "ok"}
    if ids:
        answers = await asyncio.gather(*(_ask(ctx, name, ids) for name in HOLDERS))
        for name, (state, answer) in zip(HOLDERS, answers, strict=True):
            sources[name] = state
            held[name] = answer
    else:
        sources.update(dict.fromkeys(HOLDERS, "nothing_to_ask"))
    complete = all(state in ("ok", "nothing_to_ask") for state in sources.values())
    sensitive = sum(1 for d in dossiers for doc in json.loads(d["documents"]) if is_sensitive(doc))
    async with ctx.runtime.pool.acquire() as conn:
        request_id = await store.record_access(
            conn,
            caller=caller,
            action="dsr_export",
            dossier_ids=ids,
            subject=mask_citizen_id(body.citizen_id),
            details={
                "reference": body.reference,
                "sources": sources,
                "sensitive_documents": sensitive,
            },
        )
    note_reads(ctx.reads, caller, ids)
    log.info(
        "data-subject export %d by %s: %d dossiers, complete=%s",
        request_id,
        caller,
        len(ids),
        complete,
    )
    return {
        "request_id": request_id,
        "requested_at": vn(now),
        "requested_by": caller,
        "reference": body.reference,
        "subject": {"citizen_id": body.citizen_id},
        "complete": complete,
        "sources": sources,
        "held_by": held,
    }


def _dossier(
    ctx: IntakeContext, row: dict[str, Any], timelines: dict[UUID, list[dict[str, Any]]]
) -> dict[str, Any]:
    procedure = ctx.catalog.procedures.get(row["procedure_code"])
    documents = json.loads(row["documents"])
    return {
        "id": row["id"],
        "code": row["code"],
        "procedure_code": row["procedure_code"],
        "procedure_name": procedure.name if procedure else row["procedure_code"],
        "receiving_unit": row["receiving_unit"],
        "current_unit": row["current_unit"],
        "channel": row["channel"],
        "status": row["status"],
        "status_name": status_name(row["status"]),
        "received_at": vn(row["received_at"]),
        "appointment_at": vn(row["appointment_at"]),
        "submitted_through": row["portal_id"],
        "external_code": row["external_code"],
        "applicant": json.loads(row["applicant"]),
        # The citizen's own papers: identity documents included, flagged as such.
        "documents": [{**d, "sensitive": is_sensitive(d)} for d in documents],
        "fees": json.loads(row["fees"]),
        "request": json.loads(row["request"]),
        "timeline": [{**e, "occurred_at": vn(e["occurred_at"])} for e in timelines[row["id"]]],
    }


async def _ask(ctx: IntakeContext, service: str, ids: list[UUID]) -> tuple[str, Any]:
    """What one service holds about these dossiers (their ids are the contact refs)."""
    base = str(getattr(ctx.settings, f"{service}_url")).rstrip("/")
    refs = [str(i) for i in ids]
    try:
        async with httpx.AsyncClient(timeout=ctx.settings.data_subject_timeout_seconds) as client:
            answer = await client.post(
                base + EXPORT_PATH,
                json={"dossier_ids": refs, "contact_refs": refs},
                headers={"X-Service-Token": ctx.settings.own_service_token()},
            )
        answer.raise_for_status()
        return "ok", answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("data-subject export: %s did not answer: %s", service, type(exc).__name__)
        return "unavailable", None
