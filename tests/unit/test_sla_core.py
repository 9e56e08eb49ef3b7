"""Stories of SLA's pure core (services.sla.domain.core), without PostgreSQL or Kafka.

A dossier's SLA state is folded through what SLA hears — intake's and routing's events,
the timer job's "this timer is due" — exactly as the handlers do, and what SLA decides
is read back as the contract events it would publish.

Default office hours: Mon–Fri 07:00–11:30 and 13:30–17:00 (8 h a working day); March 2026.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from contracts.events import SPEC_BY_TYPE, DeadlineKind
from services.sla.domain import core, inputs
from services.sla.domain import events as ev
from services.sla.domain.deadlines import Outcome
from services.sla.domain.model import (
    Deadline,
    Directory,
    DossierSla,
    Phase,
    SlaPolicy,
    deadline_id,
)
from services.sla.translate import to_contract
from services.workcal.calendar import VN_TZ, WorkingCalendar

CAL = WorkingCalendar()
DESK, LAND, PROVINCE = "000.02.01.H99", "DK0.00.00.H99", "000.00.00.H99"
NAMES = Directory(
    unit_names={DESK: "UBND xã Tân Lập", LAND: "Văn phòng Đăng ký đất đai tỉnh Hà Sơn"},
    unit_parents={LAND: PROVINCE, DESK: None},
    procedure_names={"1.012603": "Đăng ký biến động quyền sử dụng đất"},
)


class OneCalendar:
    def for_unit(self, unit_code: str | None) -> WorkingCalendar:
        return CAL


def vn(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


@dataclass
class Story:
    """One dossier, as SLA sees it."""

    policy: SlaPolicy = field(default_factory=SlaPolicy)
    dossier_id: UUID = field(default_factory=uuid4)
    code: str = "000.02.01.H99-260302-0001"
    state: DossierSla = field(init=False)

    def __post_init__(self) -> None:
        self.state = DossierSla(self.dossier_id)

    def hear(
        self, event_type: str, payload: dict[str, Any], heard_at: datetime | None = None
    ) -> list[ev.Event]:
        event = inputs.parse(event_type, {"dossier_code": self.code, **payload})
        now = heard_at or datetime.fromisoformat(payload.get("at") or payload["received_at"])
        self.state, out = core.on_event(self.state, event, now, OneCalendar(), self.policy, NAMES)
        return out

    def fire(self, now: datetime) -> list[ev.Event]:
        """What one pass of the timer job does: every timer due by ``now``, earliest first."""
        due = sorted(
            (d for d in self.state.deadlines if d.timer.next_fire_at is not None),
            key=lambda d: d.timer.next_fire_at or now,
        )
        out: list[ev.Event] = []
        for d in due:
            if d.timer.next_fire_at is not None and d.timer.next_fire_at <= now:
                self.state, said = core.on_event(
                    self.state, inputs.TimerDue(d.id), now, OneCalendar(), self.policy, NAMES
                )
                out += said
        return out

    def step(self, task: str) -> Deadline:
        found = self.state.of_task(task)
        assert found is not None
        return found

    def whole(self) -> Deadline:
        found = self.state.whole()
        assert found is not None
        return found

    # -- what SLA tells the world about it

    def receive(self, at: datetime, hours: int) -> Deadline:
        appointment = CAL.add_working_hours(at, hours)
        self.hear("dossier.received", received(at, appointment, hours))
        return self.whole()

    def assign(self, task: str, unit: str, hours: int, at: datetime) -> Deadline:
        self.hear("step.assigned", assigned(task, unit, hours, at))
        return self.step(task)


def published(events: list[ev.Event]) -> list[tuple[str, dict[str, Any]]]:
    """The contract events, each checked against its contract model."""
    found = []
    for e in events:
        contract = to_contract(e)
        if contract is not None:
            SPEC_BY_TYPE[contract[0]].payload.model_validate(contract[1])
            found.append(contract)
    return found


def types(events: list[ev.Event]) -> list[str]:
    return [t for t, _ in published(events)]


def received(at: datetime, appointment: datetime, hours: int) -> dict[str, Any]:
    return {
        "procedure_code": "1.012603",
        "field_code": "dat_dai",
        "receiving_unit": DESK,
        "channel": 1,
        "received_at": at.isoformat(),
        "clock_started_at": at.isoformat(),
        "appointment_at": appointment.isoformat(),
        "legal_hours": hours,
        "contact_ref": "contact-ref-1",
        "chosen_subprocedures": [],  # fields SLA does not read are ignored
    }


def assigned(task: str, unit: str, hours: int, at: datetime) -> dict[str, Any]:
    return {
        "status": 4,
        "at": at.isoformat(),
        "task_id": task,
        "step_id": task,
        "step_name": f"Bước {task}",
        "unit_code": unit,
        "queue_level": "department",
        "allotment_hours": hours,
    }


def handed_off(task: str, to: str | None, at: datetime) -> dict[str, Any]:
    return {"status": 4, "at": at.isoformat(), "task_id": task, "to_unit": to, "actor": "u1"}


def at(moment: datetime, status: int, **extra: Any) -> dict[str, Any]:
    return {"status": status, "at": moment.isoformat(), **extra}


# --------------------------------------------------------------------------- opening


def test_a_received_dossier_opens_its_deadline_to_the_appointment_warned_a_day_before() -> None:
    story = Story()
    # 40 h from Mon 2 Mar 09:00 → Mon 9 Mar 09:00; warned 8 h before → Fri 6 Mar 09:00.
    out = story.hear("dossier.received", received(vn(3, 2, 9), vn(3, 9, 9), 40))
    ((kind, opened),) = published(out)
    assert kind == "deadline.opened"
    assert (opened["kind"], opened["task_id"], opened["unit_code"]) == ("dossier", None, DESK)
    assert datetime.fromisoformat(opened["due_at"]) == vn(3, 9, 9)
    assert Decimal(opened["allotment_hours"]) == 40
    whole = story.whole()
    assert whole.due_soon_at == vn(3, 6, 9)
    assert whole.timer.next_fire_at == vn(3, 6, 9)
    assert whole.escalate_at is None and whole.timer.escalated  # dossiers never escalate
    facts = story.state.dossier
    assert facts is not None
    assert (facts.status, facts.channel, facts.contact_ref) == (2, 1, "contact-ref-1")
    # The same receipt heard again opens nothing more.
    assert types(story.hear("dossier.received", received(vn(3, 2, 9), vn(3, 9, 9), 40))) == []
    assert len(story.state.deadlines) == 1


def test_a_step_starts_at_the_next_opening_and_each_task_has_one_deadline() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 80)
    step = story.assign("t1", LAND, 8, vn(3, 6, 20))  # Friday evening
    assert (step.starts_at, step.due_at) == (vn(3, 9, 7), vn(3, 9, 17))
    assert step.due_soon_at is None  # no warning for an allotment of one day
    assert step.escalate_at == vn(3, 10, 17)  # 8 working hours after it falls due
    assert not step.timer.escalated
    assert step.id == deadline_id(story.dossier_id, "t1")  # the same events, the same id
    facts = story.state.dossier
    assert facts is not None and (facts.status, facts.current_unit) == (4, LAND)
    assert story.hear("step.assigned", assigned("t1", LAND, 8, vn(3, 6, 20))) == []


# --------------------------------------------------------------------------- closing


def test_a_step_ends_early_on_time_or_late_by_the_time_it_finished() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 80)
    for task in ("early", "on_time", "late"):
        story.assign(task, LAND, 24, vn(3, 2, 9))  # due Thu 5 Mar 09:00
    story.hear("step.handed_off", handed_off("early", LAND, vn(3, 3, 9)))
    story.hear("step.handed_off", handed_off("on_time", LAND, vn(3, 5, 8)))
    story.hear("step.handed_off", handed_off("late", None, vn(3, 5, 10)))
    assert story.step("early").outcome is Outcome.EARLY
    assert story.step("on_time").outcome is Outcome.ON_TIME
    late = story.step("late")
    assert (late.phase, late.outcome, late.closed_at) == (Phase.CLOSED, Outcome.LATE, vn(3, 5, 10))
    assert late.timer.next_fire_at is None
    facts = story.state.dossier
    assert facts is not None and facts.current_unit == LAND  # the last step had no next unit
    assert story.whole().phase is Phase.OPEN  # steps end, the dossier goes on


def test_the_end_of_a_dossier_closes_every_deadline_and_the_first_end_counts() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 80)
    story.assign("t1", DESK, 8, vn(3, 2, 9))
    story.hear("dossier.result_ready", at(vn(3, 3, 9), 9, unit_code=DESK))
    story.hear("dossier.returned", at(vn(3, 4, 9), 10, unit_code=DESK))
    assert {d.phase for d in story.state.deadlines} == {Phase.CLOSED}
    assert story.whole().closed_at == vn(3, 3, 9)
    facts = story.state.dossier
    assert facts is not None
    assert (facts.status, facts.end_status, facts.outcome) == (10, 9, Outcome.EARLY)
    assert (facts.ended_at, facts.returned_at) == (vn(3, 3, 9), vn(3, 4, 9))


def test_a_second_supplement_request_makes_an_early_dossier_late() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 80)
    story.hear("dossier.supplement_requested", at(vn(3, 2, 10), 5))
    story.hear("dossier.processing_resumed", at(vn(3, 3, 9), 4))
    story.hear("dossier.obligation_requested", at(vn(3, 3, 10), 6))  # a payment, not papers
    story.hear("dossier.processing_resumed", at(vn(3, 3, 14), 4))
    facts = story.state.dossier
    assert facts is not None and facts.supplement_count == 1
    story.hear("dossier.supplement_requested", at(vn(3, 4, 10), 5))
    story.hear("dossier.processing_resumed", at(vn(3, 4, 14), 4))
    story.hear("dossier.result_ready", at(vn(3, 5, 9), 9))
    facts = story.state.dossier
    assert facts is not None
    assert facts.supplement_count == 2
    assert facts.outcome is Outcome.LATE  # days early, but two requests (766/QĐ-TTg)


# --------------------------------------------------------------------------- pauses


def test_waiting_for_the_citizen_stops_the_clocks_and_the_answer_moves_them_on() -> None:
    story = Story()
    whole = story.receive(vn(3, 2, 9), 80)
    step = story.assign("t1", LAND, 40, vn(3, 2, 15))  # due Mon 9 Mar 15:00
    assert step.due_at == vn(3, 9, 15)
    story.hear("dossier.supplement_requested", at(vn(3, 4, 10), 5, missing_documents=["GCN"]))
    assert {d.phase for d in story.state.deadlines} == {Phase.PAUSED}
    assert {d.timer.next_fire_at for d in story.state.deadlines} == {None}
    assert story.fire(vn(3, 20, 17)) == []  # paused: nothing fires
    story.hear("dossier.processing_resumed", at(vn(3, 10, 13, 30), 4, reason="supplement"))
    # 27 h were left at Wed 10:00; from Tue 10 Mar 13:30 → Fri 13 Mar 16:30, warned
    # 8 h before, escalated 8 h after.
    step = story.step("t1")
    assert (step.phase, step.paused_at) == (Phase.OPEN, None)
    assert (step.due_at, step.due_soon_at) == (vn(3, 13, 16, 30), vn(3, 12, 16, 30))
    assert step.escalate_at == vn(3, 16, 16, 30)
    assert step.timer.next_fire_at == vn(3, 12, 16, 30)
    moved = CAL.add_working_hours(
        vn(3, 10, 13, 30), CAL.working_hours_between(vn(3, 4, 10), whole.due_at)
    )
    assert story.whole().due_at == moved
    facts = story.state.dossier
    assert facts is not None and facts.paused_at is None


def test_a_dossier_ended_while_waiting_for_the_citizen_does_not_count_the_wait() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 16)  # due Wed 4 Mar 09:00
    story.hear("dossier.supplement_requested", at(vn(3, 3, 9), 5))  # 8 h left
    story.hear("dossier.withdrawn", at(vn(3, 10, 9), 7))
    whole = story.whole()
    # The clock stopped at Tue 09:00 with 8 h left; counted from the withdrawal a week
    # later they are still left (due Wed 11 Mar 09:00): early, not late.
    assert (whole.phase, whole.due_at, whole.outcome) == (
        Phase.CLOSED,
        vn(3, 11, 9),
        Outcome.EARLY,
    )


def test_routing_heard_before_intake_puts_the_new_deadline_in_step() -> None:
    waiting = Story()
    waiting.hear("dossier.supplement_requested", at(vn(3, 3, 9), 5))
    facts = waiting.state.dossier
    assert facts is not None
    assert (facts.status, facts.supplement_count, facts.paused_at) == (5, 1, vn(3, 3, 9))
    waiting.receive(vn(3, 2, 9), 40)
    whole = waiting.whole()
    assert (whole.phase, whole.paused_at, whole.timer.next_fire_at) == (
        Phase.PAUSED,
        vn(3, 3, 9),
        None,
    )

    ended = Story()
    ended.hear("dossier.refused", at(vn(3, 3, 9), 3, reason="thiếu giấy tờ"))
    ended.receive(vn(3, 2, 9), 40)
    facts = ended.state.dossier
    assert facts is not None and facts.end_status == 3
    assert (ended.whole().phase, ended.whole().outcome) == (Phase.CLOSED, Outcome.EARLY)
    assert facts.outcome is Outcome.EARLY


# --------------------------------------------------------------------------- timers


def test_a_step_is_warned_then_overdue_then_escalated_to_the_unit_above() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 120)
    story.assign("t1", LAND, 24, vn(3, 2, 9))  # due Thu 5 Mar 09:00, warned Wed 09:00
    assert types(story.fire(vn(3, 4, 8))) == []  # not yet
    assert types(story.fire(vn(3, 4, 9))) == ["deadline.due_soon"]
    assert types(story.fire(vn(3, 4, 9))) == []  # once only
    out = story.fire(vn(3, 5, 9))
    assert types(out) == ["step.overdue"]
    ((_, alert),) = published(out)
    assert alert["task_id"] == "t1" and alert["kind"] == "step"
    assert alert["due_at"] == vn(3, 5, 9).isoformat()
    out = story.fire(vn(3, 6, 9))
    ((kind, escalated),) = published(out)
    assert kind == "step.escalated"
    assert (escalated["unit_code"], escalated["supervisor_unit"]) == (LAND, PROVINCE)
    assert Decimal(escalated["overdue_working_hours"]) == 8
    assert story.step("t1").timer.next_fire_at is None  # nothing more to say


def test_a_timer_found_past_due_skips_the_warning_and_a_dossier_is_never_escalated() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)  # due Mon 9 Mar 09:00
    # No step to blame: the receiving unit apologises.
    assert types(story.fire(vn(3, 20, 9))) == ["dossier.overdue", "apology.issued"]
    assert story.whole().timer.next_fire_at is None
    assert story.fire(vn(3, 31, 9)) == []


def test_without_an_escalation_threshold_a_step_ends_at_overdue() -> None:
    story = Story(policy=SlaPolicy(escalate_after_hours=None))
    story.receive(vn(3, 2, 9), 120)
    story.assign("t1", LAND, 8, vn(3, 2, 9))
    assert types(story.fire(vn(3, 3, 9))) == ["step.overdue"]
    assert story.step("t1").timer.next_fire_at is None


# --------------------------------------------------------------------------- apologies


def test_a_late_unit_apologises_once_the_appointment_is_at_risk_and_only_once() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)  # appointment Mon 9 Mar 09:00, warned Fri 6 Mar 09:00
    story.assign("desk", DESK, 4, vn(3, 2, 9))
    story.hear("step.handed_off", handed_off("desk", LAND, vn(3, 2, 11)))
    story.assign("land", LAND, 8, vn(3, 2, 13, 30))  # due Tue 3 Mar 11:30
    # The land office overran its own day, but the appointment can still be kept.
    assert types(story.fire(vn(3, 3, 13, 30))) == ["step.overdue"]
    # A working day before the appointment: warned, and the land office apologises.
    out = story.fire(vn(3, 6, 9))
    assert "deadline.due_soon" in types(out) and "apology.issued" in types(out)
    (letter,) = [e.letter for e in out if isinstance(e, ev.ApologyIssued)]
    assert letter.responsible_unit == LAND
    assert letter.responsible_unit_name == "Văn phòng Đăng ký đất đai tỉnh Hà Sơn"
    assert letter.signed_by_title == "Thủ trưởng Văn phòng Đăng ký đất đai tỉnh Hà Sơn"
    assert letter.step_name == "Bước land"
    assert "quá 21,5 giờ làm việc" in letter.reason  # Tue 13:30 → Fri 09:00
    assert letter.old_appointment_at == vn(3, 9, 9)
    assert letter.new_appointment_at == CAL.add_working_hours(vn(3, 9, 9), 16)
    assert (letter.procedure_name, letter.contact_ref) == (
        "Đăng ký biến động quyền sử dụng đất",
        "contact-ref-1",
    )
    (issued,) = [p for t, p in published(out) if t == "apology.issued"]
    assert issued["letter_id"] == str(letter.id)
    assert story.state.apologised
    # The appointment passes: overdue, and no second letter.
    assert types(story.fire(vn(3, 9, 9))) == ["dossier.overdue"]


def test_a_step_overrun_apologises_at_once_when_the_appointment_has_no_warning() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 8)  # one working day: no warning window
    story.assign("t1", DESK, 4, vn(3, 2, 9))  # due Mon 15:00
    out = story.fire(vn(3, 2, 15))
    assert types(out) == ["step.overdue", "apology.issued"]


def test_no_unit_overran_so_the_warning_alone_brings_no_apology() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)
    story.assign("t1", DESK, 40, vn(3, 2, 9))
    assert types(story.fire(vn(3, 6, 9))) == ["deadline.due_soon", "deadline.due_soon"]
    assert not story.state.apologised


def test_at_the_appointment_the_step_still_open_apologises_else_the_receiving_unit() -> None:
    working = Story()
    working.receive(vn(3, 2, 9), 8)
    working.assign("a", DESK, 4, vn(3, 2, 9))
    working.hear("step.handed_off", handed_off("a", LAND, vn(3, 2, 10)))
    working.assign("b", LAND, 40, vn(3, 2, 10))
    out = working.fire(vn(3, 3, 9))
    assert types(out) == ["dossier.overdue", "apology.issued"]
    (letter,) = [e.letter for e in out if isinstance(e, ev.ApologyIssued)]
    assert (letter.responsible_unit, letter.step_name) == (LAND, "Bước b")
    # The new appointment counts from now when the old one has passed.
    assert letter.new_appointment_at == CAL.add_working_hours(vn(3, 3, 9), 16)

    nobody = Story()
    nobody.receive(vn(3, 2, 9), 8)
    out = nobody.fire(vn(3, 3, 9))
    (letter,) = [e.letter for e in out if isinstance(e, ev.ApologyIssued)]
    assert (letter.responsible_unit, letter.step_name) == (DESK, None)
    assert letter.reason == (
        "Việc giải quyết hồ sơ tại UBND xã Tân Lập chưa hoàn thành trong thời hạn được giao."
    )


def test_a_dossier_already_ended_never_apologises() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 8)
    story.assign("t1", DESK, 4, vn(3, 2, 9))
    story.hear("dossier.result_ready", at(vn(3, 2, 16), 9))
    # Its timers were stopped; even a stray firing of the step's finds it closed.
    assert story.fire(vn(3, 3, 9)) == []
    assert not story.state.apologised


# --------------------------------------------------------------------------- heard late


def test_a_step_finished_in_time_but_heard_late_is_neither_overdue_nor_blamed() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)  # appointment Mon 9 Mar 09:00, warned Fri 6 Mar 09:00
    story.assign("t1", LAND, 8, vn(3, 2, 7))  # due Mon 2 Mar 17:00
    # Finished 16:00, but SLA hears of it the next morning, before its timer job ran.
    story.hear("step.handed_off", handed_off("t1", DESK, vn(3, 2, 16)), heard_at=vn(3, 3, 8))
    step = story.step("t1")
    assert (step.outcome, step.timer.next_fire_at) == (Outcome.ON_TIME, None)
    assert story.fire(vn(3, 3, 8)) == []  # no step.overdue
    out = story.fire(vn(3, 6, 9))
    assert types(out) == ["deadline.due_soon"]  # and no apology at the warning


def test_an_alarm_raised_before_an_on_time_end_was_heard_is_withdrawn() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)
    story.assign("t1", LAND, 8, vn(3, 2, 7))  # due Mon 2 Mar 17:00
    assert types(story.fire(vn(3, 2, 17))) == ["step.overdue"]  # the job ran first
    out = story.hear(
        "step.handed_off", handed_off("t1", DESK, vn(3, 2, 16, 50)), heard_at=vn(3, 2, 17, 5)
    )
    ((kind, withdrawn),) = published(out)
    assert kind == "deadline.overdue_withdrawn"
    assert withdrawn["withdrawn"] == ["step.overdue"]
    assert withdrawn["deadline_id"] == str(deadline_id(story.dossier_id, "t1"))
    assert datetime.fromisoformat(withdrawn["completed_at"]) == vn(3, 2, 16, 50)
    assert datetime.fromisoformat(withdrawn["due_at"]) == vn(3, 2, 17)
    step = story.step("t1")
    assert (step.outcome, step.timer.overdue_fired) == (Outcome.ON_TIME, False)
    # At the dossier's warning the land office is not blamed: no apology.
    assert types(story.fire(vn(3, 6, 9))) == ["deadline.due_soon"]
    assert not story.state.apologised


def test_an_escalation_raised_before_an_on_time_end_was_heard_is_withdrawn_too() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 120)
    story.assign("t1", LAND, 8, vn(3, 2, 7))  # due Mon 17:00, escalated Tue 17:00
    story.fire(vn(3, 2, 17))
    assert types(story.fire(vn(3, 3, 17))) == ["step.escalated"]
    out = story.hear("step.handed_off", handed_off("t1", None, vn(3, 2, 15)), vn(3, 4, 8))
    ((kind, withdrawn),) = published(out)
    assert kind == "deadline.overdue_withdrawn"
    assert withdrawn["withdrawn"] == ["step.overdue", "step.escalated"]


def test_a_step_that_did_finish_late_keeps_its_alarm() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 40)
    story.assign("t1", LAND, 8, vn(3, 2, 7))  # due Mon 17:00
    assert types(story.fire(vn(3, 2, 17))) == ["step.overdue"]
    out = story.hear("step.handed_off", handed_off("t1", DESK, vn(3, 3, 8)), vn(3, 3, 9))
    assert types(out) == []
    step = story.step("t1")
    assert (step.outcome, step.timer.overdue_fired) == (Outcome.LATE, True)


def test_a_dossier_overdue_alarm_is_withdrawn_when_it_ended_in_time() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 8)  # due Tue 3 Mar 09:00
    story.hear("dossier.result_ready", at(vn(3, 2, 16), 9))  # heard in time: no alarm
    assert story.fire(vn(3, 3, 9)) == []

    late_heard = Story()
    late_heard.receive(vn(3, 2, 9), 8)
    fired = late_heard.fire(vn(3, 3, 9))
    assert types(fired) == ["dossier.overdue", "apology.issued"]
    out = late_heard.hear("dossier.result_ready", at(vn(3, 3, 8, 59), 9), vn(3, 3, 10))
    ((kind, withdrawn),) = published(out)
    assert (kind, withdrawn["kind"], withdrawn["withdrawn"]) == (
        "deadline.overdue_withdrawn",
        "dossier",
        ["dossier.overdue"],
    )
    # The citizen holds the letter and its new appointment: the apology stands.
    assert late_heard.state.apologised


# --------------------------------------------------------------------------- replay


def test_the_same_events_give_the_same_state_ids_and_letter() -> None:
    def run() -> tuple[Story, list[ev.Event]]:
        story = Story(dossier_id=UUID("0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11"))
        story.receive(vn(3, 2, 9), 8)
        story.assign("t1", DESK, 4, vn(3, 2, 9))
        return story, story.fire(vn(3, 3, 9))

    (first, said), (second, said_again) = run(), run()
    assert first.state == second.state
    assert said == said_again
    assert types(said) == ["step.overdue", "apology.issued", "dossier.overdue"]
    assert {d.kind for d in first.state.deadlines} == {DeadlineKind.DOSSIER, DeadlineKind.STEP}


def test_a_new_contact_reference_replaces_the_old_one_in_the_facts_and_the_letter() -> None:
    story = Story()
    story.receive(vn(3, 2, 9), 8)
    assert story.hear("dossier.contact_ref_assigned", {"contact_ref": "r-1"}, vn(3, 2, 10)) == []
    facts = story.state.dossier
    assert facts is not None and facts.contact_ref == "r-1"
    out = story.fire(vn(3, 3, 9))
    (letter,) = [e.letter for e in out if isinstance(e, ev.ApologyIssued)]
    assert letter.contact_ref == "r-1"
    # Once a letter exists, it is told too (the store rewrites the stored letter).
    out = story.hear("dossier.contact_ref_assigned", {"contact_ref": "r-2"}, vn(3, 3, 10))
    assert out == [ev.ContactRefReplaced("r-2")]
    assert types(out) == []  # nothing to publish

    unknown = Story()
    assert unknown.hear("dossier.contact_ref_assigned", {"contact_ref": "r"}, vn(3, 2, 9)) == []
    assert unknown.state.dossier is None  # nothing kept for a dossier SLA never heard of
