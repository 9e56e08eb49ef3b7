"""Intake's REST routes for portals and desks: parse, call a handler, serialise."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from contracts.intake_api import DossierView, Receipt, ReceiptForm, SubmitDossier
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.domain.rules import SubmissionRefused
from services.intake.domain.search import PHONE_SUFFIX, fold_name, like_escape
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.intake.handlers import IntakeContext, submit_dossier
from services.intake.receipt import receipt_form, receipt_html
from services.intake.views import dossier_view, particulars
from services.runtime import clock
from services.runtime.auth import service_caller
from services.runtime.data_access import note_reads
from services.runtime.problems import PROBLEM_JSON, ProblemError

router = APIRouter(prefix="/v1", tags=["dossiers"])
internal = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)


def problem(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"type": "object"}}
    if example is not None:
        content["example"] = example
    return {"content": {PROBLEM_JSON: content}, "description": description}


UNAUTHORISED = problem("Missing or unknown X-API-Key.")
NOT_FOUND = problem(
    "No such dossier for this portal.",
    {"type": "about:blank", "title": "Không tìm thấy hồ sơ", "status": 404},
)
INVALID = problem("The body or parameters are invalid, or required documents are missing.")
UNAVAILABLE = {
    **problem(
        "Too many submissions are waiting, or the database cannot be reached: nothing was"
        " stored. Retry after `Retry-After` seconds with the same `Idempotency-Key`.",
        {
            "type": "about:blank",
            "title": "Hệ thống đang quá tải, vui lòng gửi lại sau",
            "status": 503,
            "detail": "Too many submissions are waiting; nothing was stored.",
        },
    ),
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
CodePath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[A-Za-z0-9.\-]+$",
        description="Dossier code (or id).",
        examples=["000.01.01.H99-261122-0001"],
    ),
]


@router.post(
    "/dossiers",
    status_code=201,
    response_model=Receipt,
    summary="Receive a complete dossier and return its receipt (form 01).",
    description=(
        "Checks that the procedure is received at the unit, that every required document is"
        " present (else 422 with `missing_documents`, nothing stored), and issues the dossier"
        " code `agency-YYMMDD-NNNN` and the appointment. Retry with the same"
        " `Idempotency-Key` to get the same receipt. Submissions arriving together are"
        " stored in one transaction; the receipt is answered only after it committed."
        " Under overload, or while the database is unreachable, 503 with `Retry-After`."
    ),
    responses={
        401: UNAUTHORISED,
        403: problem("The key may not submit for this unit."),
        409: problem("The Idempotency-Key was used with another body."),
        413: problem("The body is over the size limit."),
        422: problem(
            "Incomplete or invalid dossier.",
            {
                "type": "about:blank",
                "title": "Hồ sơ chưa đầy đủ",
                "status": 422,
                "detail": "Required documents are missing; nothing was received.",
                "missing_documents": [{"type_code": "GCS", "name": "Giấy chứng sinh"}],
            },
        ),
        503: UNAVAILABLE,
    },
)
async def submit(
    body: SubmitDossier,
    ctx: ContextDep,
    portal: PortalDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            description="Retry-safe key chosen by the portal.",
            examples=["igate-2026-000123"],
        ),
    ] = None,
) -> JSONResponse:
    status, payload = await submit_for_portal(ctx, portal, body, idempotency_key)
    return JSONResponse(payload, status_code=status)


async def submit_for_portal(
    ctx: IntakeContext,
    portal: Portal,
    body: SubmitDossier,
    idempotency_key: str | None,
    external_code: str | None = None,
) -> tuple[int, dict[str, Any]]:
    if not portal.may_act_for(body.receiving_unit):
        raise ProblemError(
            403,
            "Cổng không được phép nộp hồ sơ cho đơn vị này",
            f"This key may not submit for unit {body.receiving_unit}.",
        )
    try:
        return await submit_dossier(
            ctx,
            body,
            portal_id=portal.id,
            idempotency_key=idempotency_key,
            now=clock.now(),
            external_code=external_code,
        )
    except SubmissionRefused as refused:
        raise ProblemError(422, refused.title, refused.detail, **refused.extra) from refused


async def _portal_dossier(ctx: IntakeContext, portal: Portal, ref: str) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.load_dossier(conn, ref)
    if row is None or not portal.may_act_for(row["receiving_unit"]):
        raise ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for this portal.")
    return row


async def _read_personal(ctx: IntakeContext, portal: Portal, ref: str) -> dict[str, Any]:
    """A dossier whose personal data (the applicant's name) goes to the portal: counted."""
    row = await _portal_dossier(ctx, portal, ref)
    caller = portal.id if portal.id.startswith("service:") else f"portal:{portal.id}"
    note_reads(ctx.reads, caller, [row["id"]])
    return row


@router.get(
    "/dossiers/{ref}",
    response_model=DossierView,
    summary="A dossier's status, current unit, deadlines and timeline (times in +07:00).",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_dossier(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    row = await _portal_dossier(ctx, portal, ref)
    async with ctx.runtime.pool.acquire() as conn:
        timeline = await repo.load_timeline(conn, row["id"])
    return dossier_view(ctx.catalog, row, timeline)


@router.get(
    "/dossiers/{ref}/receipt",
    response_model=ReceiptForm,
    summary="The receipt and appointment (form 01) as data.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_receipt(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    return receipt_form(ctx.catalog, await _read_personal(ctx, portal, ref))


@router.get(
    "/dossiers/{ref}/receipt.html",
    response_class=HTMLResponse,
    summary="The receipt and appointment (form 01) as a printable Vietnamese page.",
    responses={
        200: {"content": {"text/html": {"example": "<!doctype html>…"}}},
        401: UNAUTHORISED,
        404: NOT_FOUND,
    },
)
async def get_receipt_html(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> HTMLResponse:
    form = receipt_form(ctx.catalog, await _read_personal(ctx, portal, ref))
    return HTMLResponse(receipt_html(form))


class ApplicantView(BaseModel):
    full_name: str
    citizen_id_masked: str = Field(description="The last three digits only.")
    phone: str
    email: str | None
    address: str


class FeeView(BaseModel):
    code: str
    amount_vnd: int


class DossierParticulars(BaseModel):
    """What an official handling the dossier needs of the applicant and the request."""

    code: str
    applicant: ApplicantView | None = Field(description="None once anonymised.")
    summary: str
    channel: int
    fees: list[FeeView]


@router.get(
    "/dossiers/{ref}/particulars",
    response_model=DossierParticulars,
    summary="The applicant (ID masked), the request's summary and the fees paid.",
    description="For the dossier's portal and the console (routing's credential); each"
    " read is counted as a read of personal data.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_particulars(ref: CodePath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    return particulars(await _read_personal(ctx, portal, ref))


class ContactRefs(BaseModel):
    refs: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        max_length=500
    )


@internal.post("/contacts:batch")
async def contacts_batch(
    body: ContactRefs,
    ctx: ContextDep,
    caller: Annotated[str, Depends(service_caller("notify", "sla"))],
) -> dict[str, Any]:
    """Many opaque contact references at once (notify's sender asks once per batch of
    messages; never by dossier id or code): the contacts found, by reference, and the
    references unknown or whose personal data was erased at the end of its retention."""
    async with ctx.runtime.pool.acquire() as conn:
        rows = await repo.load_by_contact_refs(conn, body.refs)
    contacts = {
        ref: contact for ref, row in rows.items() if (contact := _contact_of(row)) is not None
    }
    note_reads(ctx.reads, f"service:{caller}", [rows[ref]["id"] for ref in contacts])
    return {"contacts": contacts, "missing": [r for r in body.refs if r not in contacts]}


def _contact_of(row: dict[str, Any]) -> dict[str, Any] | None:
    applicant = json.loads(row["applicant"])
    if "full_name" not in applicant:  # anonymised at the end of its retention
        return None
    return {
        "full_name": applicant["full_name"],
        "phone": applicant["phone"],
        "email": applicant.get("email"),
        "procedure_code": row["procedure_code"],
        "dossier_code": row["code"],
    }


@internal.get("/contacts/{contact_ref}")
async def contact(
    contact_ref: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: ContextDep,
    caller: Annotated[str, Depends(service_caller("notify", "sla"))],
) -> dict[str, Any]:
    """Contact details for notify (and SLA's letters), fetched by the opaque contact
    reference (never the dossier id or code) so events carry no personal data; only those
    two services' credentials are accepted."""
    row = await _personal_row(ctx, contact_ref)
    note_reads(ctx.reads, f"service:{caller}", [row["id"]])
    found = _contact_of(row)
    assert found is not None  # _personal_row refused an anonymised one
    return found


@internal.get("/postal-recipients/{contact_ref}")
async def postal_recipient(
    contact_ref: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: ContextDep,
    caller: Annotated[str, Depends(service_caller("routing"))],
) -> dict[str, Any]:
    """Who receives a result by post, for routing's postal order: name, phone and postal
    address of a dossier whose citizen chose return by post, and nothing else (the same
    404 for any other dossier)."""
    row = await _personal_row(ctx, contact_ref)
    applicant = json.loads(row["applicant"])
    if not applicant.get("postal_address"):
        raise ProblemError(404, "Hồ sơ không đăng ký nhận kết quả qua bưu chính")
    note_reads(ctx.reads, f"service:{caller}", [row["id"]])
    return {
        "full_name": applicant["full_name"],
        "phone": applicant["phone"],
        "postal_address": applicant["postal_address"],
        "dossier_code": row["code"],
    }


class DossierSearch(BaseModel):
    """What routing's console looks for: an applicant's name or the phone's last digits."""

    mode: Literal["name", "phone"]
    query: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    limit: int = Field(default=500, ge=1, le=1000)
    within: list[UUID] | None = Field(
        default=None,
        max_length=20_000,
        description="Only among these dossiers (the caller's queue): the answer is exact there.",
    )


@internal.post("/dossier-search")
async def dossier_search(
    body: DossierSearch,
    ctx: ContextDep,
    caller: Annotated[str, Depends(service_caller("routing"))],
) -> dict[str, Any]:
    """Dossiers whose applicant's name holds the query's words in order, case and
    diacritics ignored ("nguyen thi lan" finds "Nguyễn Thị Lan"), or whose phone ends
    with the query's 4 to 10 digits; newest first, bounded. Ids and codes only, no
    personal data; only routing's credential (its console audits who searched). POST, so
    that the name is in no URL or access log."""
    del caller
    words: list[str] | None = None
    phrase: str | None = None
    suffix: str | None = None
    if body.mode == "phone":
        if not PHONE_SUFFIX.match(body.query):
            raise ProblemError(422, "Số điện thoại tìm kiếm phải gồm 4 đến 10 chữ số")
        suffix = body.query
    else:
        phrase = fold_name(body.query)
        if len(phrase) < 2:
            raise ProblemError(422, "Tên tìm kiếm quá ngắn")
        words = sorted(set(phrase.split(" ")))
        phrase = like_escape(phrase)
    async with ctx.runtime.pool.acquire() as conn:
        rows = await repo.search_applicants(
            conn,
            words=words,
            phrase=phrase,
            phone_suffix=suffix,
            within=body.within,
            limit=body.limit + 1,
        )
    found = rows[: body.limit]
    return {
        "matches": [{"id": str(r["id"]), "code": r["code"]} for r in found],
        "truncated": len(rows) > body.limit,
    }


async def _personal_row(ctx: IntakeContext, contact_ref: str) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.load_by_contact_ref(conn, contact_ref)
    if row is None:
        raise ProblemError(404, "Không tìm thấy người nhận")
    if "full_name" not in json.loads(row["applicant"]):  # anonymised at end of retention
        raise ProblemError(404, "Dữ liệu cá nhân của hồ sơ đã được xóa theo thời hạn lưu trữ")
    return dict(row)
