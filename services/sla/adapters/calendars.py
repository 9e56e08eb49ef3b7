"""Working calendars per unit: reference office hours plus the administrator's overrides."""

from __future__ import annotations

from datetime import date

from services.runtime.db import DbConn
from services.workcal.calendar import WorkingCalendar
from services.workcal.model import UnitCalendarConfig


class CalendarBook:
    """Builds each unit's calendar on demand; overrides reload when an admin edits them."""

    def __init__(self, unit_configs: dict[str, UnitCalendarConfig]) -> None:
        self._configs = unit_configs
        self._overrides: dict[str, dict[date, str]] = {}
        self._cache: dict[str, WorkingCalendar] = {}

    async def reload(self, conn: DbConn) -> None:
        rows = await conn.fetch("SELECT unit_code, day, kind FROM calendar_overrides")
        overrides: dict[str, dict[date, str]] = {}
        for row in rows:
            overrides.setdefault(row["unit_code"], {})[row["day"]] = row["kind"]
        self._overrides = overrides
        self._cache.clear()

    def for_unit(self, unit_code: str | None) -> WorkingCalendar:
        key = unit_code or "*"
        calendar = self._cache.get(key)
        if calendar is None:
            base = self._configs.get(key, UnitCalendarConfig())
            merged = {**self._overrides.get("*", {}), **self._overrides.get(key, {})}
            config = base.model_copy(
                update={
                    "extra_days_off": base.extra_days_off
                    | {d for d, k in merged.items() if k == "day_off"},
                    "extra_working_days": base.extra_working_days
                    | {d for d, k in merged.items() if k == "working_day"},
                }
            )
            calendar = WorkingCalendar(config)
            self._cache[key] = calendar
        return calendar
