"""Working calendar: working days, office hours and working-time arithmetic.

Pure library (no I/O). All arithmetic is done on wall-clock time in Asia/Ho_Chi_Minh
(no daylight saving since 1975), in integer microseconds, so results are exact.

* Public holidays come from ``holidays.country_holidays("VN")``, computed lazily per
  year and cached; official make-up working days come from the package's
  ``weekend_workdays`` plus :mod:`services.workcal.makeup_days`.
* 8 working hours = 1 working day.
* ``add_working_hours(start, h)`` returns the instant the last working microsecond ends
  (8 h from Monday 07:00 is Monday 17:00, not Tuesday 07:00).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from types import MappingProxyType
from typing import Final

import holidays

from contracts.vietnam import VN_TZ
from services.workcal.makeup_days import EXTRA_DAYS_OFF, EXTRA_MAKEUP_WORKDAYS
from services.workcal.model import CutOff, OfficeHours, UnitCalendarConfig

__all__ = [
    "HOURS_PER_WORKING_DAY",
    "VN_TZ",
    "CalendarError",
    "WorkingCalendar",
]

HOURS_PER_WORKING_DAY: Final = Decimal(8)

_US_PER_SECOND: Final = 1_000_000
_US_PER_HOUR: Final = 3600 * _US_PER_SECOND
_US_PER_DAY: Final = 24 * _US_PER_HOUR
_ONE_DAY: Final = timedelta(days=1)
#: More consecutive days off than this means the configuration can never reach a working day.
_MAX_CONSECUTIVE_DAYS_OFF: Final = 366
#: Fixed-precision context so results never depend on the caller's decimal context.
_DECIMAL: Final = Context(prec=60, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)
_RESULT_DECIMAL: Final = Context(prec=34, rounding=ROUND_HALF_EVEN)


class CalendarError(ValueError):
    """Invalid input to, or impossible request of, the working calendar."""


# --------------------------------------------------------------------------- holidays data


def _holiday_year_range() -> tuple[int, int]:
    probe = holidays.country_holidays("VN")
    return int(probe.start_year), int(probe.end_year)


_FIRST_YEAR, _LAST_YEAR = _holiday_year_range()


@dataclass(frozen=True, slots=True)
class _YearData:
    days_off: Mapping[date, str]  # public holidays incl. substituted days and swaps
    makeup_workdays: frozenset[date]  # weekend days that are official working days


def _check_year(year: int) -> None:
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise CalendarError(
            f"year {year} is outside the range the holidays package covers for VN "
            f"({_FIRST_YEAR}–{_LAST_YEAR}); cannot decide working days"
        )


@functools.cache
def _package_year(year: int) -> tuple[Mapping[date, str], frozenset[date]]:
    """What the ``holidays`` package says for one year: (holidays, weekend_workdays)."""
    _check_year(year)
    try:
        data = holidays.country_holidays("VN", years=year, language="vi")
    except Exception as exc:  # the package failing must surface, never default
        raise CalendarError(f"holidays package failed for VN {year}: {exc}") from exc
    if not hasattr(data, "weekend_workdays"):
        raise CalendarError(
            "the installed holidays package has no weekend_workdays (make-up working days); "
            "a version that has it (0.109 checked) is required"
        )
    days = {d: str(name) for d, name in data.items()}
    workdays = frozenset(data.weekend_workdays)
    return MappingProxyType(days), workdays


@functools.cache
def _year_data(year: int) -> _YearData:
    """Days off and make-up days falling in ``year``.

    Neighbouring years are read too, because a swap may cross the new year (e.g. the
    package files Sat 2019-01-05, make-up for Mon 2018-12-31, under 2018). Only dates in
    ``year`` are kept, so the answer never depends on what was computed before.
    """
    _check_year(year)
    days_off: dict[date, str] = {}
    workdays: set[date] = set()
    for y in (year - 1, year, year + 1):
        if not _FIRST_YEAR <= y <= _LAST_YEAR:
            continue
        pkg_days, pkg_workdays = _package_year(y)
        for d, name in pkg_days.items():
            if d.year == year:
                days_off.setdefault(d, name)
        workdays.update(d for d in pkg_workdays if d.year == year)
    for d, why in EXTRA_DAYS_OFF.items():
        if d.year == year:
            days_off.setdefault(d, why)
    workdays.update(d for d in EXTRA_MAKEUP_WORKDAYS if d.year == year)
    # A make-up day is a weekend day that is worked; it never turns a holiday into work.
    makeup = frozenset(d for d in workdays if d.weekday() >= 5 and d not in days_off)
    return _YearData(
        days_off=MappingProxyType(dict(sorted(days_off.items()))), makeup_workdays=makeup
    )


# --------------------------------------------------------------------------- day plans


def _us_of(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US_PER_SECOND + t.microsecond


@dataclass(frozen=True, slots=True)
class _DayPlan:
    intervals: tuple[tuple[int, int], ...]  # [start, end) in µs since local midnight
    capacity: int  # µs of working time in the day

    @classmethod
    def of(cls, hours: OfficeHours) -> _DayPlan:
        ivs = tuple((_us_of(a), _us_of(b)) for a, b in hours.intervals)
        return cls(ivs, sum(b - a for a, b in ivs))

    def worked(self, lo: int, hi: int) -> int:
        """Working µs inside ``[lo, hi)`` (offsets since midnight)."""
        return sum(max(0, min(b, hi) - max(a, lo)) for a, b in self.intervals)


_CLOSED: Final = _DayPlan((), 0)


# --------------------------------------------------------------------------- conversions


def _to_local(value: datetime, what: str) -> datetime:
    """Aware datetime → naive wall-clock datetime in Asia/Ho_Chi_Minh."""
    if not isinstance(value, datetime):
        raise CalendarError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"{what} is a naive datetime ({value.isoformat()}); give a time zone "
            "(e.g. tzinfo=ZoneInfo('Asia/Ho_Chi_Minh'))"
        )
    try:
        return value.astimezone(VN_TZ).replace(tzinfo=None)
    except OverflowError as exc:
        raise CalendarError(f"{what} {value.isoformat()} is out of range") from exc


def _split(local: datetime) -> tuple[date, int]:
    return local.date(), _us_of(local.time())


def _join(d: date, us: int) -> datetime:
    return (datetime.combine(d, time()) + timedelta(microseconds=us)).replace(tzinfo=VN_TZ)


def _hours_to_us(hours: Decimal | int, what: str = "hours") -> int:
    if isinstance(hours, bool) or not isinstance(hours, Decimal | int):
        raise CalendarError(f"{what} must be a Decimal or an int, got {type(hours).__name__}")
    value = Decimal(hours)
    if not value.is_finite():
        raise CalendarError(f"{what} must be finite, got {value}")
    # Rounded to the microsecond (half-even); exact for any whole number of seconds.
    return int(_DECIMAL.multiply(value, Decimal(_US_PER_HOUR)).to_integral_value(ROUND_HALF_EVEN))


def _check_date(d: date) -> None:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise CalendarError(
            f"a date is needed, got {type(d).__name__}; "
            "convert datetimes to Asia/Ho_Chi_Minh and call .date() first"
        )


def _next_day(d: date) -> date:
    try:
        return d + _ONE_DAY
    except OverflowError as exc:
        raise CalendarError(f"no date after {d}") from exc


def _previous_day(d: date) -> date:
    try:
        return d - _ONE_DAY
    except OverflowError as exc:
        raise CalendarError(f"no date before {d}") from exc


# --------------------------------------------------------------------------- calendar


class WorkingCalendar:
    """Working calendar of one unit (immutable; safe to share between threads)."""

    tz: Final = VN_TZ

    def __init__(self, config: UnitCalendarConfig | None = None) -> None:
        if config is None:
            config = UnitCalendarConfig()
        if not isinstance(config, UnitCalendarConfig):
            raise CalendarError(f"config must be a UnitCalendarConfig, got {type(config).__name__}")
        self._config = config
        self._weekday_plan = _DayPlan.of(config.office_hours)
        self._saturday_hours = config.saturday_hours or config.office_hours
        self._saturday_plan = _DayPlan.of(self._saturday_hours)

    @property
    def config(self) -> UnitCalendarConfig:
        return self._config

    def __repr__(self) -> str:
        return f"WorkingCalendar({self._config!r})"

    # ------------------------------------------------------------------ days

    def public_holidays(self, year: int) -> Mapping[date, str]:
        """Official days off of ``year`` (holidays, substituted days, swaps), before the
        unit's administrator overrides; dates in order, Vietnamese names."""
        return _year_data(year).days_off

    def makeup_working_days(self, year: int) -> frozenset[date]:
        """Official make-up working weekend days of ``year``, before the unit's overrides."""
        return _year_data(year).makeup_workdays

    def _plan(self, d: date) -> _DayPlan:
        cfg = self._config
        if d in cfg.extra_working_days:
            if d.weekday() == 5 and cfg.serves_saturday:
                return self._saturday_plan
            return self._weekday_plan
        if d in cfg.extra_days_off:
            return _CLOSED
        data = _year_data(d.year)
        if d in data.days_off:
            return _CLOSED
        if d in data.makeup_workdays:
            return self._weekday_plan  # a make-up day replaces a weekday
        weekday = d.weekday()
        if weekday < 5:
            return self._weekday_plan
        if weekday == 5 and cfg.serves_saturday:
            return self._saturday_plan
        return _CLOSED

    def is_working_day(self, d: date) -> bool:
        """Whether the unit works on date ``d`` (a ``date``, not a ``datetime``)."""
        _check_date(d)
        return self._plan(d).capacity > 0

    def office_hours(self, d: date) -> tuple[tuple[time, time], ...]:
        """Opening intervals on date ``d``; empty on a day off."""
        _check_date(d)
        plan = self._plan(d)
        if not plan.capacity:
            return ()
        if plan is self._saturday_plan:
            return self._saturday_hours.intervals
        return self._config.office_hours.intervals

    def _first_opening_after(self, d: date) -> datetime:
        """First opening instant of the first working day strictly after ``d``."""
        for _ in range(_MAX_CONSECUTIVE_DAYS_OFF):
            d = _next_day(d)
            plan = self._plan(d)
            if plan.capacity:
                return _join(d, plan.intervals[0][0])
        raise CalendarError(f"no working day within {_MAX_CONSECUTIVE_DAYS_OFF} days after {d}")

    # ------------------------------------------------------------------ clock start

    def clock_start(self, received_at: datetime, cut_off: time | CutOff | None = None) -> datetime:
        """Instant the legal clock starts for a complete dossier received at ``received_at``.

        Inside office hours → ``received_at`` itself; outside → the next opening; on a
        working day strictly after ``cut_off`` → the first opening of the next working day.
        The result is in Asia/Ho_Chi_Minh.
        """
        local = _to_local(received_at, "received_at")
        d, off = _split(local)
        limit = self._cut_off_time(cut_off)
        plan = self._plan(d)
        if limit is not None and plan.capacity and local.time() > limit:
            return self._first_opening_after(d)
        for start, end in plan.intervals:
            if off < end:
                return _join(d, max(start, off))
        return self._first_opening_after(d)

    @staticmethod
    def _cut_off_time(cut_off: time | CutOff | None) -> time | None:
        if cut_off is None:
            return None
        if isinstance(cut_off, CutOff):
            return cut_off.at
        if not isinstance(cut_off, time):
            raise CalendarError(f"cut_off must be a time or CutOff, got {type(cut_off).__name__}")
        if cut_off.tzinfo is not None:
            raise CalendarError("cut_off must be a naive wall-clock time in Asia/Ho_Chi_Minh")
        return cut_off

    # ------------------------------------------------------------------ arithmetic

    def add_working_hours(self, start: datetime, hours: Decimal | int) -> datetime:
        """The instant ``hours`` working hours after ``start`` (before it if negative).

        Forward, the result is the end of the last working microsecond (8 h from Monday
        07:00 → Monday 17:00); backward, the start of the earliest one (−8 h from Monday
        17:00 → Monday 07:00). ``hours == 0`` returns ``start`` itself. Exact to the
        microsecond (``hours`` is rounded half-even to the microsecond). Result in
        Asia/Ho_Chi_Minh.
        """
        local = _to_local(start, "start")
        amount = _hours_to_us(hours)
        d, off = _split(local)
        if amount > 0:
            d, off = self._forward(d, off, amount)
        elif amount < 0:
            d, off = self._backward(d, off, -amount)
        return _join(d, off)

    def add_working_days(self, start: datetime, days: Decimal | int) -> datetime:
        """``add_working_hours(start, days * 8)``."""
        if isinstance(days, bool) or not isinstance(days, Decimal | int):
            raise CalendarError(f"days must be a Decimal or an int, got {type(days).__name__}")
        return self.add_working_hours(
            start, _DECIMAL.multiply(Decimal(days), HOURS_PER_WORKING_DAY)
        )

    def _forward(self, d: date, off: int, remaining: int) -> tuple[date, int]:
        for start, end in self._plan(d).intervals:
            if off < end:
                lo = max(start, off)
                if remaining <= end - lo:
                    return d, lo + remaining
                remaining -= end - lo
        idle = 0
        while True:
            d = _next_day(d)
            plan = self._plan(d)
            if not plan.capacity:
                idle += 1
                if idle > _MAX_CONSECUTIVE_DAYS_OFF:
                    raise CalendarError(f"no working day in the {idle} days up to {d}")
                continue
            idle = 0
            if remaining > plan.capacity:  # skip a whole day in O(1)
                remaining -= plan.capacity
                continue
            for start, end in plan.intervals:
                if remaining <= end - start:
                    return d, start + remaining
                remaining -= end - start

    def _backward(self, d: date, off: int, remaining: int) -> tuple[date, int]:
        for start, end in reversed(self._plan(d).intervals):
            if off > start:
                hi = min(end, off)
                if remaining <= hi - start:
                    return d, hi - remaining
                remaining -= hi - start
        idle = 0
        while True:
            d = _previous_day(d)
            plan = self._plan(d)
            if not plan.capacity:
                idle += 1
                if idle > _MAX_CONSECUTIVE_DAYS_OFF:
                    raise CalendarError(f"no working day in the {idle} days back to {d}")
                continue
            idle = 0
            if remaining > plan.capacity:
                remaining -= plan.capacity
                continue
            for start, end in reversed(plan.intervals):
                if remaining <= end - start:
                    return d, end - remaining
                remaining -= end - start

    def _working_us(self, first: datetime, last: datetime) -> int:
        """Working µs in ``[first, last)``, both naive local, ``first <= last``."""
        d1, off1 = _split(first)
        d2, off2 = _split(last)
        if d1 == d2:
            return self._plan(d1).worked(off1, off2)
        total = self._plan(d1).worked(off1, _US_PER_DAY)
        d = _next_day(d1)
        while d < d2:
            total += self._plan(d).capacity
            d = _next_day(d)
        return total + self._plan(d2).worked(0, off2)

    def working_hours_between(self, start: datetime, end: datetime) -> Decimal:
        """Working hours from ``start`` to ``end``; negative when ``end < start``."""
        first = _to_local(start, "start")
        last = _to_local(end, "end")
        # sign applied to the integer: negating a Decimal would round in the caller's context
        micros = -self._working_us(last, first) if last < first else self._working_us(first, last)
        return _RESULT_DECIMAL.divide(Decimal(micros), Decimal(_US_PER_HOUR))
