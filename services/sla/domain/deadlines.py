"""Pure decisions about deadlines: when they are due, warned, paused, and how they end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from services.workcal.calendar import WorkingCalendar

DUE_SOON_HOURS = Decimal(8)  # warn one working day before


class Outcome(StrEnum):
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"


@dataclass(frozen=True)
class Schedule:
    starts_at: datetime
    due_at: datetime
    due_soon_at: datetime | None


def schedule(
    calendar: WorkingCalendar, assigned_at: datetime, allotment_hours: Decimal
) -> Schedule:
    start = calendar.clock_start(assigned_at)
    due = calendar.add_working_hours(start, allotment_hours)
    return Schedule(start, due, due_soon_at(calendar, start, due))


def due_soon_at(calendar: WorkingCalendar, start: datetime, due: datetime) -> datetime | None:
    """One working day before the due instant, if the allotment is longer than that."""
    if calendar.working_hours_between(start, due) <= DUE_SOON_HOURS:
        return None
    return calendar.add_working_hours(
        start, calendar.working_hours_between(start, due) - DUE_SOON_HOURS
    )


def resumed_due(
    calendar: WorkingCalendar, due_at: datetime, paused_at: datetime, resumed_at: datetime
) -> datetime:
    """The due date moves by the working time the citizen took."""
    remaining = calendar.working_hours_between(paused_at, due_at)
    return calendar.add_working_hours(calendar.clock_start(resumed_at), remaining)


def outcome(calendar: WorkingCalendar, ended_at: datetime, due_at: datetime) -> Outcome:
    """Early when at least one working day is left, late when past due, else on time."""
    if ended_at > due_at:
        return Outcome.LATE
    if calendar.working_hours_between(ended_at, due_at) >= DUE_SOON_HOURS:
        return Outcome.EARLY
    return Outcome.ON_TIME


def next_fire(
    due_soon_at: datetime | None, due_soon_fired: bool, due_at: datetime, overdue_fired: bool
) -> datetime | None:
    if due_soon_at is not None and not due_soon_fired:
        return due_soon_at
    if not overdue_fired:
        return due_at
    return None
