"""Console: the statistics screen's tables, as the screen shows them and as they export
(pure: figures in, tables out; CSV with a byte-order mark and Excel ``.xlsx`` out).

One definition serves the page and the spreadsheets, so what an official downloads is
what they read: the same rows, the same Vietnamese headers, names instead of codes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from contracts.vietnam import VN_TZ

# The figures of SLA's report, in the order the screen lists them (Vietnamese labels).
REPORT_LABELS: tuple[tuple[str, str], ...] = (
    ("carried_over", "Kỳ trước chuyển sang"),
    ("received", "Tiếp nhận mới"),
    ("received_in_person", "— trực tiếp"),
    ("received_online", "— trực tuyến"),
    ("received_post", "— qua bưu chính"),
    ("to_handle", "Phải giải quyết"),
    ("resolved", "Đã giải quyết"),
    ("resolved_early", "— trước hạn"),
    ("resolved_on_time", "— đúng hạn"),
    ("resolved_late", "— trễ hạn"),
    ("in_progress", "Đang giải quyết"),
    ("in_progress_on_time", "— trong hạn"),
    ("in_progress_overdue", "— quá hạn"),
    ("due_within_24h", "Đến hạn trong 1 ngày làm việc"),
    ("waiting_for_supplement", "Chờ bổ sung"),
    ("stopped", "Dừng xử lý"),
    ("refused", "Không tiếp nhận"),
    ("withdrawn", "Rút hồ sơ"),
    ("returned", "Đã trả kết quả"),
    ("on_time_rate", "Tỷ lệ đúng hạn (%)"),
    ("ratings", "Số lượt đánh giá hài lòng"),
    ("rating_timeliness", "Điểm thời gian giải quyết (1–5)"),
    ("rating_attitude", "Điểm thái độ phục vụ (1–5)"),
    ("rating_clarity", "Điểm hướng dẫn rõ ràng (1–5)"),
    ("rating_outcome", "Điểm kết quả giải quyết (1–5)"),
)
LABEL = dict(REPORT_LABELS)
SLICE_COLUMNS = (
    "received",
    "to_handle",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "in_progress_overdue",
    "on_time_rate",
)
RATING_COLUMNS = (
    "ratings",
    "rating_timeliness",
    "rating_attitude",
    "rating_clarity",
    "rating_outcome",
)
STEP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("in_progress", "Đang xử lý"),
    ("overdue", "Quá hạn"),
    ("due_1_working_day", "Đến hạn trong 1 ngày làm việc"),
    ("done", "Đã xong"),
    ("done_on_time", "Xong đúng hạn"),
    ("on_time_rate", "Tỷ lệ đúng hạn (%)"),
)
CHANNEL_KEYS = {
    "in_person": "received_in_person",
    "online": "received_online",
    "post": "received_post",
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    num: bool = True


@dataclass(frozen=True)
class Table:
    """One table of the screen: an id (also the file name), a title, columns, rows."""

    id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "columns": [{"key": c.key, "label": c.label, "num": c.num} for c in self.columns],
            "rows": [list(r) for r in self.rows],
        }


def number(value: Any) -> int | float | None:
    """A figure as a number (SLA sends rates and averages as decimal strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        return None
    return float(parsed) if "." in text else int(parsed)


def flat(report: Mapping[str, Any]) -> dict[str, Any]:
    """SLA's report with the channel split as columns of their own."""
    out = dict(report)
    for channel, key in CHANNEL_KEYS.items():
        out[key] = (report.get("received_by_channel") or {}).get(channel, 0)
    return out


def rate(done: int, on_time: int) -> float | None:
    return round(on_time * 100 / done, 2) if done else None


def _slice(
    id_: str, title: str, key_label: str, rows: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
) -> Table:
    return Table(
        id_,
        title,
        (
            *(Column(k, lbl, num=False) for k, lbl in _keys(key_label)),
            *(Column(c, LABEL[c]) for c in SLICE_COLUMNS),
        ),
        tuple((*keys, *(number(r.get(c)) for c in SLICE_COLUMNS)) for keys, r in rows),
    )


def _ratings(
    id_: str, title: str, key_label: str, rows: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
) -> Table:
    return Table(
        id_,
        title,
        (
            *(Column(k, lbl, num=False) for k, lbl in _keys(key_label)),
            *(Column(c, LABEL[c]) for c in RATING_COLUMNS),
        ),
        tuple(
            (*keys, *(number(r.get(c)) for c in RATING_COLUMNS))
            for keys, r in rows
            if r.get("ratings")
        ),
    )


def _keys(key_label: str) -> tuple[tuple[str, str], ...]:
    if key_label == "Đơn vị":
        return (("unit_name", "Đơn vị"), ("unit_code", "Mã đơn vị"))
    if key_label == "Lĩnh vực":
        return (("field_name", "Lĩnh vực"), ("field_code", "Mã lĩnh vực"))
    return (("period", key_label),)


def statistics_tables(
    sla: Mapping[str, Any] | None, steps: Sequence[Mapping[str, Any]]
) -> list[Table]:
    """Every table of the statistics screen, from SLA's figures (None when SLA is away)
    and routing's steps per unit (``unit_name`` already set)."""
    tables: list[Table] = []
    if sla is not None:
        total = flat(sla["total"])
        tables.append(
            Table(
                "sla-total",
                "Báo cáo giải quyết hồ sơ",
                (Column("label", "Chỉ tiêu", num=False), Column("value", "Số hồ sơ")),
                tuple((label, number(total.get(key))) for key, label in REPORT_LABELS),
            )
        )
        tables.append(
            _slice(
                "sla-by-month",
                "Theo tháng",
                "Tháng",
                (((r["period_label"],), r) for r in sla["by_month"]),
            )
        )
        units = [((r["unit_name"], r["unit_code"]), r) for r in sla["by_unit"]]
        fields = [((r["field_name"], r["field_code"]), r) for r in sla["by_field"]]
        tables.append(_slice("sla-by-unit", "Theo đơn vị tiếp nhận", "Đơn vị", units))
        tables.append(_slice("sla-by-field", "Theo lĩnh vực", "Lĩnh vực", fields))
        tables.append(_ratings("ratings-by-unit", "Mức độ hài lòng theo đơn vị", "Đơn vị", units))
        tables.append(
            _ratings("ratings-by-field", "Mức độ hài lòng theo lĩnh vực", "Lĩnh vực", fields)
        )
    tables.append(
        Table(
            "stats-table",
            "Bước xử lý theo đơn vị (hiện tại)",
            (
                Column("unit_name", "Đơn vị", num=False),
                Column("unit_code", "Mã đơn vị", num=False),
                *(Column(k, lbl) for k, lbl in STEP_COLUMNS),
            ),
            tuple(
                (
                    s["unit_name"],
                    s["unit_code"],
                    *(
                        rate(s["done"], s["done_on_time"]) if k == "on_time_rate" else s[k]
                        for k, _ in STEP_COLUMNS
                    ),
                )
                for s in steps
            ),
        )
    )
    return tables


# --- the period ------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period an official cannot ask for; ``title`` is one of PERIOD_TITLES."""

    def __init__(self, reason: str) -> None:
        self.title = PERIOD_TITLES[reason]
        super().__init__(self.title)


MAX_MONTHS = 24
EARLIEST = date(2000, 1, 1)
PERIOD_TITLES = {
    "too_early": "Kỳ báo cáo bắt đầu từ năm 2000 trở đi",
    "future": "Kỳ báo cáo không được bắt đầu sau hôm nay",
    "reversed": "Ngày kết thúc phải sau ngày bắt đầu",
    "too_long": f"Kỳ báo cáo dài tối đa {MAX_MONTHS} tháng",
}


def month_label(d: datetime) -> str:
    return f"{d.month:02d}/{d.year}"


def default_start(now: datetime, months: int = 6) -> date:
    """The first day (Vietnam time) of the month ``months - 1`` months back."""
    local = now.astimezone(VN_TZ)
    y, m = local.year, local.month - (months - 1)
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def period(first: date | None, last: date | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the days ``first``..``last`` (Vietnam time), the end never later
    than ``now``: by default the last six months up to this instant, so a dossier still
    open counts as overdue only when its due instant is already past."""
    today = now.astimezone(VN_TZ).date()
    last = min(last or today, today)  # the period never reaches into the future
    # Without a first day: the six months up to the last one.
    first = first or default_start(datetime(last.year, last.month, last.day, tzinfo=VN_TZ))
    if first < EARLIEST:
        raise PeriodError("too_early")
    if first > today:
        raise PeriodError("future")
    if last < first:
        raise PeriodError("reversed")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise PeriodError("too_long")
    start = datetime(first.year, first.month, first.day, tzinfo=VN_TZ)
    after = last + timedelta(days=1)
    end = min(datetime(after.year, after.month, after.day, tzinfo=VN_TZ), now.astimezone(VN_TZ))
    return start, end


def months_of(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The calendar months (Vietnam time) of [start, end), each cut to the period."""
    out: list[tuple[datetime, datetime]] = []
    lo = start.astimezone(VN_TZ)
    while lo < end:
        y, m = (lo.year + 1, 1) if lo.month == 12 else (lo.year, lo.month + 1)
        hi = min(datetime(y, m, 1, tzinfo=VN_TZ), end)
        out.append((lo, hi))
        lo = hi
    return out


# --- files -----------------------------------------------------------------------------------


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Vietnamese right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table, subtitle: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.title[:31]
    sheet.append([table.title])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([subtitle])
    sheet.append([c.label for c in table.columns])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append(list(row))
    for i, column in enumerate(table.columns, start=1):
        width = max([len(column.label), *(len(str(r[i - 1] or "")) for r in table.rows)])
        sheet.column_dimensions[get_column_letter(i)].width = min(width + 2, 60)
    sheet.freeze_panes = "A4"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
