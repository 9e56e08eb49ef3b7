"""Configuration models of the working calendar (pure data, no I/O).

All times are wall-clock times in Asia/Ho_Chi_Minh; they must be naive ``time`` values.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _naive(t: time, what: str) -> time:
    if t.tzinfo is not None:
        raise ValueError(f"{what} must be a naive wall-clock time in Asia/Ho_Chi_Minh, got {t!r}")
    return t


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1_000_000


class OfficeHours(BaseModel):
    """Opening intervals of one working day, ``[start, end)`` each, sorted and disjoint.

    Default: 07:00–11:30 and 13:30–17:00 (8 working hours).
    """

    model_config = _FROZEN

    intervals: tuple[tuple[time, time], ...] = (
        (time(7, 0), time(11, 30)),
        (time(13, 30), time(17, 0)),
    )

    @field_validator("intervals")
    @classmethod
    def _check_intervals(
        cls, value: tuple[tuple[time, time], ...]
    ) -> tuple[tuple[time, time], ...]:
        if not value:
            raise ValueError("office hours need at least one (start, end) interval")
        previous_end: time | None = None
        for start, end in value:
            _naive(start, "interval start")
            _naive(end, "interval end")
            if not start < end:
                raise ValueError(f"interval start {start} must be before its end {end}")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"intervals must be sorted and must not overlap ({start} < {previous_end})"
                )
            previous_end = end
        return value

    @property
    def duration(self) -> timedelta:
        """Total opening time of one day."""
        return timedelta(
            seconds=sum(_seconds(end) - _seconds(start) for start, end in self.intervals)
        )


class UnitCalendarConfig(BaseModel):
    """Working-calendar settings of one administrative unit.

    Precedence when deciding whether a date is a working day (first match wins):
    ``extra_working_days`` → ``extra_days_off`` → public holidays → official make-up
    working days → weekday rule (Mon–Fri; Saturday only if ``serves_saturday``).
    """

    model_config = _FROZEN

    office_hours: OfficeHours = OfficeHours()
    serves_saturday: bool = False
    #: Hours of an ordinary Saturday for a unit that serves Saturdays; ``None`` = office_hours.
    saturday_hours: OfficeHours | None = None
    #: Administrator override: these dates are days off, whatever else says.
    extra_days_off: frozenset[date] = frozenset()
    #: Administrator override: these dates are working days (office hours), whatever else says.
    extra_working_days: frozenset[date] = frozenset()

    @model_validator(mode="after")
    def _check_consistency(self) -> UnitCalendarConfig:
        if self.saturday_hours is not None and not self.serves_saturday:
            raise ValueError("saturday_hours given but serves_saturday is False")
        both = self.extra_days_off & self.extra_working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both in extra_days_off and extra_working_days: {listed}")
        return self


class CutOff(BaseModel):
    """Cut-off of a procedure: a dossier received on a working day strictly after ``at``
    counts from the first opening of the next working day."""

    model_config = _FROZEN

    at: time

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: time) -> time:
        return _naive(value, "cut-off")
