"""SLA's REST routes: the working calendar as a service, apology letters, reports."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, model_validator

from contracts.bounds import Code, Day, Instant, SafeStr, UnitCode
from services.runtime.auth import Principal
from services.runtime.problems import PROBLEM_JSON, ProblemError, problem_responses
from services.runtime.service import Runtime
from services.sla.adapters.calendars import CalendarBook
from services.sla.adapters.dossier_units import dossiers_named, units_of
from services.sla.adapters.store import load_ratings
from services.sla.domain.access import is_supervisor, may_read_dossier, may_read_report
from services.sla.domain.apology import ApologyLetter, ApologyLetterView, render_html
from services.sla.domain.reports import DossierFacts, build_report, to_csv
from services.workcal.calendar import VN_TZ, CalendarError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
letters = APIRouter(prefix="/v1/apologies", tags=["apologies"])
reports = APIRouter(prefix="/v1", tags=["reports"])
# The calendar answers anyone, so each question's work is bounded: about five years of
# working time, ten years between two instants (a day at a time, ~4 ms).
MAX_WORKING_HOURS = 10_000
MAX_ELAPSED_SPAN = timedelta(days=3660)


# A unit's own calendar, or "*" (the province's) for overrides.
UnitOrAll = Annotated[
    SafeStr, Field(min_length=1, max_length=32, pattern=r"^(\*|[0-9A-Za-z.\-]+)$")
]
UnitOrAllQuery = Annotated[
    SafeStr, Query(min_length=1, max_length=32, pattern=r"^(\*|[0-9A-Za-z.\-]+)$")
]
DossierRef = Annotated[
    SafeStr,
    Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-]+$", description="Code or id."),
]
NOT_FOUND = problem_responses(404)
CALLER = problem_responses(401, 403)


class DueRequest(BaseModel):
    start: Instant = Field(examples=["2026-02-13T10:00:00+07:00"])
    working_hours: Decimal = Field(ge=0, le=MAX_WORKING_HOURS, examples=[24])
    unit_code: UnitCode | None = None
    procedure_code: Code | None = Field(
        default=None,
        description="When given, `start` is a receipt time: the clock starts at the next"
        " opening, or the next working day after the procedure's cut-off.",
    )


class DueResponse(BaseModel):
    due: datetime


class ElapsedRequest(BaseModel):
    start: Instant
    end: Instant = Field(description="At most ten years from `start`, either way.")
    unit_code: UnitCode | None = None

    @model_validator(mode="after")
    def bounded(self) -> ElapsedRequest:
        if abs(self.end - self.start) > MAX_ELAPSED_SPAN:
            raise ValueError("`start` and `end` may be at most ten years apart")
        return self


class ElapsedResponse(BaseModel):
    working_hours: float = Field(description="Negative when `end` is before `start`.")


class OverrideRequest(BaseModel):
    day: Day
    kind: Literal["day_off", "working_day"]
    unit_code: UnitOrAll = "*"
    note: Annotated[SafeStr, Field(max_length=500)] = ""


class Override(BaseModel):
    unit_code: str
    day: date
    kind: Literal["day_off", "working_day"]
    note: str


async def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_book(rt: RuntimeDep) -> CalendarBook:
    book: CalendarBook = rt.state["calendars"]
    async with rt.pool.acquire() as conn:
        await book.refresh(conn)  # an override made through another instance applies now
    return book


BookDep = Annotated[CalendarBook, Depends(get_book)]


async def caller(
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
    x_service_token: Annotated[str | None, Header(max_length=512)] = None,
) -> Principal | None:
    """An operator (bearer token) or the console / operators' scripts (their own
    credential in X-Service-Token, answers None)."""
    if x_service_token is not None:
        rt.credentials.require(x_service_token, ("routing", "ops"))
        return None
    return await rt.auth.principal(authorization)


CallerDep = Annotated[Principal | None, Depends(caller)]


def administrator(who: CallerDep) -> None:
    """Calendar overrides are the province administrator's (or a service's) to make."""
    if who is not None and who.role != "province_supervisor":
        raise ProblemError(403, "Chỉ quản trị cấp tỉnh được điều chỉnh lịch làm việc")


AdminDep = Annotated[None, Depends(administrator)]


def _check_unit(book: CalendarBook, unit_code: str | None) -> None:
    if unit_code is not None and unit_code != "*" and not book.known_unit(unit_code):
        raise ProblemError(404, "Không có đơn vị này", f"Unknown unit {unit_code}.")


@router.post(
    "/due",
    response_model=DueResponse,
    responses=NOT_FOUND,
    summary="Add working hours to an instant.",
)
async def due(body: DueRequest, book: BookDep) -> DueResponse:
    _check_unit(book, body.unit_code)
    calendar = book.for_unit(body.unit_code)
    try:
        start: datetime = body.start
        if body.procedure_code is not None:
            start = calendar.clock_start(start, book.cut_off(body.procedure_code))
        result = calendar.add_working_hours(start, body.working_hours)
    except CalendarError as exc:
        raise ProblemError(422, "Không tính được hạn", str(exc)) from exc
    return DueResponse(due=result.astimezone(VN_TZ))


@router.post(
    "/elapsed",
    response_model=ElapsedResponse,
    responses=NOT_FOUND,
    summary="Working hours between two instants.",
)
async def elapsed(body: ElapsedRequest, book: BookDep) -> ElapsedResponse:
    _check_unit(book, body.unit_code)
    try:
        hours = book.for_unit(body.unit_code).working_hours_between(body.start, body.end)
    except CalendarError as exc:
        raise ProblemError(422, "Không tính được thời gian", str(exc)) from exc
    return ElapsedResponse(working_hours=float(hours))


@router.put(
    "/overrides",
    status_code=204,
    responses={**CALLER, **NOT_FOUND},
    summary="Add or change an administrator override.",
)
async def put_override(
    body: OverrideRequest, rt: RuntimeDep, book: BookDep, _admin: AdminDep
) -> None:
    _check_unit(book, body.unit_code)
    async with rt.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO calendar_overrides (unit_code, day, kind, note) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (unit_code, day) DO UPDATE SET kind = $3, note = $4",
            body.unit_code,
            body.day,
            body.kind,
            body.note,
        )
        await conn.execute("UPDATE calendar_version SET version = version + 1 WHERE id = 1")
    async with rt.pool.acquire() as conn:
        await book.reload(conn)


@router.delete(
    "/overrides",
    status_code=204,
    responses={**CALLER, **NOT_FOUND},
    summary="Remove an administrator override.",
)
async def delete_override(
    rt: RuntimeDep,
    book: BookDep,
    _admin: AdminDep,
    day: Annotated[Day, Query()],
    unit_code: UnitOrAllQuery = "*",
) -> None:
    async with rt.pool.acquire() as conn, conn.transaction():
        result = await conn.execute(
            "DELETE FROM calendar_overrides WHERE unit_code = $1 AND day = $2", unit_code, day
        )
        if result.endswith(" 0"):
            raise ProblemError(404, "Không có ngày điều chỉnh này")
        await conn.execute("UPDATE calendar_version SET version = version + 1 WHERE id = 1")
    async with rt.pool.acquire() as conn:
        await book.reload(conn)


@router.get("/overrides", response_model=list[Override], summary="The administrator's overrides.")
async def list_overrides(rt: RuntimeDep) -> list[dict[str, Any]]:
    rows = await rt.pool.fetch(
        "SELECT unit_code, day, kind, note FROM calendar_overrides ORDER BY day, unit_code"
    )
    return [dict(r) for r in rows]


# --------------------------------------------------------------------------- letters


async def _letter(rt: Runtime, letter_id: UUID) -> ApologyLetter:
    raw = await rt.pool.fetchval("SELECT letter FROM apologies WHERE id = $1", letter_id)
    if raw is None:
        raise ProblemError(404, "Không tìm thấy văn bản xin lỗi", f"No letter {letter_id}.")
    return ApologyLetter.model_validate_json(raw)


async def _citizen_name(rt: Runtime, contact_ref: str | None) -> str | None:
    url = str(rt.state.get("intake_url") or "")
    if not contact_ref or not url:
        return None
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.get(
                f"{url}/internal/v1/contacts/{contact_ref}",
                headers={"X-Service-Token": rt.settings.own_service_token()},
            )
        answer.raise_for_status()
        name = answer.json().get("full_name")
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("contact look-up for a letter failed: %s", type(exc).__name__)
        return None
    return str(name) if name else None


FORBIDDEN_DOSSIER = "Không có quyền xem hồ sơ của đơn vị khác"
NOT_YOUR_UNIT = "The dossier did not pass through your unit."


async def _check_dossier(rt: Runtime, who: Principal | None, dossier_id: UUID) -> None:
    """403 unless the caller may read this dossier (see ``domain.access``)."""
    if is_supervisor(who):
        return
    async with rt.pool.acquire() as conn:
        units = await units_of(conn, dossier_id)
    if not may_read_dossier(who, units):
        raise ProblemError(403, FORBIDDEN_DOSSIER, NOT_YOUR_UNIT)


async def _readable_letter(rt: Runtime, who: Principal | None, letter_id: UUID) -> ApologyLetter:
    """A unit reads (and prints) only the letters of dossiers that passed through it: the
    unit that apologised, or a unit of the dossier's history in SLA."""
    letter = await _letter(rt, letter_id)
    if not may_read_dossier(who, {letter.responsible_unit}):
        await _check_dossier(rt, who, letter.dossier_id)
    return letter


