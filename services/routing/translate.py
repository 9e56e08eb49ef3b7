"""From the core's events to the contract events other services consume."""

from __future__ import annotations

from typing import Any

from contracts.events import (
    DossierClosed,
    DossierStatus,
    HandedOff,
    ObligationRequested,
    ProcessingResumed,
    QueueLevel,
    StepAssigned,
    StepClaimed,
    SupplementRequested,
)
from reference.loader import ReferenceData
from services.routing.domain import events as ev
from services.routing.domain.state import DossierState


def step_name(ref: ReferenceData, state: DossierState, step_id: str) -> str:
    workflow = ref.procedure(state.procedure_code).workflow(state.workflow_version)
    for step in workflow.steps:
        if step.id == step_id:
            return step.name
    return step_id


def to_contract(
    event: ev.Event, state: DossierState, dossier_code: str, ref: ReferenceData, actor: str = ""
) -> tuple[str, dict[str, Any]] | None:
    """(event_type, payload) for the dossier.routing topic, or None if internal only."""
    status = DossierStatus(int(state.status))
    base: dict[str, Any] = {
        "dossier_code": dossier_code,
        "procedure_code": state.procedure_code,
        "status": status,
        "at": event.at,
    }
    if isinstance(event, ev.StepAssigned):
        return "step.assigned", StepAssigned(
            **base,
            task_id=event.task_id,
            step_id=event.step_id,
            step_name=step_name(ref, state, event.step_id),
            unit_code=event.unit_code,
            queue_level=QueueLevel(event.queue_level.value),
            allotment_hours=event.allotment_hours,
        ).model_dump(mode="json")
    if isinstance(event, ev.ExternalRequested):
        # The agency's own queue (agency systems may read it instead of the callback).
        level = ref.unit(event.unit_code).queue_level if event.unit_code in ref.units else None
        return "step.assigned", StepAssigned(
            **base,
            task_id=event.correlation_id,
            step_id=event.step_id,
            step_name=step_name(ref, state, event.step_id),
            unit_code=event.unit_code,
            queue_level=QueueLevel(level.value if level else "department"),
            allotment_hours=event.allotment_hours,
        ).model_dump(mode="json")
    if isinstance(event, ev.TaskClaimed):
        return "step.claimed", StepClaimed(
            **base,
            task_id=event.task_id,
            step_id=event.step_id,
            unit_code=event.unit_code,
            actor=event.official_id,
        ).model_dump(mode="json")
    if isinstance(event, ev.HandedOff):
        return "step.handed_off", HandedOff(
            **base,
            task_id=event.from_task_id or _task_of(state, event.from_step_id),
            step_id=event.from_step_id,
            from_unit=event.from_unit,
            to_unit=event.to_unit,
            actor=actor,
        ).model_dump(mode="json")
    if isinstance(event, ev.SupplementRequested):
        return "dossier.supplement_requested", SupplementRequested(
            **base,
            task_id=event.task_id,
            unit_code=event.unit_code,
            missing_documents=list(event.missing_documents),
        ).model_dump(mode="json")
    if isinstance(event, ev.SupplementResumed):
        return "dossier.processing_resumed", ProcessingResumed(
            **base, reason="supplement"
        ).model_dump(mode="json")
    if isinstance(event, ev.ObligationRequested):
        return "dossier.obligation_requested", ObligationRequested(
            **base, amount_vnd=event.amount_vnd, unit_code=event.assessed_by_unit
        ).model_dump(mode="json")
    if isinstance(event, ev.ObligationPaid):
        return "dossier.processing_resumed", ProcessingResumed(
            **base, reason="obligation_paid"
        ).model_dump(mode="json")
    closing = {
        ev.ResultReady: "dossier.result_ready",
        ev.Returned: "dossier.returned",
        ev.Refused: "dossier.refused",
        ev.Stopped: "dossier.stopped",
        ev.Withdrawn: "dossier.withdrawn",
    }
    for cls, event_type in closing.items():
        if isinstance(event, cls):
            unit = getattr(event, "unit_code", None)
            reason = getattr(event, "reason", None)
            reasons = getattr(event, "reasons", None)
            if reasons:
                reason = "; ".join(reasons)
            return event_type, DossierClosed(**base, unit_code=unit, reason=reason).model_dump(
                mode="json"
            )
    return None


def _task_of(state: DossierState, step_id: str) -> str:
    run = state.steps.get(step_id)
    if run is None:
        return ""
    return run.task_id or run.correlation_id or ""
