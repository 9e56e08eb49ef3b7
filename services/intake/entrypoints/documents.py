"""Intake's signed PDFs: the receipt (form 01) for the dossier's portal, the unit's
register (form 07) for its officials, and the verification of any signed document."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from contracts.bounds import UNIT_PATTERN, Day
from contracts.vietnam import VN_TZ
from services.intake.adapters.registers import REGISTER_MAX_ROWS, register_rows
from services.intake.documents import receipt_document, register_document
from services.intake.entrypoints.http import NOT_FOUND, UNAUTHORISED, CodePath, _read_personal
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.runtime import clock
from services.runtime.auth import operator_principal
from services.runtime.data_access import note_reads
from services.runtime.documents.service import PDF, Documents, documents_of, pdf_response
from services.runtime.documents.signing import UnreadablePdf, Verification
from services.runtime.principal import Principal
from services.runtime.problems import ProblemError, problem_response, problem_responses
from services.runtime.ratelimit import TokenBuckets, retry_after_header

router = APIRouter(prefix="/v1", tags=["documents"])
DocumentsDep = Annotated[Documents, Depends(documents_of)]
PDF_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}
}
VERIFY_BURST, VERIFY_REFILL_PER_SECOND = 20, 1.0
OCTET_STREAM = "application/octet-stream"


@router.get(
    "/dossiers/{ref}/receipt.pdf",
    response_class=Response,
    summary="The receipt and appointment (form 01) as a signed PDF.",
    responses={**PDF_OK, 401: UNAUTHORISED, 404: NOT_FOUND},
)
async def receipt_pdf(
    ref: CodePath, ctx: ContextDep, portal: PortalDep, documents: DocumentsDep
) -> Response:
    row = await _read_personal(ctx, portal, ref)
    form = receipt_document(ctx.catalog, row, documents.place)
    return pdf_response(await documents.issue(form), form.form, form.dossier_code)


async def register_reader(
    request: Request,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
    x_service_token: Annotated[str | None, Header(max_length=512)] = None,
) -> Principal | None:
    """An operator (bearer token) or the operators' / console's own credential."""
    if x_service_token and not authorization:
        request.app.state.runtime.credentials.require(x_service_token, ("ops", "routing"))
        return None
    return await operator_principal(request, authorization)


@router.get(
    "/registers/{unit}.pdf",
    response_class=Response,
    summary="The unit's register of dossiers (form 07) over a period, as a signed PDF.",
    description="For the unit's officials (bearer token), the province supervisor, or the"
    " `ops` credential. Dossiers received from `from` to `to` (Vietnam dates, both"
    f" included, at most 366 days, at most {REGISTER_MAX_ROWS} dossiers).",
    responses={**PDF_OK, **problem_responses(401, 403, 422)},
)
async def register_pdf(
    unit: Annotated[str, Path(max_length=32, pattern=UNIT_PATTERN)],
    ctx: ContextDep,
    documents: DocumentsDep,
    who: Annotated[Principal | None, Depends(register_reader)],
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
) -> Response:
    if who is not None and not who.may_act_for(unit):
        raise ProblemError(403, "Không có quyền xem sổ theo dõi hồ sơ của đơn vị khác")
    if end < start or (end - start).days > 366:
        raise ProblemError(422, "Khoảng thời gian không hợp lệ", "from ≤ to, at most 366 days.")
    since = datetime.combine(start, dtime(), VN_TZ)
    until = datetime.combine(end + timedelta(days=1), dtime(), VN_TZ)
    async with ctx.runtime.pool.acquire() as conn:
        rows = await register_rows(conn, unit, since, until)
    if len(rows) > REGISTER_MAX_ROWS:
        raise ProblemError(
            422,
            "Sổ có quá nhiều hồ sơ, hãy chọn khoảng thời gian ngắn hơn",
            f"More than {REGISTER_MAX_ROWS} dossiers in the period.",
        )
    caller = f"operator:{who.user_id}" if who is not None else "service:ops"
    note_reads(ctx.reads, caller, [r["id"] for r in rows])
    form = register_document(ctx.catalog, unit, (start, end), rows, clock.now(), documents.place)
    pdf = await documents.issue(form)
    return pdf_response(pdf, "07", f"{unit}-{start:%Y%m%d}-{end:%Y%m%d}")


def _buckets(request: Request) -> TokenBuckets:
    state = request.app.state.runtime.state
    found = state.get("verify_buckets")
    if found is None:
        found = state["verify_buckets"] = TokenBuckets(VERIFY_BURST, VERIFY_REFILL_PER_SECOND)
    assert isinstance(found, TokenBuckets)
    return found


@router.post(
    "/documents/verify",
    response_model=Verification,
    summary="Whether a signed PDF is intact and who signed it.",
    description="Send the PDF itself as the body (`Content-Type: application/pdf`, within"
    " the request size limit). Open to anyone holding a document; rate-limited per client"
    " address. `verified` is true only when every signature is intact, valid and chains to"
    " the province's trusted root, and nothing was added after the last one.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                PDF: {"schema": {"type": "string", "format": "binary"}},
                OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    responses=problem_responses(415, 422, 429),
)
async def verify(request: Request, documents: DocumentsDep) -> Verification | JSONResponse:
    client = request.client.host if request.client else "unknown"
    wait = _buckets(request).take(client, time.monotonic())
    if wait > 0:
        refused = problem_response(429, "Kiểm tra quá nhiều lần", "Try again later.")
        refused.headers["Retry-After"] = retry_after_header(wait)
        return refused
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (PDF, OCTET_STREAM):
        raise ProblemError(415, "Hãy gửi tệp PDF", "Send the PDF as application/pdf.")
    body = await request.body()
    if not body.startswith(b"%PDF-"):
        raise ProblemError(422, "Tệp không phải là văn bản PDF", "The body is not a PDF.")
    try:
        return await documents.verify(body)
    except UnreadablePdf as bad:
        raise ProblemError(422, "Không đọc được tệp PDF", "The PDF cannot be parsed.") from bad
