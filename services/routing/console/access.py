"""What each operator role may see in the console (pure rules, unit-tested)."""

from __future__ import annotations

from datetime import datetime

from services.runtime.auth import Principal


def is_supervisor(who: Principal) -> bool:
    """A province supervisor sees every unit, the system's health and dead letters."""
    return who.role == "province_supervisor"


def can_see_unit(who: Principal, unit_code: str) -> bool:
    """Officials and unit heads see their own unit only."""
    return is_supervisor(who) or who.unit_code == unit_code


def can_see_stats(who: Principal) -> bool:
    """Statistics are for unit heads (their unit) and supervisors (all units)."""
    return who.role in ("unit_head", "province_supervisor")


def urgency(remaining_hours: float | None) -> str:
    """Colour class of a task by the working time left: one working day is 8 hours."""
    if remaining_hours is None:
        return "none"
    if remaining_hours < 0:
        return "overdue"
    if remaining_hours < 8:
        return "critical"
    if remaining_hours < 24:
        return "soon"
    return "ok"


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    """A step is overdue once its due instant is past: the one rule of the overdue screen
    and of the statistics (``due_at < now`` in their SQL); the due instant was set on the
    unit's working calendar, so lateness is never counted in wall-clock hours."""
    return due_at is not None and due_at < now
