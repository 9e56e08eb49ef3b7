"""Properties over random command sequences, legal and illegal, in both configurations.

- no dossier reaches a state that breaks an invariant;
- the status code only goes down from 5 or 6 back to 4 (supplement / obligation resumed);
- every open dossier names who must act (a unit's task, the citizen, an agency with a
  correlation id), and a diligent cast always brings it to an end from wherever it is;
- history replays to the same state, and decide is deterministic.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from reference.workflow import successors
from services.routing.domain import (
    DossierState,
    DossierStatus,
    ReferenceData,
    Rejected,
    StepKind,
    StepPhase,
    decide,
    evolve,
    execute,
    invariant_errors,
    replay,
    waiting_on,
)
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from tests.unit.test_routing_support import CONFIGS, PLACES, official, reference

RESUMING = {
    (DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.PROCESSING),
    (DossierStatus.FINANCIAL_OBLIGATION, DossierStatus.PROCESSING),
}


@st.composite
def starts(draw: st.DrawFn) -> tuple[str, cmd.Start]:
    config = draw(st.sampled_from(CONFIGS))
    ref = reference(config)
    procedure = ref.procedure(draw(st.sampled_from(sorted(ref.procedures))))
    receivers = sorted(u.code for u in ref.units if u.level in procedure.active_at)
    choices = procedure.chain.allowed_choices() if procedure.chain else [()]
    conditions = draw(st.sets(st.sampled_from(sorted(procedure.conditions) or ["-"])))
    start = cmd.Start(
        dossier_id="000.00.01.H99-251103-0042",
        procedure_code=procedure.code,
        receiving_unit=draw(st.sampled_from(receivers)),
        chosen_subprocedures=draw(st.sampled_from(choices)),
        conditions=frozenset(conditions) & set(procedure.conditions),
    )
    return config, start


ENDINGS = (cmd.Withdraw, cmd.Refuse, cmd.Stop)


def plausible(state: DossierState, ref: ReferenceData) -> list[cmd.Command]:
    """Commands the right people might send now, wise or not."""
    desk = official(state.receiving_unit, "desk")
    documents = tuple(d.code for d in ref.procedure(state.procedure_code).documents)
    found: list[cmd.Command] = [
        cmd.ReturnResult(official=desk),
        cmd.SupplementSubmitted(documents=documents),
        cmd.ObligationPaid(receipt_ref="KB-1"),
    ]
    for run in state.steps.values():
        if run.correlation_id and run.phase is StepPhase.AWAITING_AGENCY:
            found += [
                cmd.ExternalAnswered(correlation_id=run.correlation_id, outcome="approved"),
                cmd.ExternalAnswered(correlation_id=run.correlation_id, outcome="rejected"),
                cmd.ExternalTimedOut(correlation_id=run.correlation_id),
            ]
        if run.task_id is None or run.unit_code is None:
            continue
        task, own = run.task_id, official(run.unit_code, "a")
        found += [
            cmd.Claim(task_id=task, official=own, expected_version=state.version),
            cmd.Complete(task_id=task, official=own),
            cmd.Forward(
                task_id=task, official=own, to_official_id=official(run.unit_code, "b").user_id
            ),
            cmd.RequestObligation(task_id=task, official=own, amount_vnd=2_000_000),
            cmd.RecordResult(task_id=task, official=own, papers=("KQ-01",)),
            cmd.RequestSupplement(
                task_id=task, official=own, missing_documents=documents[:2], reason="thiếu"
            ),
            *(
                cmd.ReturnTo(task_id=task, official=own, target_step=target, reason="sai")
                for target in state.graph
            ),
        ]
    return found


def wrong(state: DossierState, ref: ReferenceData, config: str) -> list[cmd.Command]:
    """Wrong people, stale views, incomplete papers, unknown references."""
    stranger = official(PLACES[config].other_commune, "x")
    documents = tuple(d.code for d in ref.procedure(state.procedure_code).documents)
    found: list[cmd.Command] = [
        cmd.ReturnResult(official=stranger),
        cmd.Stop(official=stranger, reason="dừng"),
        cmd.SupplementSubmitted(documents=documents[:1]),
        cmd.ExternalTimedOut(correlation_id="bogus"),
    ]
    for run in state.steps.values():
        if run.task_id is None or run.unit_code is None:
            continue
        task, own, mate = run.task_id, official(run.unit_code, "a"), official(run.unit_code, "b")
        found += [
            cmd.Claim(task_id=task, official=mate, expected_version=state.version),
            cmd.Claim(task_id=task, official=stranger, expected_version=state.version),
            cmd.Claim(task_id=task, official=own, expected_version=state.version - 1),
            cmd.Complete(task_id=task, official=mate),
            cmd.Complete(task_id=task, official=stranger),
        ]
    return found


def endings(state: DossierState) -> list[cmd.Command]:
    desk = official(state.receiving_unit, "desk")
    found: list[cmd.Command] = [
        cmd.Withdraw(reason="rút"),
        cmd.Refuse(official=desk, reasons=("thiếu giấy tờ",)),
        cmd.Stop(official=desk, reason="dừng"),
    ]
    found += [
        cmd.Stop(official=official(r.unit_code, "a"), reason="không đủ điều kiện")
        for r in state.runs_in(StepPhase.OPEN)
        if r.unit_code
    ]
    return found


def next_command(
    data: st.DataObject, state: DossierState, ref: ReferenceData, config: str
) -> cmd.Command:
    # Rarely an ending, so that walks also reach payments, supplements and results.
    roll = data.draw(st.integers(0, 39), label="kind of move")
    if roll == 0:
        return data.draw(st.sampled_from(endings(state)))
    if roll <= 10:
        return diligent_move(state, ref)
    if roll <= 28:
        return data.draw(st.sampled_from(plausible(state, ref)))
    return data.draw(st.sampled_from(wrong(state, ref, config)))


def statuses_through(state: DossierState, events: list[ev.Event]) -> list[DossierStatus]:
    """The status before and after each event of one decision."""
    seen = [state.status]
    for event in events:
        state = evolve(state, event)
        seen.append(state.status)
    return seen


def assert_sound(state: DossierState, ref: ReferenceData) -> None:
    assert invariant_errors(state) == []
    waits = waiting_on(state)
    assert bool(waits) != state.is_terminal, "an open dossier must wait on someone named"
    for wait in waits:
        if wait.party in ("unit", "agency"):
            assert wait.unit_code in ref.units
        if wait.party == "agency":
            assert wait.correlation_id


def diligent_move(state: DossierState, ref: ReferenceData) -> cmd.Command:
    """What a conscientious cast does next: the first party named acts properly."""
    wait = waiting_on(state)[0]
    if wait.party == "citizen":
        if state.supplement is not None:
            return cmd.SupplementSubmitted(documents=state.supplement.missing_documents)
        return cmd.ObligationPaid(receipt_ref="KB-9")
    if wait.party == "agency":
        return cmd.ExternalAnswered(correlation_id=wait.correlation_id or "", outcome="approved")
    unit = wait.unit_code or ""
    if wait.task_id is None:
        return cmd.ReturnResult(official=official(unit, "desk"))
    run = state.run_of_task(wait.task_id)
    assert run is not None
    if run.claimed_by is None:
        return cmd.Claim(
            task_id=wait.task_id, official=official(unit), expected_version=state.version
        )
    holder = cmd.Official(user_id=run.claimed_by, unit_code=unit)
    workflow = ref.procedure(state.procedure_code).workflow(state.workflow_version)
    if any(workflow.step(s).kind is StepKind.PAYMENT for s in successors(state.graph, run.step_id)):
        return cmd.RequestObligation(task_id=wait.task_id, official=holder, amount_vnd=5_000_000)
    return cmd.Complete(task_id=wait.task_id, official=holder)


def finish_diligently(state: DossierState, ref: ReferenceData, now: datetime) -> DossierState:
    for _ in range(12 * len(state.graph) + 10):
        if state.is_terminal:
            return state
        now += timedelta(hours=1)
        state, _ = execute(state, diligent_move(state, ref), now, ref)
        assert_sound(state, ref)
    raise AssertionError(f"dossier never ended: {state.status}, waiting on {waiting_on(state)}")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=starts(), data=st.data())
def test_random_commands_never_break_a_dossier(
    start: tuple[str, cmd.Start], data: st.DataObject
) -> None:
    config, command = start
    ref = reference(config)
    now = PLACES[config].first_day
    state, history = execute(None, command, now, ref)
    assert_sound(state, ref)
    for _ in range(data.draw(st.integers(0, 60), label="length")):
        if state.is_terminal:
            break
        now += timedelta(minutes=data.draw(st.integers(1, 600), label="minutes"))
        step_command = next_command(data, state, ref, config)
        try:
            events = decide(state, step_command, now, ref)
        except Rejected:
            continue  # refused: nothing happened, the state stands
        assert decide(state, step_command, now, ref) == events
        seen = statuses_through(state, events)
        for old, new in itertools.pairwise(seen):
            assert new >= old or (old, new) in RESUMING, f"status went back {old} -> {new}"
        state, _ = execute(state, step_command, now, ref)
        history += events
        assert replay(history) == state
        assert state.version == len(history)
        assert_sound(state, ref)
        hypothesis_event(f"reached {state.status.name}")
    # Wherever the random walk left it, the dossier still has a way out.
    assert finish_diligently(state, ref, now).is_terminal
