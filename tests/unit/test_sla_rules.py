"""Unit tests of SLA's pure deadline rules (services.sla.domain.deadlines).

Default office hours: 07:00–11:30 and 13:30–17:00 (8 h a working day), Mon–Fri.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.sla.domain import deadlines as rules
from services.workcal.calendar import VN_TZ, WorkingCalendar

CAL = WorkingCalendar()


def vn(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


def test_a_three_day_step_is_due_three_working_days_later_and_warned_one_day_before() -> None:
    # Assigned Wed 4 Mar 10:00: 24 h → Wed 1.5 + 3.5 = 5 h, Thu 8 (13), Fri 8 (21),
    # Mon 07:00 + 3 h → Mon 9 Mar 10:00. Warning 8 h before = 16 h after the start:
    # Wed 5, Thu 8 (13), Fri 07:00 + 3 h → Fri 6 Mar 10:00.
    plan = rules.schedule(CAL, vn(3, 4, 10), Decimal(24))
    assert plan.starts_at == vn(3, 4, 10)
    assert plan.due_at == vn(3, 9, 10)
    assert plan.due_soon_at == vn(3, 6, 10)


def test_the_warning_window_is_configurable_and_short_allotments_get_none() -> None:
    plan = rules.schedule(CAL, vn(3, 4, 10), Decimal(24), window_hours=Decimal(4))
    # 20 h after Wed 10:00: Wed 5, Thu 8, Fri 7 (4.5 before lunch, 2.5 after) → Fri 16:00
    assert plan.due_soon_at == vn(3, 6, 16)
    assert rules.schedule(CAL, vn(3, 4, 10), Decimal(8)).due_soon_at is None


def test_a_step_assigned_at_night_starts_at_the_next_opening() -> None:
    plan = rules.schedule(CAL, vn(3, 6, 20), Decimal(8))  # Friday evening
    assert plan.starts_at == vn(3, 9, 7)
    assert plan.due_at == vn(3, 9, 17)


def test_resuming_moves_the_due_date_by_the_working_time_the_citizen_took() -> None:
    # Due Mon 9 Mar 17:00; paused Wed 4 Mar 10:00 with Wed 5 h (1.5 + 3.5), Thu 8, Fri 8,
    # Mon 8 = 29 h left. Resumed Tue 10 Mar 13:30: Tue 3.5, Wed 8 (11.5), Thu 8 (19.5),
    # Fri 8 (27.5), Mon 07:00 + 1.5 → Mon 16 Mar 08:30.
    due = rules.resumed_due(CAL, vn(3, 9, 17), vn(3, 4, 10), vn(3, 10, 13, 30))
    assert due == vn(3, 16, 8, 30)


def test_resuming_outside_office_hours_counts_from_the_next_opening() -> None:
    due = rules.resumed_due(CAL, vn(3, 9, 17), vn(3, 9, 9), vn(3, 9, 19))
    # Paused Mon 09:00 with 2.5 + 3.5 = 6 h left; resumed Mon 19:00 → clock at Tue 07:00;
    # 6 h → 4.5 to 11:30, 1.5 from 13:30 → Tue 10 Mar 15:00.
    assert due == vn(3, 10, 15)


def test_outcome_early_on_time_and_late() -> None:
    due = vn(3, 9, 17)
    assert rules.outcome(CAL, vn(3, 6, 16), due) is rules.Outcome.EARLY  # 9 h left
    assert rules.outcome(CAL, vn(3, 9, 10), due) is rules.Outcome.ON_TIME  # 7 h left
    assert rules.outcome(CAL, due, due) is rules.Outcome.ON_TIME
    assert rules.outcome(CAL, vn(3, 9, 17, 1), due) is rules.Outcome.LATE


def test_more_than_one_supplement_request_makes_a_dossier_late() -> None:
    due = vn(3, 9, 17)
    assert rules.outcome(CAL, vn(3, 2, 8), due, supplement_requests=1) is rules.Outcome.EARLY
    assert rules.outcome(CAL, vn(3, 2, 8), due, supplement_requests=2) is rules.Outcome.LATE


def _state(kind: str = "step", **changes: object) -> rules.TimerState:
    values: dict[str, object] = {
        "kind": kind,
        "due_at": vn(3, 9, 17),
        "due_soon_at": vn(3, 6, 17),
        "escalate_at": None,
        "due_soon_fired": False,
        "overdue_fired": False,
        "escalated": True,
    }
    values.update(changes)
    return rules.TimerState(**values)  # type: ignore[arg-type]


def test_a_step_timer_warns_then_fires_overdue_then_escalates() -> None:
    # Escalation is scheduled when the deadline opens: 8 working hours after Mon 17:00.
    escalate_at = rules.escalation_at(CAL, "step", vn(3, 9, 17), Decimal(8))
    assert escalate_at == vn(3, 10, 17)
    first = rules.fire(_state(escalate_at=escalate_at, escalated=False), vn(3, 6, 17))
    assert first.alarm is rules.Alarm.DUE_SOON
    assert first.next_fire_at == vn(3, 9, 17)
    second = rules.fire(
        _state(due_soon_fired=True, escalate_at=escalate_at, escalated=False), vn(3, 9, 17)
    )
    assert second.alarm is rules.Alarm.STEP_OVERDUE
    assert second.next_fire_at == vn(3, 10, 17)
    assert not second.escalated
    third = rules.fire(
        _state(due_soon_fired=True, overdue_fired=True, escalate_at=escalate_at, escalated=False),
        vn(3, 10, 17),
    )
    assert third.alarm is rules.Alarm.ESCALATED
    assert third.escalated
    assert third.next_fire_at is None


def test_a_timer_found_past_due_skips_the_warning() -> None:
    late = rules.fire(_state(), vn(3, 10, 8))
    assert late.alarm is rules.Alarm.STEP_OVERDUE
    assert late.due_soon_fired and late.overdue_fired


def test_a_dossier_timer_never_escalates() -> None:
    assert rules.escalation_at(CAL, "dossier", vn(3, 9, 17), Decimal(8)) is None
    done = rules.fire(_state("dossier", due_soon_fired=True), vn(3, 9, 17))
    assert done.alarm is rules.Alarm.DOSSIER_OVERDUE
    assert done.next_fire_at is None


def test_without_escalation_a_step_timer_ends_at_overdue() -> None:
    assert rules.escalation_at(CAL, "step", vn(3, 9, 17), None) is None
    done = rules.fire(_state(due_soon_fired=True), vn(3, 9, 17))
    assert done.alarm is rules.Alarm.STEP_OVERDUE
    assert done.next_fire_at is None
