"""``evolve``: fold one event into the dossier state. Never consults reference data, so
history replays to the same state even after an administrator edits the reference."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.events import DossierStatus

from . import events as ev
from .base import InvalidState
from .state import DossierState, PendingSupplement, StepPhase, StepRun
from .status import ENDING, is_legal_move


def evolve(state: DossierState | None, event: ev.Event) -> DossierState:
    if state is None:
        if not isinstance(event, ev.DossierReceived):
            raise InvalidState(f"{event.type} before DossierReceived")
        return _received(event)
    if isinstance(event, ev.DossierReceived):
        raise InvalidState(f"dossier {state.dossier_id} received twice")
    changes = _changes(state, event)
    status = changes.get("status", state.status)
    if not is_legal_move(state.status, status):
        raise InvalidState(f"{event.type}: illegal status move {state.status} -> {status}")
    if status in ENDING and state.ended_at is None:
        changes["ended_at"] = event.at
    return state.model_copy(update={**changes, "version": state.version + 1})


def replay(events: Iterable[ev.Event]) -> DossierState | None:
    state: DossierState | None = None
    for event in events:
        state = evolve(state, event)
    return state


def _received(event: ev.DossierReceived) -> DossierState:
    return DossierState(
        dossier_id=event.dossier_id,
        procedure_code=event.procedure_code,
        field_code=event.field_code,
        workflow_version=event.workflow_version,
        receiving_unit=event.receiving_unit,
        channel=event.channel,
        chosen_subprocedures=event.chosen_subprocedures,
        conditions=event.conditions,
        legal_hours=event.legal_hours,
        received_at=event.at,
        graph=event.graph,
        steps={step_id: StepRun(step_id=step_id) for step_id in event.graph},
        version=1,
    )


def _with_run(state: DossierState, run: StepRun) -> dict[str, Any]:
    return {"steps": {**state.steps, run.step_id: run}}


def _under_way(state: DossierState) -> DossierStatus:
    # The first sign of work moves a received dossier to processing.
    return DossierStatus.PROCESSING if state.status is DossierStatus.RECEIVED else state.status


def _changes(state: DossierState, event: ev.Event) -> dict[str, Any]:
    match event:
        case ev.StepAssigned():
            run = StepRun(
                step_id=event.step_id,
                phase=StepPhase.OPEN,
                unit_code=event.unit_code,
                queue_level=event.queue_level,
                task_id=event.task_id,
                allotment_hours=event.allotment_hours,
                started_at=event.at,
            )
            return _with_run(state, run)
        case ev.ExternalRequested():
            run = StepRun(
                step_id=event.step_id,
                phase=StepPhase.AWAITING_AGENCY,
                unit_code=event.unit_code,
                correlation_id=event.correlation_id,
                allotment_hours=event.allotment_hours,
                started_at=event.at,
            )
            return _with_run(state, run)
        case ev.ObligationRequested():
            run = StepRun(
                step_id=event.step_id,
                phase=StepPhase.AWAITING_PAYMENT,
                unit_code=event.assessed_by_unit,
                amount_vnd=event.amount_vnd,
                started_at=event.at,
            )
            return {**_with_run(state, run), "status": DossierStatus.FINANCIAL_OBLIGATION}
        case ev.TaskClaimed():
            run = state.steps[event.step_id].model_copy(update={"claimed_by": event.official_id})
            return {**_with_run(state, run), "status": _under_way(state)}
        case ev.TaskForwarded():
            run = state.steps[event.step_id].model_copy(update={"claimed_by": event.to_official_id})
            return _with_run(state, run)
        case ev.StepCompleted():
            run = state.steps[event.step_id].model_copy(
                update={"phase": StepPhase.DONE, "claimed_by": None}
            )
            return {**_with_run(state, run), "status": _under_way(state)}
        case ev.ExternalAnswered() | ev.ExternalTimedOut():
            return {"status": _under_way(state)}
        case ev.ObligationPaid():
            run = state.steps[event.step_id].model_copy(update={"phase": StepPhase.DONE})
            changes = _with_run(state, run)
            still_owed = any(
                r.phase is StepPhase.AWAITING_PAYMENT for r in changes["steps"].values()
            )
            status = DossierStatus.FINANCIAL_OBLIGATION if still_owed else DossierStatus.PROCESSING
            return {**changes, "status": status}
        case ev.StepReturned():
            fresh = {step_id: StepRun(step_id=step_id) for step_id in event.reset_steps}
            return {"steps": {**state.steps, **fresh}}
        case ev.ResultRecorded():
            return {"papers": (*state.papers, *event.papers)}
        case ev.SupplementRequested():
            pending = PendingSupplement(
                task_id=event.task_id, missing_documents=event.missing_documents
            )
            return {
                "status": DossierStatus.SUPPLEMENT_REQUESTED,
                "supplement": pending,
                "supplement_count": event.count,
            }
        case ev.SupplementResumed():
            return {"status": DossierStatus.PROCESSING, "supplement": None}
        case ev.ResultReady():
            return {"status": DossierStatus.DONE}
        case ev.Returned():
            return {"status": DossierStatus.RETURNED}
        case ev.Refused():
            return {"status": DossierStatus.NOT_ACCEPTED}
        case ev.Stopped():
            return {"status": DossierStatus.STOPPED}
        case ev.Withdrawn():
            return {"status": DossierStatus.WITHDRAWN}
        case ev.HandedOff():
            return {}  # a record for form 06 and SLA; the state is moved by other events
    raise InvalidState(f"cannot fold {event.type}")
