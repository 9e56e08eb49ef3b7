"""SLA's REST routes: the working calendar as a service."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, Field

from services.runtime.problems import ProblemError
from services.sla.adapters.calendars import CalendarBook
from services.workcal.calendar import CalendarError

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])


class DueRequest(BaseModel):
    start: AwareDatetime = Field(examples=["2026-02-13T10:00:00+07:00"])
    working_hours: Decimal = Field(ge=0, le=100_000, examples=[24])
    unit_code: str | None = Field(default=None, max_length=32)


class DueResponse(BaseModel):
    due: datetime


class ElapsedRequest(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    unit_code: str | None = Field(default=None, max_length=32)


class ElapsedResponse(BaseModel):
    working_hours: Decimal


class OverrideRequest(BaseModel):
    day: date
    kind: Literal["day_off", "working_day"]
    unit_code: str = Field(default="*", max_length=32)
    note: str = Field(default="", max_length=500)


def get_book(request: Request) -> CalendarBook:
    book: CalendarBook = request.app.state.runtime.state["calendars"]
    return book


BookDep = Annotated[CalendarBook, Depends(get_book)]


@router.post("/due", response_model=DueResponse, summary="Add working hours to an instant.")
async def due(body: DueRequest, book: BookDep) -> DueResponse:
    try:
        result = book.for_unit(body.unit_code).add_working_hours(body.start, body.working_hours)
    except CalendarError as exc:
        raise ProblemError(422, "Không tính được hạn", str(exc)) from exc
    return DueResponse(due=result)


@router.post(
    "/elapsed", response_model=ElapsedResponse, summary="Working hours between two instants."
)
async def elapsed(body: ElapsedRequest, book: BookDep) -> ElapsedResponse:
    try:
        hours = book.for_unit(body.unit_code).working_hours_between(body.start, body.end)
    except CalendarError as exc:
        raise ProblemError(422, "Không tính được thời gian", str(exc)) from exc
    return ElapsedResponse(working_hours=hours)


@router.put("/overrides", status_code=204, summary="Add or change an administrator override.")
async def put_override(body: OverrideRequest, request: Request, book: BookDep) -> None:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO calendar_overrides (unit_code, day, kind, note) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (unit_code, day) DO UPDATE SET kind = $3, note = $4",
            body.unit_code,
            body.day,
            body.kind,
            body.note,
        )
        await book.reload(conn)
