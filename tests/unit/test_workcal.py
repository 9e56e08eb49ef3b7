"""Unit tests of the working calendar (services.workcal).

Default office hours: 07:00–11:30 (4.5 h) and 13:30–17:00 (3.5 h) = 8 h = 1 working day.
Every hand-worked case shows its working in a comment.
"""

from __future__ import annotations

import time as perf
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.workcal.calendar import VN_TZ, CalendarError, WorkingCalendar
from services.workcal.model import CutOff, OfficeHours, UnitCalendarConfig

CAL = WorkingCalendar()


def vn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """An aware datetime in Asia/Ho_Chi_Minh."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=VN_TZ)


# --------------------------------------------------------------------------- models


def test_default_office_hours_are_eight_hours() -> None:
    hours = OfficeHours()
    assert hours.intervals == ((time(7), time(11, 30)), (time(13, 30), time(17)))
    assert hours.duration == timedelta(hours=8)


def test_office_hours_accept_a_list_and_are_frozen() -> None:
    hours = OfficeHours(intervals=[(time(8), time(12))])
    assert hours.intervals == ((time(8), time(12)),)
    with pytest.raises(ValidationError):
        hours.intervals = ()


@pytest.mark.parametrize(
    "intervals",
    [
        (),
        ((time(12), time(8)),),
        ((time(8), time(8)),),
        ((time(7), time(12)), (time(11), time(17))),  # overlap
        ((time(13), time(17)), (time(7), time(11))),  # not sorted
        ((time(7, tzinfo=UTC), time(11)),),  # not a wall-clock time
    ],
)
def test_office_hours_rejects_bad_intervals(intervals: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(ValidationError):
        OfficeHours(intervals=intervals)


def test_config_rejects_inconsistencies() -> None:
    with pytest.raises(ValidationError, match="both in extra_days_off and extra_working_days"):
        UnitCalendarConfig(
            extra_days_off=frozenset({date(2026, 3, 3)}),
            extra_working_days=frozenset({date(2026, 3, 3)}),
        )
    with pytest.raises(ValidationError, match="serves_saturday is False"):
        UnitCalendarConfig(saturday_hours=OfficeHours())
    with pytest.raises(ValidationError):
        CutOff(at=time(15, tzinfo=UTC))


# --------------------------------------------------------------------------- what the package says


def test_public_holidays_2026_as_known_to_the_holidays_package() -> None:
    # holidays 0.109 for VN 2026, plus the New Year swap of makeup_days.py (2 Jan).
    assert set(CAL.public_holidays(2026)) == {
        date(2026, 1, 1),  # Thu, Tết Dương lịch
        date(2026, 1, 2),  # Fri, swapped with Sat 10 Jan (12729/VPCP-KGVX)
        date(2026, 2, 16),  # Mon, Giao thừa (29 tháng Chạp)
        date(2026, 2, 17),  # Tue, Tết Nguyên Đán (mùng 1)
        date(2026, 2, 18),  # Wed, mùng 2
        date(2026, 2, 19),  # Thu, mùng 3
        date(2026, 2, 20),  # Fri, mùng 4
        date(2026, 4, 26),  # Sun, Giỗ Tổ Hùng Vương
        date(2026, 4, 27),  # Mon, Giỗ Tổ Hùng Vương (nghỉ bù)
        date(2026, 4, 30),  # Thu, Ngày Chiến thắng
        date(2026, 5, 1),  # Fri, Quốc tế Lao động
        date(2026, 8, 31),  # Mon, swapped with Sat 22 Aug
        date(2026, 9, 1),  # Tue, Quốc khánh (extra day)
        date(2026, 9, 2),  # Wed, Quốc khánh
        date(2026, 11, 24),  # Tue, Ngày Văn hóa Việt Nam (package: from 2026)
    }
    assert CAL.makeup_working_days(2026) == {date(2026, 1, 10), date(2026, 8, 22)}


def test_make_up_days_filed_under_another_year_are_found() -> None:
    # The package files Sat 2019-01-05 (make-up for Mon 2018-12-31) under 2018.
    assert CAL.is_working_day(date(2019, 1, 5))
    assert not CAL.is_working_day(date(2018, 12, 31))
    # 2024: Mon 29 Apr off, Sat 4 May worked. 2025: Fri 2 May off, Sat 26 Apr worked.
    assert not CAL.is_working_day(date(2024, 4, 29))
    assert CAL.is_working_day(date(2024, 5, 4))
    assert not CAL.is_working_day(date(2025, 5, 2))
    assert CAL.is_working_day(date(2025, 4, 26))


# --------------------------------------------------------------------------- working days


def test_weekdays_and_weekends() -> None:
    assert CAL.is_working_day(date(2026, 3, 2))  # Monday
    assert CAL.is_working_day(date(2026, 3, 6))  # Friday
    assert not CAL.is_working_day(date(2026, 3, 7))  # Saturday
    assert not CAL.is_working_day(date(2026, 3, 8))  # Sunday
    assert CAL.office_hours(date(2026, 3, 2)) == OfficeHours().intervals
    assert CAL.office_hours(date(2026, 3, 7)) == ()


def test_is_working_day_refuses_a_datetime() -> None:
    with pytest.raises(CalendarError, match="a date is needed"):
        CAL.is_working_day(vn(2026, 3, 2, 8))


def test_year_outside_the_package_range_is_an_error() -> None:
    with pytest.raises(CalendarError, match="outside the range"):
        CAL.is_working_day(date(2101, 3, 1))
    with pytest.raises(CalendarError, match="outside the range"):
        CAL.add_working_days(vn(2100, 12, 31, 7), 3)


# --------------------------------------------------------------------------- holidays


def test_tet_2026() -> None:
    # Tết Bính Ngọ: Mon 16 – Fri 20 Feb 2026 off (+ weekends 14–15 and 21–22 Feb).
    for day in range(14, 23):
        assert not CAL.is_working_day(date(2026, 2, day))
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))
    # Received Fri 13 Feb 10:00, 3 working days = 24 h:
    #   Fri 13: 10:00–11:30 (1.5) + 13:30–17:00 (3.5) = 5 h         (done  5, left 19)
    #   Sat 14 … Sun 22: weekend + Tết, 0 h
    #   Mon 23: 8 h (done 13, left 11); Tue 24: 8 h (done 21, left 3)
    #   Wed 25: 07:00 + 3 h = 10:00
    start = CAL.clock_start(vn(2026, 2, 13, 10))
    assert start == vn(2026, 2, 13, 10)
    due = CAL.add_working_days(start, 3)
    assert due == vn(2026, 2, 25, 10)
    assert CAL.working_hours_between(start, due) == 24


def test_tet_2024_old_dossier_is_still_computed() -> None:
    # Tết Giáp Thìn: Thu 8 – Wed 14 Feb 2024 off (Sat 10 / Sun 11 inside).
    # Wed 7 Feb 13:30 + 8 h: Wed 13:30–17:00 = 3.5 h; Thu 8 … Wed 14 off;
    # Thu 15 Feb 07:00 + 4.5 h = 11:30.
    assert CAL.add_working_hours(vn(2024, 2, 7, 13, 30), Decimal(8)) == vn(2024, 2, 15, 11, 30)


def test_hung_kings_2026_substituted_monday() -> None:
    # Giỗ Tổ (10/3 âm lịch) is Sun 26 Apr 2026 → substituted day off Mon 27 Apr.
    holidays_2026 = CAL.public_holidays(2026)
    assert "Hùng Vương" in holidays_2026[date(2026, 4, 26)]
    assert "nghỉ bù" in holidays_2026[date(2026, 4, 27)]
    assert not CAL.is_working_day(date(2026, 4, 27))
    # Fri 24 Apr 13:30 + 8 h: Fri 13:30–17:00 = 3.5 h; Sat 25, Sun 26, Mon 27 off;
    # Tue 28 07:00 + 4.5 h = 11:30.
    assert CAL.add_working_hours(vn(2026, 4, 24, 13, 30), 8) == vn(2026, 4, 28, 11, 30)


def test_30_april_and_1_may_2026() -> None:
    # Thu 30 Apr and Fri 1 May 2026 off.
    assert not CAL.is_working_day(date(2026, 4, 30))
    assert not CAL.is_working_day(date(2026, 5, 1))
    # Wed 29 Apr 07:00 + 2 days (16 h): Wed 8 h; Thu 30, Fri 1, Sat 2, Sun 3 off;
    # Mon 4 May 8 h → ends Mon 4 May 17:00.
    assert CAL.add_working_days(vn(2026, 4, 29, 7), 2) == vn(2026, 5, 4, 17)


def test_national_day_2026_with_its_extra_day_and_swap() -> None:
    # Package: Tue 1 + Wed 2 Sep (Quốc khánh, 2 days), Mon 31 Aug off swapped with Sat 22 Aug.
    for day in (date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)):
        assert not CAL.is_working_day(day)
    assert CAL.is_working_day(date(2026, 9, 3))
    # Fri 28 Aug 07:00 + 2 days (16 h): Fri 8 h; Sat 29 … Wed 2 Sep off;
    # Thu 3 Sep 8 h → ends Thu 3 Sep 17:00.
    assert CAL.add_working_days(vn(2026, 8, 28, 7), 2) == vn(2026, 9, 3, 17)


def test_make_up_saturday_22_august_2026() -> None:
    # Sat 22 Aug 2026 is an official working Saturday (office hours as on a weekday).
    assert CAL.is_working_day(date(2026, 8, 22))
    assert CAL.office_hours(date(2026, 8, 22)) == OfficeHours().intervals
    # Fri 21 Aug 13:30 + 8 h: Fri 3.5 h; Sat 22 07:00 + 4.5 h = 11:30.
    assert CAL.add_working_hours(vn(2026, 8, 21, 13, 30), 8) == vn(2026, 8, 22, 11, 30)


def test_new_year_2026_swap_from_the_supplement_table() -> None:
    # Thu 1 Jan (holiday) and Fri 2 Jan (swap) off; Sat 10 Jan worked instead.
    assert not CAL.is_working_day(date(2026, 1, 2))
    assert CAL.is_working_day(date(2026, 1, 10))
    # Wed 31 Dec 2025 07:00 + 2 days: Wed 8 h; Thu 1 … Sun 4 Jan off; Mon 5 Jan 8 h → 17:00.
    assert CAL.add_working_days(vn(2025, 12, 31, 7), 2) == vn(2026, 1, 5, 17)
    # Fri 9 Jan 07:00 → Mon 12 Jan 07:00: Fri 8 h + Sat 10 (make-up) 8 h + Sun 0 = 16 h.
    assert CAL.working_hours_between(vn(2026, 1, 9, 7), vn(2026, 1, 12, 7)) == 16


# --------------------------------------------------------------------------- clock start


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (vn(2026, 3, 2, 9, 15, 42), vn(2026, 3, 2, 9, 15, 42)),  # inside → itself
        (vn(2026, 3, 2, 6, 0), vn(2026, 3, 2, 7, 0)),  # before opening
        (vn(2026, 3, 2, 12, 0), vn(2026, 3, 2, 13, 30)),  # lunch break
        (vn(2026, 3, 2, 11, 30), vn(2026, 3, 2, 13, 30)),  # closing instant is outside
        (vn(2026, 3, 2, 17, 30), vn(2026, 3, 3, 7, 0)),  # evening → next day 07:00
        (vn(2026, 3, 6, 17, 30), vn(2026, 3, 9, 7, 0)),  # Friday evening → Monday
        (vn(2026, 3, 7, 10, 0), vn(2026, 3, 9, 7, 0)),  # Saturday → Monday
        (vn(2026, 2, 13, 18, 0), vn(2026, 2, 23, 7, 0)),  # before Tết → after Tết
    ],
)
def test_clock_start_without_cut_off(received: datetime, expected: datetime) -> None:
    assert CAL.clock_start(received) == expected


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (vn(2026, 3, 2, 14, 59), vn(2026, 3, 2, 14, 59)),  # before the cut-off
        (vn(2026, 3, 2, 15, 0), vn(2026, 3, 2, 15, 0)),  # at 15:00 is not "after"
        (vn(2026, 3, 2, 15, 0, 1), vn(2026, 3, 3, 7, 0)),  # after → next working day
        (vn(2026, 3, 6, 15, 30), vn(2026, 3, 9, 7, 0)),  # Friday after → Monday
        (vn(2026, 2, 13, 15, 30), vn(2026, 2, 23, 7, 0)),  # Friday before Tết → 23 Feb
        (vn(2026, 3, 2, 6, 30), vn(2026, 3, 2, 7, 0)),  # early morning: same day
    ],
)
def test_clock_start_with_cut_off_at_15(received: datetime, expected: datetime) -> None:
    assert CAL.clock_start(received, time(15)) == expected
    assert CAL.clock_start(received, CutOff(at=time(15))) == expected


def test_clock_start_converts_other_time_zones() -> None:
    # 2026-03-02 10:00 UTC = 17:00 in Hà Nội (closing) → Tue 3 Mar 07:00.
    start = CAL.clock_start(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert start == vn(2026, 3, 3, 7)
    assert start.tzinfo is VN_TZ


# --------------------------------------------------------------------------- working time


def test_eight_hours_from_monday_morning_end_monday_evening() -> None:
    # Mon 07:00 + 8 h = Mon 17:00 (end of the last working minute), not Tue 07:00.
    assert CAL.add_working_hours(vn(2026, 3, 2, 7), Decimal(8)) == vn(2026, 3, 2, 17)
    assert CAL.add_working_days(vn(2026, 3, 2, 7), 1) == vn(2026, 3, 2, 17)


def test_lunch_break_is_skipped() -> None:
    # Mon 11:00 + 1 h: 11:00–11:30 (0.5 h) + 13:30–14:00 (0.5 h) = 14:00.
    assert CAL.add_working_hours(vn(2026, 3, 2, 11), Decimal(1)) == vn(2026, 3, 2, 14)
    # and exactly to the morning close: 11:00 + 0.5 h = 11:30 (not 13:30).
    assert CAL.add_working_hours(vn(2026, 3, 2, 11), Decimal("0.5")) == vn(2026, 3, 2, 11, 30)


def test_weekend_is_skipped() -> None:
    # Fri 6 Mar 16:00 + 2 h: Fri 16:00–17:00 (1 h); Sat, Sun off; Mon 07:00 + 1 h = 08:00.
    assert CAL.add_working_hours(vn(2026, 3, 6, 16), 2) == vn(2026, 3, 9, 8)


def test_start_outside_office_hours() -> None:
    # Sat 7 Mar 10:00 + 1 h: nothing until Mon 07:00, + 1 h = Mon 08:00.
    assert CAL.add_working_hours(vn(2026, 3, 7, 10), 1) == vn(2026, 3, 9, 8)
    # zero hours leave the start alone
    assert CAL.add_working_hours(vn(2026, 3, 7, 10), 0) == vn(2026, 3, 7, 10)


def test_exact_to_the_second() -> None:
    # 0.0125 h = 45 s; 1/3 working day = 2 h 40 min; seconds and microseconds survive.
    assert CAL.add_working_hours(vn(2026, 3, 2, 7), Decimal("0.0125")) == vn(2026, 3, 2, 7, 0, 45)
    start = vn(2026, 3, 2, 11, 29, 59, 250_000)
    # 0.75 s left before lunch, then 1 h − 0.75 s after 13:30.
    assert CAL.add_working_hours(start, 1) == vn(2026, 3, 2, 14, 29, 59, 250_000)


def test_negative_hours_go_back() -> None:
    # Mon 17:00 − 8 h = Mon 07:00 (start of the first working minute).
    assert CAL.add_working_hours(vn(2026, 3, 2, 17), -8) == vn(2026, 3, 2, 7)
    # Tue 07:00 − 1 h: nothing before 07:00 on Tue; Mon 17:00 − 1 h = Mon 16:00.
    assert CAL.add_working_hours(vn(2026, 3, 3, 7), -1) == vn(2026, 3, 2, 16)
    # Mon 14:00 − 1 h: 13:30–14:00 (0.5 h) then 11:30 − 0.5 h = 11:00.
    assert CAL.add_working_hours(vn(2026, 3, 2, 14), Decimal(-1)) == vn(2026, 3, 2, 11)


def test_working_hours_between() -> None:
    # Mon 10:00 → Mon 15:00: 10:00–11:30 (1.5) + 13:30–15:00 (1.5) = 3 h.
    assert CAL.working_hours_between(vn(2026, 3, 2, 10), vn(2026, 3, 2, 15)) == 3
    # reversed → negative
    assert CAL.working_hours_between(vn(2026, 3, 2, 15), vn(2026, 3, 2, 10)) == -3
    # Fri 17:00 → Mon 07:00 is no working time.
    assert CAL.working_hours_between(vn(2026, 3, 6, 17), vn(2026, 3, 9, 7)) == 0
    # Mon 07:00 → next Mon 07:00 = 5 × 8 h.
    assert CAL.working_hours_between(vn(2026, 3, 2, 7), vn(2026, 3, 9, 7)) == 40
    # one second is 1/3600 h
    one_second = CAL.working_hours_between(vn(2026, 3, 2, 8), vn(2026, 3, 2, 8, 0, 1))
    assert one_second * 3600 == pytest.approx(Decimal(1), abs=Decimal("1e-25"))


def test_supplement_pause_moves_the_due_date() -> None:
    # Due Wed 4 Mar 17:00; supplement asked Mon 2 Mar 15:00, citizen answered Tue 3 Mar
    # 09:00: paused 15:00–17:00 (2 h) + 07:00–09:00 (2 h) = 4 h → new due Thu 5 Mar 11:00.
    paused = CAL.working_hours_between(vn(2026, 3, 2, 15), vn(2026, 3, 3, 9))
    assert paused == 4
    assert CAL.add_working_hours(vn(2026, 3, 4, 17), paused) == vn(2026, 3, 5, 11)


def test_other_time_zone_input_and_output_zone() -> None:
    # 2026-03-02 00:00 UTC = 07:00 Hà Nội; + 8 h = 17:00 Hà Nội = 10:00 UTC.
    due = CAL.add_working_hours(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 8)
    assert due == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert due.tzinfo is VN_TZ
    tokyo = timezone(timedelta(hours=9))
    # 2026-03-02 09:00 +09:00 = 07:00 Hà Nội
    assert CAL.working_hours_between(datetime(2026, 3, 2, 9, tzinfo=tokyo), vn(2026, 3, 2, 17)) == 8


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 8)
    with pytest.raises(ValueError, match="naive"):
        CAL.add_working_hours(naive, 1)
    with pytest.raises(ValueError, match="naive"):
        CAL.clock_start(naive)
    with pytest.raises(CalendarError, match="naive"):
        CAL.working_hours_between(vn(2026, 3, 2, 8), naive)


def test_bad_hours_are_refused() -> None:
    with pytest.raises(CalendarError, match="Decimal or an int"):
        CAL.add_working_hours(vn(2026, 3, 2, 8), 1.5)  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="finite"):
        CAL.add_working_hours(vn(2026, 3, 2, 8), Decimal("NaN"))
    with pytest.raises(CalendarError, match="time or CutOff"):
        CAL.clock_start(vn(2026, 3, 2, 8), "15:00")  # type: ignore[arg-type]


def test_large_span_is_fast() -> None:
    t0 = perf.perf_counter()
    start = vn(2026, 1, 5, 7)
    due = CAL.add_working_days(start, 1500)
    assert CAL.working_hours_between(start, due) == 1500 * 8
    assert CAL.add_working_days(due, -1500) == start
    assert perf.perf_counter() - t0 < 2.0


# --------------------------------------------------------------------------- unit settings


def test_unit_serving_saturday() -> None:
    saturday = OfficeHours(intervals=((time(7, 30), time(11, 30)),))
    cal = WorkingCalendar(UnitCalendarConfig(serves_saturday=True, saturday_hours=saturday))
    assert cal.is_working_day(date(2026, 3, 7))
    assert not cal.is_working_day(date(2026, 3, 8))
    assert cal.office_hours(date(2026, 3, 7)) == ((time(7, 30), time(11, 30)),)
    # Fri 6 Mar 13:30 + 8 h: Fri 3.5 h; Sat 7 07:30–11:30 4 h (7.5 h); Sun off;
    # Mon 9 07:00 + 0.5 h = 07:30.
    assert cal.add_working_hours(vn(2026, 3, 6, 13, 30), 8) == vn(2026, 3, 9, 7, 30)
    # Saturday 12:00 is after Saturday closing → Monday 07:00.
    assert cal.clock_start(vn(2026, 3, 7, 12)) == vn(2026, 3, 9, 7)
    # A holiday on a Saturday stays off: Sat 1 May 2027 (Labour Day).
    assert not cal.is_working_day(date(2027, 5, 1))
    # A make-up Saturday uses the full weekday hours.
    assert cal.office_hours(date(2026, 8, 22)) == OfficeHours().intervals


def test_unit_serving_saturday_with_same_hours() -> None:
    cal = WorkingCalendar(UnitCalendarConfig(serves_saturday=True))
    # Fri 6 Mar 13:30 + 8 h: Fri 3.5 h; Sat 7 07:00 + 4.5 h = 11:30.
    assert cal.add_working_hours(vn(2026, 3, 6, 13, 30), 8) == vn(2026, 3, 7, 11, 30)


def test_administrator_extra_day_off() -> None:
    cal = WorkingCalendar(UnitCalendarConfig(extra_days_off=frozenset({date(2026, 3, 3)})))
    assert not cal.is_working_day(date(2026, 3, 3))
    # Mon 2 Mar 13:30 + 8 h: Mon 3.5 h; Tue 3 off (override); Wed 4 07:00 + 4.5 h = 11:30.
    assert cal.add_working_hours(vn(2026, 3, 2, 13, 30), 8) == vn(2026, 3, 4, 11, 30)
    # An override beats a make-up Saturday too.
    cal = WorkingCalendar(UnitCalendarConfig(extra_days_off=frozenset({date(2026, 8, 22)})))
    assert not cal.is_working_day(date(2026, 8, 22))


def test_administrator_extra_working_day_on_a_sunday() -> None:
    cal = WorkingCalendar(UnitCalendarConfig(extra_working_days=frozenset({date(2026, 3, 8)})))
    assert cal.is_working_day(date(2026, 3, 8))
    # Fri 6 Mar 13:30 + 8 h: Fri 3.5 h; Sat 7 off; Sun 8 (override) 07:00 + 4.5 h = 11:30.
    assert cal.add_working_hours(vn(2026, 3, 6, 13, 30), 8) == vn(2026, 3, 8, 11, 30)
    # An override beats a public holiday too (e.g. the package is wrong about 24 Nov).
    cal = WorkingCalendar(UnitCalendarConfig(extra_working_days=frozenset({date(2026, 11, 24)})))
    assert cal.is_working_day(date(2026, 11, 24))


# --------------------------------------------------------------------------- properties


@st.composite
def working_instants(draw: st.DrawFn) -> datetime:
    """An instant inside office hours (default hours) of a working day, 2024–2027."""
    day = draw(
        st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)).filter(
            CAL.is_working_day
        )
    )
    second = draw(st.integers(min_value=0, max_value=8 * 3600 - 1))
    # first 4.5 h from 07:00, the rest from 13:30
    if second < 4 * 3600 + 1800:
        return vn(day.year, day.month, day.day, 7) + timedelta(seconds=second)
    return vn(day.year, day.month, day.day, 13, 30) + timedelta(seconds=second - 16_200)


# hours with 2 decimals: whole seconds (0.01 h = 36 s), up to 500 working days
hours_strategy = st.integers(min_value=-4000_00, max_value=4000_00).map(lambda n: Decimal(n) / 100)
any_instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(VN_TZ)
)


@settings(max_examples=200, deadline=None)
@given(start=working_instants(), hours=hours_strategy)
def test_round_trip(start: datetime, hours: Decimal) -> None:
    end = CAL.add_working_hours(start, hours)
    assert CAL.working_hours_between(start, end) == hours
    assert (end >= start) if hours >= 0 else (end < start)


@settings(max_examples=200, deadline=None)
@given(start=any_instants, hours=st.integers(min_value=1, max_value=400_00).map(Decimal))
def test_round_trip_from_any_instant(start: datetime, hours: Decimal) -> None:
    end = CAL.add_working_hours(start, hours / 100)
    assert CAL.working_hours_between(start, end) == hours / 100


ODD_UNIT = WorkingCalendar(
    UnitCalendarConfig(
        office_hours=OfficeHours(
            intervals=((time(7, 15, 30), time(11, 45)), (time(13), time(16, 59, 59)))
        ),
        serves_saturday=True,
        saturday_hours=OfficeHours(intervals=((time(8), time(10, 20)),)),
        extra_days_off=frozenset({date(2026, 3, 3), date(2026, 8, 22)}),
        extra_working_days=frozenset({date(2026, 3, 8), date(2026, 2, 17)}),
    )
)


@settings(max_examples=200, deadline=None)
@given(start=any_instants, hours=hours_strategy)
def test_round_trip_odd_unit(start: datetime, hours: Decimal) -> None:
    end = ODD_UNIT.add_working_hours(start, hours)
    assert ODD_UNIT.working_hours_between(start, end) == hours


@settings(max_examples=200, deadline=None)
@given(start=working_instants(), a=hours_strategy, b=hours_strategy)
def test_monotone_in_hours(start: datetime, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert CAL.add_working_hours(start, low) <= CAL.add_working_hours(start, high)


@settings(max_examples=200, deadline=None)
@given(s1=any_instants, s2=any_instants, hours=hours_strategy)
def test_monotone_in_start(s1: datetime, s2: datetime, hours: Decimal) -> None:
    early, late = sorted((s1, s2))
    assert CAL.add_working_hours(early, hours) <= CAL.add_working_hours(late, hours)
    assert CAL.clock_start(early) <= CAL.clock_start(late)


@settings(max_examples=200, deadline=None)
@given(s=any_instants, e1=any_instants, e2=any_instants)
def test_between_is_monotone_and_antisymmetric(s: datetime, e1: datetime, e2: datetime) -> None:
    low, high = sorted((e1, e2))
    assert CAL.working_hours_between(s, low) <= CAL.working_hours_between(s, high)
    # (copy_negate: exact, unlike unary minus which rounds in the default context)
    assert CAL.working_hours_between(s, e1) == CAL.working_hours_between(e1, s).copy_negate()
    # additivity: s → e1 → e2 equals s → e2 (exact in µs; compare after scaling)
    total = CAL.working_hours_between(s, e1) + CAL.working_hours_between(e1, e2)
    assert total == pytest.approx(CAL.working_hours_between(s, e2), abs=Decimal("1e-20"))


@settings(max_examples=100, deadline=None)
@given(received=any_instants)
def test_clock_start_is_a_working_instant_not_before_reception(received: datetime) -> None:
    start = CAL.clock_start(received)
    assert start >= received
    assert CAL.working_hours_between(received, start) == 0
    local = start.astimezone(VN_TZ)
    assert CAL.is_working_day(local.date())
    assert any(a <= local.time() < b for a, b in CAL.office_hours(local.date()))
