"""The statistics screen's pure parts: the period (ends now by default, validated), its
months, the tables as shown and exported (CSV with a BOM, Excel read back by openpyxl),
and SLA's "due soon" on working time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from contracts.vietnam import VN_TZ
from services.routing.console.access import is_overdue
from services.routing.console.report_tables import (
    PeriodError,
    months_of,
    period,
    statistics_tables,
    to_csv,
    to_xlsx,
)
from services.sla.domain.reports import DossierFacts, build_report
from services.workcal.calendar import WorkingCalendar

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 10:00 on Wednesday 2 December in Hà Nội


def test_the_default_period_is_the_last_six_months_ending_now_not_next_month() -> None:
    start, end = period(None, None, NOW)
    assert start == datetime(2026, 7, 1, tzinfo=VN_TZ)
    assert end == NOW  # never the start of next month: open dossiers are not yet late


def test_a_chosen_period_covers_whole_days_in_vietnam_time_and_never_the_future() -> None:
    start, end = period(date(2026, 11, 1), date(2026, 11, 30), NOW)
    assert (start, end) == (
        datetime(2026, 11, 1, tzinfo=VN_TZ),
        datetime(2026, 12, 1, tzinfo=VN_TZ),
    )
    assert period(date(2026, 11, 1), date(2027, 1, 31), NOW)[1] == NOW
    assert period(date(2026, 11, 1), date(9999, 12, 31), NOW)[1] == NOW  # no overflow
    # Only the last day given: the six months up to it.
    assert period(None, date(2026, 3, 31), NOW) == (
        datetime(2025, 10, 1, tzinfo=VN_TZ),
        datetime(2026, 4, 1, tzinfo=VN_TZ),
    )


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2026, 11, 30), date(2026, 11, 1), "Ngày kết thúc phải sau ngày bắt đầu"),
        (date(2026, 12, 3), date(2026, 12, 4), "Kỳ báo cáo không được bắt đầu sau hôm nay"),
        (date(2024, 1, 1), date(2026, 1, 1), "Kỳ báo cáo dài tối đa 24 tháng"),
        (date(1, 1, 1), date(1, 1, 2), "Kỳ báo cáo bắt đầu từ năm 2000 trở đi"),
    ],
)
def test_a_period_an_official_cannot_ask_for_is_refused_in_vietnamese(
    first: date, last: date, message: str
) -> None:
    with pytest.raises(PeriodError, match=message):
        period(first, last, NOW)


def test_the_months_of_a_period_are_cut_to_it_across_a_new_year() -> None:
    start = datetime(2026, 12, 15, tzinfo=VN_TZ)
    end = datetime(2027, 2, 10, 9, tzinfo=VN_TZ)
    assert months_of(start, end) == [
        (start, datetime(2027, 1, 1, tzinfo=VN_TZ)),
        (datetime(2027, 1, 1, tzinfo=VN_TZ), datetime(2027, 2, 1, tzinfo=VN_TZ)),
        (datetime(2027, 2, 1, tzinfo=VN_TZ), end),
    ]


def test_a_step_is_overdue_once_its_due_instant_is_past() -> None:
    assert is_overdue(NOW - timedelta(seconds=1), NOW)
    assert not is_overdue(NOW, NOW)
    assert not is_overdue(NOW + timedelta(hours=1), NOW)
    assert not is_overdue(None, NOW)


SLA = {
    "total": {
        "received": 3,
        "received_by_channel": {"online": 2, "post": 1},
        "on_time_rate": "66.67",
    },
    "by_month": [{"period_label": "11/2026", "received": 3, "on_time_rate": None}],
    "by_unit": [
        {
            "unit_code": "000.01.01.H99",
            "unit_name": "UBND xã Tân Hòa",
            "received": 3,
            "ratings": 2,
            "rating_attitude": "4.50",
        },
    ],
    "by_field": [{"field_code": "ho_tich", "field_name": "Hộ tịch", "received": 3, "ratings": 0}],
}
STEPS = [
    {
        "unit_code": "000.01.01.H99",
        "unit_name": "UBND xã Tân Hòa",
        "in_progress": 4,
        "overdue": 1,
        "due_1_working_day": 2,
        "done": 3,
        "done_on_time": 2,
    },
]


def test_every_table_has_vietnamese_headers_and_names_not_codes_alone() -> None:
    tables = {t.id: t for t in statistics_tables(SLA, STEPS)}
    assert set(tables) == {
        "sla-total",
        "sla-by-month",
        "sla-by-unit",
        "sla-by-field",
        "ratings-by-unit",
        "ratings-by-field",
        "stats-table",
    }
    total = dict(tables["sla-total"].rows)
    assert total["— trực tuyến"] == 2 and total["— qua bưu chính"] == 1
    assert total["Tỷ lệ đúng hạn (%)"] == 66.67
    assert tables["sla-by-field"].rows[0][:2] == ("Hộ tịch", "ho_tich")
    assert tables["ratings-by-field"].rows == ()  # no rating given in that field
    assert tables["ratings-by-unit"].rows[0][0] == "UBND xã Tân Hòa"
    steps = tables["stats-table"]
    assert [c.label for c in steps.columns][:4] == ["Đơn vị", "Mã đơn vị", "Đang xử lý", "Quá hạn"]
    assert steps.rows[0][-1] == 66.67  # 2 of 3 done on time
    # Without SLA the page still has routing's table.
    assert [t.id for t in statistics_tables(None, STEPS)] == ["stats-table"]


def test_csv_starts_with_a_bom_and_reads_back_in_vietnamese() -> None:
    table = next(t for t in statistics_tables(SLA, STEPS) if t.id == "sla-by-unit")
    raw = to_csv(table)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Đơn vị", "Mã đơn vị", "Tiếp nhận mới"]
    assert rows[1][:3] == ["UBND xã Tân Hòa", "000.01.01.H99", "3"]


def test_xlsx_reads_back_with_openpyxl_with_numbers_as_numbers() -> None:
    table = next(t for t in statistics_tables(SLA, STEPS) if t.id == "stats-table")
    book = load_workbook(io.BytesIO(to_xlsx(table, "Từ 01/11/2026 đến 02/12/2026")))
    sheet = book.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Bước xử lý theo đơn vị (hiện tại)"
    assert values[1][0] == "Từ 01/11/2026 đến 02/12/2026"
    assert values[2][:4] == ("Đơn vị", "Mã đơn vị", "Đang xử lý", "Quá hạn")
    assert values[3][:4] == ("UBND xã Tân Hòa", "000.01.01.H99", 4, 1)


def test_due_soon_in_the_report_is_one_working_day_by_the_calendar_not_24_hours() -> None:
    # Friday 17:00 in Hà Nội: one working day later is Monday 17:00, not Saturday.
    end = datetime(2026, 11, 27, 17, 0, tzinfo=VN_TZ)
    soon = WorkingCalendar().add_working_hours(end, 8)
    monday = DossierFacts(
        "d1", "U", "f", 2, end - timedelta(days=2), datetime(2026, 11, 30, 10, 0, tzinfo=VN_TZ)
    )
    report = build_report([monday], end - timedelta(days=30), end, due_soon_by=soon)
    assert report.due_within_24h == 1
    assert build_report([monday], end - timedelta(days=30), end).due_within_24h == 0
