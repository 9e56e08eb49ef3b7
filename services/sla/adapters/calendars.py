"""Working calendars per unit: reference office hours plus the administrator's overrides.

Overrides live in PostgreSQL; ``calendar_version`` is bumped in the same transaction as
every change, and each instance compares it (one indexed single-row read) before it
answers a calendar question, so a change made through any instance applies at once in
all of them.
"""

from __future__ import annotations

from datetime import date, time

from services.runtime.db import DbConn
from services.workcal.calendar import WorkingCalendar
from services.workcal.model import UnitCalendarConfig


class CalendarBook:
    """Builds each unit's calendar on demand; overrides reload when an admin edits them."""

    def __init__(
        self,
        unit_configs: dict[str, UnitCalendarConfig],
        cut_offs: dict[str, time] | None = None,
        default_cut_off: time | None = None,
    ) -> None:
        self._configs = unit_configs
        self._overrides: dict[str, dict[date, str]] = {}
        self._cache: dict[str, WorkingCalendar] = {}
        self._version: int | None = None
        self._cut_offs = dict(cut_offs or {})
        self._default_cut_off = default_cut_off

    @property
    def version(self) -> int | None:
        return self._version

    async def reload(self, conn: DbConn) -> None:
        version = await conn.fetchval("SELECT version FROM calendar_version WHERE id = 1")
        rows = await conn.fetch("SELECT unit_code, day, kind FROM calendar_overrides")
        overrides: dict[str, dict[date, str]] = {}
        for row in rows:
            overrides.setdefault(row["unit_code"], {})[row["day"]] = row["kind"]
        self._overrides = overrides
        self._cache = {}
        self._version = int(version) if version is not None else 0

    async def refresh(self, conn: DbConn) -> None:
        """Reload if another instance (or this one) changed the overrides."""
        version = await conn.fetchval("SELECT version FROM calendar_version WHERE id = 1")
        if version is None or int(version) != self._version:
            await self.reload(conn)

    def known_unit(self, unit_code: str) -> bool:
        return unit_code in self._configs

    def cut_off(self, procedure_code: str | None) -> time | None:
        if procedure_code is None:
            return None
        return self._cut_offs.get(procedure_code, self._default_cut_off)

    def for_unit(self, unit_code: str | None) -> WorkingCalendar:
        key = unit_code or "*"
        calendar = self._cache.get(key)
        if calendar is None:
            base = self._configs.get(key, UnitCalendarConfig())
            merged = {**self._overrides.get("*", {}), **self._overrides.get(key, {})}
            off = {d for d, k in merged.items() if k == "day_off"}
            work = {d for d, k in merged.items() if k == "working_day"}
            config = base.model_copy(
                update={
                    "extra_days_off": (base.extra_days_off - work) | off,
                    "extra_working_days": (base.extra_working_days - off) | work,
                }
            )
            calendar = WorkingCalendar(config)
            self._cache[key] = calendar
        return calendar
