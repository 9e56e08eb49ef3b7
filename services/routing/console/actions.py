"""Console: what the actions on a dossier need besides routing's operator API (a unit's
officials to hand a task to) and the printable forms of the other services, fetched
server-side with routing's credential once the operator may see the dossier.

The forms carry the citizen's name, so each print is written to the access log. The
browser cannot send its bearer token with a plain link, so the page fetches these and
opens what they answer.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from contracts.bounds import UNIT_PATTERN, SafeStr
from services.routing.adapters import access_log, accounts
from services.routing.console.common import (
    DossierRefPath,
    PrincipalDep,
    call,
    check_dossier_access,
    no_such_dossier,
    record_console_read,
    runtime_of,
)
from services.runtime.auth import Principal
from services.runtime.problems import ProblemError

api = APIRouter()
UnitPath = Annotated[SafeStr, PathParam(max_length=32, pattern=UNIT_PATTERN)]
TxnPath = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9]{1,100}$")]


@api.get("/units/{unit}/officials")
async def officials(request: Request, unit: UnitPath, who: PrincipalDep) -> dict[str, Any]:
    """The unit's officials a task may be handed to (the operator's own unit; a province
    supervisor any unit)."""
    if not who.may_act_for(unit):
        raise ProblemError(403, "Không có quyền xem cán bộ của đơn vị khác")
    async with runtime_of(request).pool.acquire() as conn:
        found = await accounts.colleagues(conn, unit)
    return {"unit_code": unit, "officials": found}


async def _form(
    request: Request, who: Principal, ref: str, service: str, path: str, part: str
) -> HTMLResponse:
    found = await check_dossier_access(request, who, ref)
    if found is None:
        raise no_such_dossier()  # routing has not started it: nothing to print yet
    code = found["dossier_code"]
    await record_console_read(
        request,
        who,
        what=access_log.CONSOLE_FORM,
        parts=(part,),
        dossier_id=found["dossier_id"],
        dossier_code=code,
    )
    status, body = await call(request, service, "GET", path.format(code=code))
    if status == 404:
        raise ProblemError(404, "Không tìm thấy văn bản")
    if status != 200 or not isinstance(body, str):
        raise ProblemError(502, "Không lấy được văn bản từ dịch vụ", f"{service}: HTTP {status}")
    return HTMLResponse(body)


@api.get("/dossiers/{ref}/receipt.html", response_class=HTMLResponse)
async def receipt(request: Request, ref: DossierRefPath, who: PrincipalDep) -> HTMLResponse:
    """Form 01, the receipt and appointment, as intake prints it."""
    return await _form(request, who, ref, "intake", "/v1/dossiers/{code}/receipt.html", "01")


@api.get("/dossiers/{ref}/apologies/{letter_id}.html", response_class=HTMLResponse)
async def apology(
    request: Request, ref: DossierRefPath, letter_id: UUID, who: PrincipalDep
) -> HTMLResponse:
    """Form 04, the apology and new appointment, as SLA prints it (a letter of this
    dossier only)."""
    found = await check_dossier_access(request, who, ref)
    if found is None:
        raise no_such_dossier()
    status, letters = await call(
        request, "sla", "GET", "/v1/apologies", params={"dossier": found["dossier_code"]}
    )
    ours = status == 200 and any(str(letter.get("id")) == str(letter_id) for letter in letters)
    if not ours:
        raise ProblemError(404, "Không tìm thấy văn bản xin lỗi")
    return await _form(request, who, ref, "sla", f"/v1/apologies/{letter_id}.html", "04")


@api.get("/dossiers/{ref}/payments/{txn_ref}/receipt.html", response_class=HTMLResponse)
async def payment_receipt(
    request: Request, ref: DossierRefPath, txn_ref: TxnPath, who: PrincipalDep
) -> HTMLResponse:
    """The electronic receipt (biên lai điện tử) of a paid obligation, as intake prints it."""
    path = f"/v1/dossiers/{{code}}/payments/{txn_ref}/receipt.html"
    return await _form(request, who, ref, "intake", path, "payment_receipt")
