"""Unit tests of SLA's calendar book: reference units plus administrator overrides."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, cast

from reference import load_unit_calendars
from services.runtime.db import DbConn
from services.sla.adapters.calendars import CalendarBook
from services.workcal.calendar import VN_TZ

SATURDAY_UNIT = "000.01.01.H99"  # xã Đông Lâm serves on Saturday (reference data)
PLAIN_UNIT = "000.02.01.H99"


class FakeConn:
    """Stands for the database: the version row and the overrides table."""

    def __init__(self, rows: list[dict[str, Any]], version: int = 1) -> None:
        self.rows = rows
        self.version = version
        self.reads = 0

    async def fetchval(self, _sql: str) -> int:
        return self.version

    async def fetch(self, _sql: str) -> list[dict[str, Any]]:
        self.reads += 1
        return self.rows


def vn(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=VN_TZ)


async def test_overrides_apply_to_every_unit_or_one_and_the_unit_wins() -> None:
    conn = FakeConn(
        [
            {"unit_code": "*", "day": date(2026, 3, 9), "kind": "day_off"},
            {"unit_code": PLAIN_UNIT, "day": date(2026, 3, 9), "kind": "working_day"},
            {"unit_code": PLAIN_UNIT, "day": date(2026, 3, 14), "kind": "working_day"},
        ]
    )
    book = CalendarBook(load_unit_calendars("three_level"))
    await book.reload(cast("DbConn", conn))
    assert not book.for_unit(None).is_working_day(date(2026, 3, 9))
    assert not book.for_unit(SATURDAY_UNIT).is_working_day(date(2026, 3, 9))
    assert book.for_unit(PLAIN_UNIT).is_working_day(date(2026, 3, 9))
    assert book.for_unit(PLAIN_UNIT).is_working_day(date(2026, 3, 14))  # a Saturday


async def test_saturday_service_comes_from_the_reference_units() -> None:
    book = CalendarBook(load_unit_calendars("three_level"))
    await book.reload(cast("DbConn", FakeConn([])))
    assert book.for_unit(SATURDAY_UNIT).is_working_day(date(2026, 3, 7))
    assert not book.for_unit(PLAIN_UNIT).is_working_day(date(2026, 3, 7))
    assert book.known_unit(SATURDAY_UNIT) and not book.known_unit("NOPE")
    # Fri 16:00 + 8 h: Saturday 07:00 + 7 h → 16:00 at the Saturday unit; Monday elsewhere.
    assert book.for_unit(SATURDAY_UNIT).add_working_hours(vn(3, 6, 16), 8) == vn(3, 7, 16)
    assert book.for_unit(PLAIN_UNIT).add_working_hours(vn(3, 6, 16), 8) == vn(3, 9, 16)


async def test_refresh_reloads_only_when_the_version_moved() -> None:
    conn = FakeConn([], version=3)
    book = CalendarBook({})
    await book.reload(cast("DbConn", conn))
    await book.refresh(cast("DbConn", conn))
    assert conn.reads == 1
    conn.version = 4
    conn.rows = [{"unit_code": "*", "day": date(2026, 3, 9), "kind": "day_off"}]
    await book.refresh(cast("DbConn", conn))
    assert conn.reads == 2
    assert book.version == 4
    assert not book.for_unit(None).is_working_day(date(2026, 3, 9))


def test_cut_off_per_procedure_with_a_default() -> None:
    book = CalendarBook({}, cut_offs={"1.012603": time(15)}, default_cut_off=time(16))
    assert book.cut_off("1.012603") == time(15)
    assert book.cut_off("1.001193") == time(16)
    assert book.cut_off(None) is None
    assert CalendarBook({}).cut_off("1.012603") is None
