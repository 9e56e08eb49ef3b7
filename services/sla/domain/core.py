"""SLA's functional core: ``on_event(state, event, now, calendars) -> (state, events)``.

One dossier's SLA state in, one thing SLA heard (a consumed event, or the timer job's
"this timer is due"), the new state and what SLA decided out. No I/O: the adapter loads
the states a batch needs, folds the batch through here, saves and publishes.

Time is the events' own: a deadline closes at the instant the work ended (``at`` of
routing's event), never at the instant SLA consumed it. So a step finished in time but
heard of late is on time; and if its timer had already fired, the overdue alarm is
withdrawn (``OverdueWithdrawn``) and the step is no longer blamed for an apology.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from contracts.events import DeadlineKind
from services.sla.domain import deadlines as rules
from services.sla.domain import events as ev
from services.sla.domain import inputs as heard
from services.sla.domain.apology import responsible, write_letter
from services.sla.domain.model import (
    Calendars,
    Deadline,
    Directory,
    Dossier,
    DossierSla,
    Phase,
    SlaPolicy,
    Timer,
    deadline_id,
)

DEFAULT_POLICY = SlaPolicy()
NO_NAMES = Directory()
Result = tuple[DossierSla, list[ev.Event]]


def on_event(
    state: DossierSla,
    event: heard.Heard,
    now: datetime,
    calendars: Calendars,
    policy: SlaPolicy = DEFAULT_POLICY,
    directory: Directory = NO_NAMES,
) -> Result:
    """Decide what ``event`` means for the dossier; pure."""
    decide = _Decision(calendars, policy, directory, now)
    match event:
        case heard.TimerDue():  # first: the timer job's thousand a batch
            return decide.timer_due(state, event)
        case heard.Received():
            return decide.received(state, event)
        case heard.ContactRefAssigned():
            return decide.contact_ref(state, event)
        case heard.StepAssigned():
            return decide.assigned(state, event)
        case heard.StepDone():
            return decide.step_done(state, event)
        case heard.Paused():
            return decide.paused(state, event)
        case heard.Resumed():
            return decide.resumed(state, event)
        case heard.Ended():
            return decide.ended(state, event)


class _Decision:
    def __init__(
        self, calendars: Calendars, policy: SlaPolicy, directory: Directory, now: datetime
    ) -> None:
        self.calendars = calendars
        self.policy = policy
        self.directory = directory
        self.now = now

    # ------------------------------------------------------------------ consumed events

    def received(self, state: DossierSla, e: heard.Received) -> Result:
        facts = replace(
            state.dossier or Dossier(),
            dossier_code=e.dossier_code,
            procedure_code=e.procedure_code,
            field_code=e.field_code,
            receiving_unit=e.receiving_unit,
            channel=e.channel,
            received_at=e.received_at,
            appointment_at=e.appointment_at,
            contact_ref=e.contact_ref,
        )
        state = replace(state, dossier=facts)
        out: list[ev.Event] = []
        if state.whole() is None:
            calendar = self.calendars.for_unit(e.receiving_unit)
            soon = rules.due_soon_at(
                calendar, e.clock_started_at, e.appointment_at, self.policy.due_soon_hours
            )
            state = self._open(
                state,
                out,
                kind=DeadlineKind.DOSSIER,
                dossier_code=e.dossier_code,
                task_id=None,
                step_name=None,
                unit_code=e.receiving_unit,
                field_code=e.field_code,
                plan=rules.Schedule(e.clock_started_at, e.appointment_at, soon),
                allotment=e.legal_hours,
            )
        # Routing's events may be consumed before intake's (two topics): a dossier
        # already waiting for the citizen, or already ended, gets its deadline in step.
        if facts.ended_at is not None:
            state = self._close(state, out, lambda _d: True, facts.ended_at, facts.supplement_count)
        elif facts.paused_at is not None:
            state = self._pause(state, out, facts.paused_at)
        return state, out

    def contact_ref(self, state: DossierSla, e: heard.ContactRefAssigned) -> Result:
        """Intake replaced the contact reference (it was the dossier id): the facts, and
        the letter if one was issued, hold the new one. Nothing is kept for a dossier
        SLA has not heard of."""
        out: list[ev.Event] = []
        if state.dossier is not None:
            state = replace(state, dossier=replace(state.dossier, contact_ref=e.contact_ref))
        if state.apologised:
            out.append(ev.ContactRefReplaced(e.contact_ref))
        return state, out

    def assigned(self, state: DossierSla, e: heard.StepAssigned) -> Result:
        state = _track(state, e, current_unit=e.unit_code)
        out: list[ev.Event] = []
        if state.of_task(e.task_id) is None:
            calendar = self.calendars.for_unit(e.unit_code)
            plan = rules.schedule(calendar, e.at, e.allotment_hours, self.policy.due_soon_hours)
            state = self._open(
                state,
                out,
                kind=DeadlineKind.STEP,
                dossier_code=e.dossier_code,
                task_id=e.task_id,
                step_name=e.step_name,
                unit_code=e.unit_code,
                field_code=None,
                plan=plan,
                allotment=e.allotment_hours,
            )
        return state, out

    def step_done(self, state: DossierSla, e: heard.StepDone) -> Result:
        state = _track(state, e, current_unit=e.to_unit)
        out: list[ev.Event] = []
        state = self._close(state, out, lambda d: d.task_id == e.task_id, e.at)
        return state, out

    def ended(self, state: DossierSla, e: heard.Ended) -> Result:
        status = e.status if e.status is not None else 9
        state = _track(state, e)
        facts = state.dossier or Dossier()
        facts = replace(
            facts,
            returned_at=facts.returned_at or (e.at if status == 10 else None),
            ended_at=facts.ended_at or e.at,
            end_status=facts.end_status if facts.end_status is not None else status,
        )
        state = replace(state, dossier=facts)
        out: list[ev.Event] = []
        state = self._close(state, out, lambda _d: True, e.at, facts.supplement_count)
        return state, out

    def paused(self, state: DossierSla, e: heard.Paused) -> Result:
        state = _track(state, e, supplement=e.supplement)
        facts = state.dossier or Dossier()
        state = replace(state, dossier=replace(facts, paused_at=facts.paused_at or e.at))
        out: list[ev.Event] = []
        return self._pause(state, out, e.at), out

    def resumed(self, state: DossierSla, e: heard.Resumed) -> Result:
        state = _track(state, e)
        state = replace(state, dossier=replace(state.dossier or Dossier(), paused_at=None))
        out: list[ev.Event] = []
        window = self.policy.due_soon_hours
        changed: list[Deadline] = []
        for d in state.deadlines:
            if d.phase is not Phase.PAUSED:
                changed.append(d)
                continue
            calendar = self.calendars.for_unit(d.unit_code)
            due = rules.resumed_due(calendar, d.due_at, d.paused_at or e.at, e.at)
            soon = rules.due_soon_at(calendar, calendar.clock_start(e.at), due, window)
            escalate_at = d.escalate_at
            if escalate_at is not None and not d.timer.escalated:
                escalate_at = rules.escalation_at(
                    calendar, d.kind.value, due, self.policy.escalate_after_hours
                )
            t = d.timer
            next_at = rules.next_fire(
                soon, t.due_soon_fired, due, t.overdue_fired, escalate_at, t.escalated
            )
            changed.append(
                replace(
                    d,
                    phase=Phase.OPEN,
                    paused_at=None,
                    due_at=due,
                    due_soon_at=soon,
                    escalate_at=escalate_at,
                    timer=replace(t, next_fire_at=next_at),
                )
            )
            out.append(ev.DeadlineResumed(d.id, due))
        return replace(state, deadlines=tuple(changed)), out

    # ------------------------------------------------------------------ timers

    def timer_due(self, state: DossierSla, e: heard.TimerDue) -> Result:
        d = state.get(e.deadline_id)
        if d is None or d.timer.next_fire_at is None or d.timer.next_fire_at > self.now:
            return state, []  # not due (any more): nothing to do
        firing = rules.fire(d.timer.as_rule_state(d), self.now)
        f = firing
        fired = d.with_timer(Timer(f.next_fire_at, f.due_soon_fired, f.overdue_fired, f.escalated))
        state = state.replacing(d, fired)
        out: list[ev.Event] = []
        if firing.alarm is rules.Alarm.ESCALATED:
            calendar = self.calendars.for_unit(d.unit_code)
            out.append(
                ev.StepEscalated(
                    fired,
                    self.directory.unit_parents.get(d.unit_code),
                    calendar.working_hours_between(d.due_at, self.now),
                )
            )
        else:
            out.append(ev.AlarmRaised(firing.alarm, fired))
        state = self._apologise_if_needed(state, out, firing.alarm, fired)
        return state, out

    def _apologise_if_needed(
        self, state: DossierSla, out: list[ev.Event], alarm: rules.Alarm, fired: Deadline
    ) -> DossierSla:
        interesting = alarm is rules.Alarm.STEP_OVERDUE or (
            fired.kind is DeadlineKind.DOSSIER
            and alarm in (rules.Alarm.DUE_SOON, rules.Alarm.DOSSIER_OVERDUE)
        )
        whole = state.whole()
        if not interesting or state.apologised or whole is None:
            return state
        if whole.phase is Phase.CLOSED:
            return state
        blame = responsible(alarm, fired, whole, state.steps(), self.now)
        if blame is None:
            return state
        letter = write_letter(
            state,
            whole,
            blame,
            self.now,
            self.calendars,
            self.policy.apology_extension_hours,
            self.directory,
        )
        out.append(ev.ApologyIssued(letter))
        return replace(state, apologised=True)

    # ------------------------------------------------------------------ deadlines

    def _open(
        self,
        state: DossierSla,
        out: list[ev.Event],
        *,
        kind: DeadlineKind,
        dossier_code: str,
        task_id: str | None,
        step_name: str | None,
        unit_code: str,
        field_code: str | None,
        plan: rules.Schedule,
        allotment: Decimal,
    ) -> DossierSla:
        escalate_at = rules.escalation_at(
            self.calendars.for_unit(unit_code),
            kind.value,
            plan.due_at,
            self.policy.escalate_after_hours,
        )
        deadline = Deadline(
            id=deadline_id(state.dossier_id, task_id),
            kind=kind,
            dossier_code=dossier_code,
            task_id=task_id,
            unit_code=unit_code,
            step_name=step_name,
            field_code=field_code,
            starts_at=plan.starts_at,
            allotment_hours=allotment,
            due_at=plan.due_at,
            due_soon_at=plan.due_soon_at,
            escalate_at=escalate_at,
            timer=Timer(
                rules.next_fire(plan.due_soon_at, False, plan.due_at, False),
                escalated=escalate_at is None,
            ),
        )
        out.append(ev.DeadlineOpened(deadline))
        return replace(state, deadlines=(*state.deadlines, deadline))

    def _pause(self, state: DossierSla, out: list[ev.Event], at: datetime) -> DossierSla:
        changed: list[Deadline] = []
        for d in state.deadlines:
            if d.phase is not Phase.OPEN:
                changed.append(d)
                continue
            timer = replace(d.timer, next_fire_at=None)
            changed.append(replace(d, phase=Phase.PAUSED, paused_at=at, timer=timer))
            out.append(ev.DeadlinePaused(d.id, at))
        return replace(state, deadlines=tuple(changed))

    def _close(
        self,
        state: DossierSla,
        out: list[ev.Event],
        which: Callable[[Deadline], bool],
        ended_at: datetime,
        supplements: int = 0,
    ) -> DossierSla:
        changed: list[Deadline] = []
        for d in state.deadlines:
            if d.phase is Phase.CLOSED or not which(d):
                changed.append(d)
                continue
            calendar = self.calendars.for_unit(d.unit_code)
            due = d.due_at
            if d.phase is Phase.PAUSED and d.paused_at is not None:
                # Closed while waiting for the citizen: the paused time does not count.
                due = rules.resumed_due(calendar, due, d.paused_at, ended_at)
            count = supplements if d.kind is DeadlineKind.DOSSIER else 0
            result = rules.outcome(calendar, ended_at, due, count, self.policy.due_soon_hours)
            timer = replace(d.timer, next_fire_at=None)
            if d.timer.overdue_fired and ended_at <= due:
                # The timer fired before SLA heard that the work had ended in time.
                timer = replace(timer, overdue_fired=False)
                out.append(ev.OverdueWithdrawn(d, ended_at, _raised(d)))
            closed = replace(
                d,
                phase=Phase.CLOSED,
                closed_at=ended_at,
                outcome=result,
                paused_at=None,
                due_at=due,
                timer=timer,
            )
            out.append(ev.DeadlineClosed(d.id, ended_at, result))
            changed.append(closed)
            if d.kind is DeadlineKind.DOSSIER and state.dossier is not None:
                facts = state.dossier
                state = replace(state, dossier=replace(facts, outcome=facts.outcome or result))
        return replace(state, deadlines=tuple(changed))


def _raised(d: Deadline) -> tuple[rules.Alarm, ...]:
    """The alarms a deadline whose overdue alarm stands has raised."""
    if d.kind is DeadlineKind.DOSSIER:
        return (rules.Alarm.DOSSIER_OVERDUE,)
    if d.escalate_at is not None and d.timer.escalated:
        return (rules.Alarm.STEP_OVERDUE, rules.Alarm.ESCALATED)
    return (rules.Alarm.STEP_OVERDUE,)


def _track(
    state: DossierSla,
    e: heard.StepAssigned | heard.StepDone | heard.Paused | heard.Resumed | heard.Ended,
    *,
    current_unit: str | None = None,
    supplement: bool = False,
) -> DossierSla:
    """The dossier's status (and current unit, supplement requests) from routing."""
    added = 1 if supplement else 0
    facts = state.dossier
    if facts is None:
        facts = Dossier(
            dossier_code=e.dossier_code,
            status=e.status if e.status is not None else 4,
            current_unit=current_unit,
            supplement_count=added,
        )
    else:
        facts = replace(
            facts,
            status=e.status if e.status is not None else facts.status,
            current_unit=current_unit if current_unit is not None else facts.current_unit,
            supplement_count=facts.supplement_count + added,
        )
    return replace(state, dossier=facts)
