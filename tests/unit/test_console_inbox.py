"""The inbox's pure rules: who searches people, the masked audit form, the counts, the
working-time edges the SQL buckets against."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.routing.console.access import urgency
from services.routing.console.queue import counts, masked, may_search_people, pages
from services.routing.console.workhours import (
    ConsoleCalendars,
    edges,
    merged_config,
    parse_overrides,
    urgency_at,
    working_hours,
)
from services.runtime.auth import Principal
from services.workcal.calendar import WorkingCalendar
from services.workcal.model import UnitCalendarConfig

OFFICIAL = Principal("canbo@X01", "X01", "official")
HEAD = Principal("lanhdao@X01", "X01", "unit_head")
SUPERVISOR = Principal("giamsat", "P00", "province_supervisor")


def test_people_are_searched_only_within_a_queue_the_operator_may_see() -> None:
    assert may_search_people(OFFICIAL, "X01") and may_search_people(HEAD, "X01")
    assert not may_search_people(OFFICIAL, "X02") and not may_search_people(HEAD, "X02")
    assert may_search_people(SUPERVISOR, "X02")
    assert not may_search_people(Principal("x", "X01", "citizen"), "X01")  # type: ignore[arg-type]


def test_the_trail_keeps_initials_and_one_digit_never_the_query() -> None:
    assert masked("name", "nguyễn thị lan") == "N… T… L…"
    assert masked("name", "  ") == "…"
    assert masked("phone", "5678") == "***8"
    assert "567" not in masked("phone", "0912345678")


def test_each_count_is_what_a_click_on_it_lists() -> None:
    cells = {
        ("open", "overdue"): 3,
        ("open", "ok"): 5,
        ("claimed", "overdue"): 2,
        ("waiting", "none"): 4,
    }
    got = counts(cells, ["open", "claimed"], ["overdue"])
    assert got.by_status == {"open": 3, "claimed": 2, "waiting": 0}
    assert got.by_urgency == {"overdue": 5, "critical": 0, "soon": 0, "ok": 5, "none": 0}
    assert got.total == 5
    assert pages(0, 50) == 1 and pages(900, 50) == 18 and pages(901, 50) == 19


def test_a_due_date_before_an_edge_is_in_that_bucket_as_row_by_row() -> None:
    calendar = WorkingCalendar()
    now = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)  # Friday 15:30 in Hà Nội
    edge = edges(calendar, now)
    for hours in range(-30, 80):
        due = now + timedelta(hours=hours, minutes=11 * (hours % 3))
        left = working_hours(calendar, now, due)
        sql = (
            "overdue"
            if due < edge.now
            else "critical"
            if due < edge.day
            else "soon"
            if due < edge.three_days
            else "ok"
        )
        assert urgency_at(calendar, now, due) == sql, due
        if due >= now:
            assert urgency(left) == sql, due
    assert working_hours(calendar, now, None) is None


def test_sla_overrides_apply_province_first_then_the_unit() -> None:
    rows = [
        {"unit_code": "*", "day": "2026-12-07", "kind": "day_off"},
        {"unit_code": "X01", "day": "2026-12-07", "kind": "working_day"},
        {"unit_code": "*", "day": "2026-12-08", "kind": "day_off"},
    ]
    overrides = parse_overrides(rows)
    x01 = WorkingCalendar(merged_config(UnitCalendarConfig(), overrides, "X01"))
    x02 = WorkingCalendar(merged_config(UnitCalendarConfig(), overrides, "X02"))
    assert x01.is_working_day(date(2026, 12, 7)) and not x02.is_working_day(date(2026, 12, 7))
    assert not x01.is_working_day(date(2026, 12, 8))
    book = ConsoleCalendars("three_level")
    assert book.stale(0.0)
    book.set_overrides(overrides, now=100.0)
    assert not book.stale(120.0) and book.stale(161.0)
    assert not book.for_unit("000.01.01.H99").is_working_day(date(2026, 12, 8))
