"""Pure decisions about deadlines: when they are due, warned, paused, and how they end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from services.workcal.calendar import WorkingCalendar

DUE_SOON_HOURS = Decimal(8)  # warn one working day before (default; configurable)


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
    calendar: WorkingCalendar,
    assigned_at: datetime,
    allotment_hours: Decimal,
    window_hours: Decimal = DUE_SOON_HOURS,
) -> Schedule:
    start = calendar.clock_start(assigned_at)
    due = calendar.add_working_hours(start, allotment_hours)
    return Schedule(start, due, due_soon_at(calendar, start, due, window_hours))


def due_soon_at(
    calendar: WorkingCalendar,
    start: datetime,
    due: datetime,
    window_hours: Decimal = DUE_SOON_HOURS,
) -> datetime | None:
    """``window_hours`` working hours before the due instant, if the allotment is longer."""
    total = calendar.working_hours_between(start, due)
    if total <= window_hours:
        return None
    return calendar.add_working_hours(start, total - window_hours)


def resumed_due(
    calendar: WorkingCalendar, due_at: datetime, paused_at: datetime, resumed_at: datetime
) -> datetime:
    """The due date moves by the working time the citizen took."""
    remaining = calendar.working_hours_between(paused_at, due_at)
    return calendar.add_working_hours(calendar.clock_start(resumed_at), remaining)


def outcome(
    calendar: WorkingCalendar,
    ended_at: datetime,
    due_at: datetime,
    supplement_requests: int = 0,
    early_margin_hours: Decimal = DUE_SOON_HOURS,
) -> Outcome:
    """Late when past due or after more than one supplement request (Quyết định 766);
    early when at least ``early_margin_hours`` working hours were left; else on time."""
    if ended_at > due_at or supplement_requests > 1:
        return Outcome.LATE
    if calendar.working_hours_between(ended_at, due_at) >= early_margin_hours:
        return Outcome.EARLY
    return Outcome.ON_TIME


class Alarm(StrEnum):
    DUE_SOON = "deadline.due_soon"
    STEP_OVERDUE = "step.overdue"
    DOSSIER_OVERDUE = "dossier.overdue"
    ESCALATED = "step.escalated"


@dataclass(frozen=True)
class TimerState:
    kind: str  # 'dossier' | 'step'
    due_at: datetime
    due_soon_at: datetime | None
    escalate_at: datetime | None
    due_soon_fired: bool
    overdue_fired: bool
    escalated: bool


def next_fire(
    due_soon_at: datetime | None,
    due_soon_fired: bool,
    due_at: datetime,
    overdue_fired: bool,
    escalate_at: datetime | None = None,
    escalated: bool = True,
) -> datetime | None:
    if due_soon_at is not None and not due_soon_fired:
        return due_soon_at
    if not overdue_fired:
        return due_at
    if escalate_at is not None and not escalated:
        return escalate_at
    return None


@dataclass(frozen=True)
class Firing:
    alarm: Alarm
    due_soon_fired: bool
    overdue_fired: bool
    escalated: bool
    next_fire_at: datetime | None


def escalation_at(
    calendar: WorkingCalendar, kind: str, due_at: datetime, after_hours: Decimal | None
) -> datetime | None:
    """When a step still overdue is escalated (computed when the deadline opens or
    moves, so firing needs no calendar work); dossiers are not escalated."""
    if kind != "step" or after_hours is None:
        return None
    return calendar.add_working_hours(due_at, after_hours)


def fire(state: TimerState, now: datetime) -> Firing:
    """What a due timer does: the first alarm not yet raised, and when it fires next.

    A timer that is already past due when it first fires (e.g. after an outage) skips
    the due-soon warning and raises the overdue alarm at once.
    """
    soon, over, esc = state.due_soon_fired, state.overdue_fired, state.escalated
    overdue = Alarm.STEP_OVERDUE if state.kind == "step" else Alarm.DOSSIER_OVERDUE
    if not over and now >= state.due_at:
        soon, over, alarm = True, True, overdue
    elif not soon and state.due_soon_at is not None:
        soon, alarm = True, Alarm.DUE_SOON
    elif not over:
        soon, over, alarm = True, True, overdue
    else:
        esc, alarm = True, Alarm.ESCALATED
    if state.escalate_at is None:
        esc = True
    return Firing(
        alarm=alarm,
        due_soon_fired=soon,
        overdue_fired=over,
        escalated=esc,
        next_fire_at=next_fire(state.due_soon_at, soon, state.due_at, over, state.escalate_at, esc),
    )
