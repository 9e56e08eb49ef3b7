"""Working time in the console, computed in-process with the shared calendar.

The inbox shows the working hours left on each row and buckets the whole queue by them;
asking SLA once per row cost one HTTP call each (200 a page). Instead the console builds
each unit's calendar as SLA does (the reference office hours, ``reference.
load_unit_calendars``, plus the administrator's overrides, the province's ``*`` first and
the unit's own winning) from the same library, ``services.workcal``. The overrides are
SLA's: read from its ``GET /v1/calendar/overrides`` at most once per ``TTL_SECONDS`` (an
override made a minute ago may not show yet; SLA's deadlines, not the console's display,
decide lateness). If SLA does not answer, the last overrides read are kept (none at start).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reference import load_unit_calendars
from services.routing.console.access import urgency
from services.workcal.calendar import WorkingCalendar
from services.workcal.model import UnitCalendarConfig

log = logging.getLogger(__name__)
TTL_SECONDS = 60.0
#: One working day and three, in working hours (the urgency buckets' edges).
DAY_HOURS = 8
THREE_DAYS_HOURS = 24


def merged_config(
    base: UnitCalendarConfig, overrides: Mapping[str, Mapping[date, str]], unit: str
) -> UnitCalendarConfig:
    """The unit's reference calendar with the province's and then its own overrides (as
    SLA's CalendarBook merges them)."""
    merged = {**overrides.get("*", {}), **overrides.get(unit, {})}
    off = {d for d, k in merged.items() if k == "day_off"}
    work = {d for d, k in merged.items() if k == "working_day"}
    return base.model_copy(
        update={
            "extra_days_off": (base.extra_days_off - work) | off,
            "extra_working_days": (base.extra_working_days - off) | work,
        }
    )


def parse_overrides(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[date, str]]:
    found: dict[str, dict[date, str]] = {}
    for row in rows:
        found.setdefault(str(row["unit_code"]), {})[date.fromisoformat(str(row["day"]))] = str(
            row["kind"]
        )
    return found


@dataclass
class ConsoleCalendars:
    """Each unit's calendar, rebuilt when the overrides are read again."""

    profile: str
    overrides: dict[str, dict[date, str]] = field(default_factory=dict)
    read_at: float | None = None
    _cache: dict[str, WorkingCalendar] = field(default_factory=dict)

    def stale(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.read_at is None or now - self.read_at >= TTL_SECONDS

    def set_overrides(
        self, overrides: dict[str, dict[date, str]], now: float | None = None
    ) -> None:
        if overrides != self.overrides:
            self._cache = {}
        self.overrides = overrides
        self.read_at = time.monotonic() if now is None else now

    def for_unit(self, unit: str) -> WorkingCalendar:
        calendar = self._cache.get(unit)
        if calendar is None:
            base = load_unit_calendars(self.profile).get(unit, UnitCalendarConfig())
            calendar = WorkingCalendar(merged_config(base, self.overrides, unit))
            self._cache[unit] = calendar
        return calendar


@dataclass(frozen=True)
class Edges:
    """The wall-clock instants one and three working days from ``now`` in one unit: a
    due date before ``now`` is overdue, before ``day`` under one working day left, before
    ``three_days`` under three (bucketed in SQL over the whole queue)."""

    now: datetime
    day: datetime
    three_days: datetime


def edges(calendar: WorkingCalendar, now: datetime) -> Edges:
    return Edges(
        now,
        calendar.add_working_hours(now, DAY_HOURS),
        calendar.add_working_hours(now, THREE_DAYS_HOURS),
    )


def urgency_at(calendar: WorkingCalendar, now: datetime, due: datetime | None) -> str:
    """A task's bucket as the SQL counts it: past its due instant it is overdue (even
    when no working hour has passed since, e.g. due last evening); otherwise by the
    working hours left."""
    if due is None:
        return "none"
    if due < now:
        return "overdue"
    return urgency(working_hours(calendar, now, due))


def working_hours(calendar: WorkingCalendar, now: datetime, due: datetime | None) -> float | None:
    """Working hours from ``now`` to ``due``, negative when late; None without a due date."""
    if due is None:
        return None
    hours: Decimal = calendar.working_hours_between(now, due)
    return round(float(hours), 2)
