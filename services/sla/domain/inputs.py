"""What SLA hears: the consumed events it acts on, read tolerantly (only the fields SLA
uses, every other field ignored), and the timer job's "this timer is due".

``parse(event_type, payload)`` turns a contract event's payload into one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter


class _Heard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Received(_Heard):
    """``dossier.received``: the dossier's clock starts; its appointment is its deadline."""

    event_type: Literal["dossier.received"]
    dossier_code: str
    procedure_code: str | None = None
    field_code: str | None = None
    receiving_unit: str
    channel: int
    received_at: AwareDatetime
    clock_started_at: AwareDatetime
    appointment_at: AwareDatetime
    legal_hours: Decimal
    contact_ref: str | None = None


class ContactRefAssigned(_Heard):
    """``dossier.contact_ref_assigned``: the dossier's contact reference is now this one."""

    event_type: Literal["dossier.contact_ref_assigned"]
    contact_ref: str


class _Routing(_Heard):
    dossier_code: str | None = None
    status: int | None = None
    at: AwareDatetime  # when it happened at routing, not when SLA consumed it


class StepAssigned(_Routing):
    event_type: Literal["step.assigned"]
    dossier_code: str
    task_id: str
    step_name: str | None = None
    unit_code: str
    allotment_hours: Decimal


class StepDone(_Routing):
    """``step.handed_off``: the step finished at ``at``."""

    event_type: Literal["step.handed_off"]
    task_id: str
    to_unit: str | None = None


class Paused(_Routing):
    """Waiting for the citizen (papers or a payment): the clock stops."""

    event_type: Literal["dossier.supplement_requested", "dossier.obligation_requested"]

    @property
    def supplement(self) -> bool:
        return self.event_type == "dossier.supplement_requested"


class Resumed(_Routing):
    event_type: Literal["dossier.processing_resumed"]


class Ended(_Routing):
    """Result ready, returned, refused, stopped or withdrawn: every deadline closes."""

    event_type: Literal[
        "dossier.result_ready",
        "dossier.returned",
        "dossier.refused",
        "dossier.stopped",
        "dossier.withdrawn",
    ]


@dataclass(frozen=True, slots=True)
class TimerDue:
    """The timer job found this deadline's timer due."""

    deadline_id: UUID


Consumed = Annotated[
    Received | ContactRefAssigned | StepAssigned | StepDone | Paused | Resumed | Ended,
    Field(discriminator="event_type"),
]
Heard = (
    Received | ContactRefAssigned | StepAssigned | StepDone | Paused | Resumed | Ended | TimerDue
)

_CONSUMED: TypeAdapter[Consumed] = TypeAdapter(Consumed)

# Every event type SLA consumes.
EVENT_TYPES: tuple[str, ...] = (
    "dossier.received",
    "dossier.contact_ref_assigned",
    "step.assigned",
    "step.handed_off",
    "dossier.supplement_requested",
    "dossier.obligation_requested",
    "dossier.processing_resumed",
    "dossier.result_ready",
    "dossier.returned",
    "dossier.refused",
    "dossier.stopped",
    "dossier.withdrawn",
)


def parse(event_type: str, payload: dict[str, Any]) -> Consumed:
    """The consumed event as SLA reads it; ``pydantic.ValidationError`` if it cannot."""
    return _CONSUMED.validate_python({**payload, "event_type": event_type})
