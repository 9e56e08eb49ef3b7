"""From the core's events to the contract events of the ``dossier.sla`` topic."""

from __future__ import annotations

from typing import Any

from contracts.events import (
    ApologyIssued,
    DeadlineOpened,
    OverdueWithdrawn,
    StepEscalated,
)
from services.sla.domain import events as ev
from services.workcal.calendar import VN_TZ


def to_contract(event: ev.Event) -> tuple[str, dict[str, Any]] | None:
    """(event_type, payload), or None for what only changes SLA's own state."""
    match event:
        case ev.AlarmRaised(alarm=alarm, deadline=d):
            # The hot path (every timer): a DeadlineAlert built by hand, no validation
            # round trip; tests check it against the contract model.
            return alarm.value, {
                "dossier_code": d.dossier_code,
                "deadline_id": str(d.id),
                "kind": d.kind.value,
                "task_id": d.task_id,
                "unit_code": d.unit_code,
                "due_at": d.due_at.astimezone(VN_TZ).isoformat(),
            }
        case ev.DeadlineOpened(deadline=d):
            return "deadline.opened", DeadlineOpened(
                dossier_code=d.dossier_code,
                deadline_id=d.id,
                kind=d.kind,
                task_id=d.task_id,
                unit_code=d.unit_code,
                starts_at=d.starts_at,
                due_at=d.due_at,
                allotment_hours=d.allotment_hours,
            ).model_dump(mode="json")
        case ev.StepEscalated(deadline=d):
            return "step.escalated", StepEscalated(
                dossier_code=d.dossier_code,
                deadline_id=d.id,
                task_id=d.task_id,
                unit_code=d.unit_code,
                supervisor_unit=event.supervisor_unit,
                due_at=d.due_at.astimezone(VN_TZ),
                overdue_working_hours=event.overdue_working_hours,
            ).model_dump(mode="json")
        case ev.OverdueWithdrawn(deadline=d):
            return "deadline.overdue_withdrawn", OverdueWithdrawn(
                dossier_code=d.dossier_code,
                deadline_id=d.id,
                kind=d.kind,
                task_id=d.task_id,
                unit_code=d.unit_code,
                due_at=d.due_at.astimezone(VN_TZ),
                completed_at=event.completed_at.astimezone(VN_TZ),
                withdrawn=[a.value for a in event.withdrawn],
            ).model_dump(mode="json")
        case ev.ApologyIssued(letter=letter):
            return "apology.issued", ApologyIssued(
                dossier_code=letter.dossier_code,
                responsible_unit=letter.responsible_unit,
                reason=letter.reason,
                old_appointment_at=letter.old_appointment_at,
                new_appointment_at=letter.new_appointment_at,
                letter_id=letter.id,
            ).model_dump(mode="json")
        case _:
            return None
