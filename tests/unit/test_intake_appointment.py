"""The appointment printed on the receipt: legal time, online time, conditions, cut-off."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from contracts.events import Channel
from services.intake.catalog_source import intake_catalog
from services.intake.domain.rules import appointment
from services.workcal.calendar import WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CATALOG = intake_catalog("three_level")
LAND, BIRTH = CATALOG.procedures["1.012603"], CATALOG.procedures["1.001193"]
CALENDAR = WorkingCalendar()


def test_a_land_dossier_received_after_the_1500_cut_off_counts_from_the_next_working_day() -> None:
    # Tuesday 10 Nov 2026, 15:30: after the cut-off, so the clock starts Wednesday 07:00;
    # 80 working hours = 10 working days: 11, 12, 13, 16, 17, 18, 19, 20, 23 and — Tuesday
    # 24 Nov being Vietnam Culture Day, a day off from 2026 — Wednesday 25 Nov, 17:00.
    late = appointment(
        CALENDAR, LAND, Channel.IN_PERSON, [], datetime(2026, 11, 10, 15, 30, tzinfo=VN)
    )
    assert late.clock_started_at == datetime(2026, 11, 11, 7, 0, tzinfo=VN)
    assert late.appointment_at == datetime(2026, 11, 25, 17, 0, tzinfo=VN)
    # At 14:00 the same day the clock starts at once.
    early = appointment(
        CALENDAR, LAND, Channel.IN_PERSON, [], datetime(2026, 11, 10, 14, 0, tzinfo=VN)
    )
    assert early.clock_started_at == datetime(2026, 11, 10, 14, 0, tzinfo=VN)


def test_a_birth_registration_needing_verification_gets_three_working_days() -> None:
    received = datetime(2026, 11, 10, 9, 0, tzinfo=VN)  # Tuesday
    plain = appointment(CALENDAR, BIRTH, Channel.ONLINE, [], received)
    checked = appointment(CALENDAR, BIRTH, Channel.ONLINE, ["verification_needed"], received)
    assert plain.legal_hours == 8
    assert plain.appointment_at == datetime(2026, 11, 11, 9, 0, tzinfo=VN)
    assert checked.legal_hours == 24
    assert checked.appointment_at == datetime(2026, 11, 13, 9, 0, tzinfo=VN)