@letters.get(
    "/{letter_id}.html",
    response_class=HTMLResponse,
    responses={**CALLER, **NOT_FOUND},
    summary="Printable form 04.",
)
async def letter_html(letter_id: UUID, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    """Carries the citizen's name (fetched from intake), so only operators of the units
    the dossier passed through (or a supervisor, or the console) may print it."""
    letter = await _readable_letter(rt, who, letter_id)
    current = await rt.pool.fetchval(
        "SELECT contact_ref FROM dossiers WHERE dossier_id = $1", letter.dossier_id
    )
    name = await _citizen_name(rt, current or letter.contact_ref)
    headers = {} if name else {"X-Contact-Lookup": "unavailable"}
    return HTMLResponse(render_html(letter, name), headers=headers)


@letters.get(
    "/{letter_id}",
    response_model=ApologyLetterView,
    responses={**CALLER, **NOT_FOUND},
    summary="Form 04 as data.",
)
async def letter_json(letter_id: UUID, rt: RuntimeDep, who: CallerDep) -> ApologyLetterView:
    return _public(await _readable_letter(rt, who, letter_id))


def _public(letter: ApologyLetter) -> ApologyLetterView:
    """No contact reference leaves SLA."""
    return ApologyLetterView.model_validate(letter.model_dump(exclude={"contact_ref"}))


@letters.get(
    "",
    response_model=list[ApologyLetterView],
    responses=CALLER,
    summary="Letters of one dossier.",
)
async def letters_of(
    rt: RuntimeDep,
    who: CallerDep,
    dossier: DossierRef,
) -> list[ApologyLetterView]:
    if not is_supervisor(who):
        # Refused alike whether the dossier is another unit's or unknown: no oracle.
        async with rt.pool.acquire() as conn:
            named = await dossiers_named(conn, dossier)
            units = {u for dossier_id in named for u in await units_of(conn, dossier_id)}
        if not may_read_dossier(who, units):
            raise ProblemError(403, FORBIDDEN_DOSSIER, NOT_YOUR_UNIT)
    rows = await rt.pool.fetch(
        "SELECT letter FROM apologies WHERE letter->>'dossier_code' = $1"
        " OR letter->>'dossier_id' = $1 ORDER BY created_at",
        dossier,
    )
    return [_public(ApologyLetter.model_validate_json(r["letter"])) for r in rows]


@reports.get(
    "/dossiers/{dossier_id}/deadlines",
    responses={**CALLER, **NOT_FOUND},
    summary="A dossier's deadlines and extensions.",
)
async def deadlines_of(dossier_id: UUID, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    await _check_dossier(rt, who, dossier_id)
    rows = await rt.pool.fetch(
        "SELECT d.id, d.kind, d.task_id, d.unit_code, d.step_name, d.starts_at,"
        " d.allotment_hours, d.due_at, d.due_soon_at, d.state, d.paused_at, d.closed_at,"
        " d.outcome, d.escalate_at, t.next_fire_at, t.due_soon_fired, t.overdue_fired,"
        " t.escalated FROM deadlines d LEFT JOIN timers t ON t.deadline_id = d.id"
        " WHERE d.dossier_id = $1 ORDER BY d.created_at, d.kind",
        dossier_id,
    )
    extensions = await rt.pool.fetch(
        "SELECT old_appointment_at, new_appointment_at, letter_id, created_at FROM extensions"
        " WHERE dossier_id = $1 ORDER BY id",
        dossier_id,
    )
    dossier = await rt.pool.fetchrow(
        "SELECT status, supplement_count, ended_at, end_status, outcome FROM dossiers"
        " WHERE dossier_id = $1",
        dossier_id,
    )
    if not rows and dossier is None:
        raise ProblemError(404, "Không tìm thấy hồ sơ")
    return {
        "dossier_id": dossier_id,
        "dossier": dict(dossier) if dossier is not None else None,
        "deadlines": [dict(r) for r in rows],
        "extensions": [dict(r) for r in extensions],
    }


# --------------------------------------------------------------------------- reports


REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, or CSV with `format=csv`.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    422: {
        "description": "Invalid parameters, or `to` not after `from`.",
        "content": {PROBLEM_JSON: problem_responses(422)[422]["content"][PROBLEM_JSON]},
    },
}


@reports.get(
    "/reports",
    responses=REPORT_RESPONSES,
    summary="The figures a unit reports for a period (JSON or CSV).",
)
async def report(
    rt: RuntimeDep,
    who: CallerDep,
    book: BookDep,
    start: Annotated[Instant, Query(alias="from")],
    end: Annotated[Instant, Query(alias="to")],
    unit: Annotated[SafeStr | None, Query(max_length=32)] = None,
    field: Annotated[SafeStr | None, Query(max_length=64)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    if not may_read_report(who, unit):
        raise ProblemError(
            403,
            "Chỉ xem được báo cáo của đơn vị mình",
            "Officials and unit heads read their own unit's report (`unit`).",
        )
    if end <= start:
        raise ProblemError(422, "Khoảng thời gian không hợp lệ", "`to` must be after `from`.")
    rows = await rt.pool.fetch(
        "SELECT x.dossier_id, x.receiving_unit, x.field_code, x.channel, x.received_at,"
        " COALESCE(d.due_at, x.appointment_at) AS due_at, x.supplement_count, x.status,"
        " x.ended_at, x.end_status, x.outcome, x.returned_at"
        " FROM dossiers x LEFT JOIN deadlines d ON d.dossier_id = x.dossier_id"
        " AND d.kind = 'dossier'"
        " WHERE x.received_at IS NOT NULL AND x.received_at < $2"
        " AND (x.ended_at IS NULL OR x.ended_at >= $1)"
        " AND ($3::text IS NULL OR x.receiving_unit = $3)"
        " AND ($4::text IS NULL OR x.field_code = $4)",
        start,
        end,
        unit,
        field,
    )
    facts = [
        DossierFacts(
            dossier_id=str(r["dossier_id"]),
            unit_code=r["receiving_unit"],
            field_code=r["field_code"] or "",
            channel=r["channel"] or 0,
            received_at=r["received_at"],
            due_at=r["due_at"],
            supplement_requests=r["supplement_count"],
            status=r["status"],
            ended_at=r["ended_at"],
            end_status=r["end_status"],
            outcome=r["outcome"],
            returned=r["returned_at"] is not None,
        )
        for r in rows
    ]
    ratings = await load_ratings(rt.pool, start, end, unit, field)
    # Due soon: within one working day of the period's end, by the unit's calendar.
    policy = rt.state["sla"].policy
    soon = book.for_unit(unit).add_working_hours(end, policy.due_soon_hours)
    result = build_report(facts, start, end, unit, field, ratings, soon)
    if format == "csv":
        return Response(
            to_csv([result]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="bao-cao.csv"'},
        )
    return Response(json.dumps(result.as_dict(), ensure_ascii=False), media_type="application/json")
