"""What happened to a dossier. Facts only; ``evolve`` folds them into state.

Every event carries the dossier id and the instant it happened (``at``, timezone-aware)
and a ``type`` tag, so events serialise and parse back through ``EVENT_ADAPTER``.
Officials appear by account reference only; no citizen personal data is carried.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, TypeAdapter

from contracts.events import Channel
from reference.units import QueueLevel

from .base import FrozenModel


class _Event(FrozenModel):
    dossier_id: str
    at: AwareDatetime


class DossierReceived(_Event):
    type: Literal["DossierReceived"] = "DossierReceived"
    procedure_code: str
    field_code: str
    workflow_version: int  # pinned for the dossier's whole life
    receiving_unit: str
    # Older states and events stored the channel by name ("online").
    channel: Annotated[Channel, BeforeValidator(Channel.parse)]
    chosen_subprocedures: tuple[str, ...]
    conditions: frozenset[str]
    legal_hours: int  # working hours to the appointment (SLA computes the date)
    graph: dict[str, tuple[str, ...]]  # live steps -> live predecessors


class StepAssigned(_Event):
    """A task lands in a unit's queue."""

    type: Literal["StepAssigned"] = "StepAssigned"
    task_id: str
    step_id: str
    unit_code: str
    queue_level: QueueLevel
    allotment_hours: int


class ExternalRequested(_Event):
    """An agency system is asked; its callback quotes ``correlation_id``."""

    type: Literal["ExternalRequested"] = "ExternalRequested"
    correlation_id: str
    step_id: str
    unit_code: str
    allotment_hours: int
    timeout_hours: int


class ExternalAnswered(_Event):
    type: Literal["ExternalAnswered"] = "ExternalAnswered"
    correlation_id: str
    step_id: str
    outcome: Literal["approved", "rejected"]
    note: str


class ExternalTimedOut(_Event):
    type: Literal["ExternalTimedOut"] = "ExternalTimedOut"
    correlation_id: str
    step_id: str


class TaskClaimed(_Event):
    type: Literal["TaskClaimed"] = "TaskClaimed"
    task_id: str
    step_id: str
    unit_code: str
    official_id: str


class TaskForwarded(_Event):
    type: Literal["TaskForwarded"] = "TaskForwarded"
    task_id: str
    step_id: str
    unit_code: str
    from_official_id: str
    to_official_id: str
    note: str = ""


class StepCompleted(_Event):
    """A step is done, by an official (task_id) or by an agency system (correlation_id)."""

    type: Literal["StepCompleted"] = "StepCompleted"
    step_id: str
    unit_code: str
    task_id: str | None = None
    official_id: str | None = None
    correlation_id: str | None = None
    note: str = ""


class HandedOff(_Event):
    """One line of form 06. SLA judges early / on time / late from the handing step's
    start and allotment; ``to_step_id`` None means back to the desk with the result."""

    type: Literal["HandedOff"] = "HandedOff"
    from_step_id: str
    from_unit: str
    # The task (or agency correlation) that finished; a return resets the run, so the
    # id must travel with the line itself. None only in histories written before it did.
    from_task_id: str | None = None
    to_step_id: str | None
    to_unit: str
    allotment_hours: int
    step_started_at: AwareDatetime


class StepReturned(_Event):
    """Sent back to an earlier step; ``reset_steps`` will run again."""

    type: Literal["StepReturned"] = "StepReturned"
    task_id: str
    from_step_id: str
    to_step_id: str
    unit_code: str
    official_id: str
    reason: str
    reset_steps: tuple[str, ...]


class ResultRecorded(_Event):
    type: Literal["ResultRecorded"] = "ResultRecorded"
    task_id: str
    step_id: str
    unit_code: str
    papers: tuple[str, ...]


class SupplementRequested(_Event):
    """Form 02; the clock pauses. ``count`` > 1 makes the dossier late under 766/QĐ-TTg."""

    type: Literal["SupplementRequested"] = "SupplementRequested"
    task_id: str
    step_id: str
    unit_code: str
    official_id: str
    missing_documents: tuple[str, ...]
    reason: str
    count: int


class SupplementResumed(_Event):
    type: Literal["SupplementResumed"] = "SupplementResumed"
    task_id: str
    documents: tuple[str, ...]


class ObligationRequested(_Event):
    type: Literal["ObligationRequested"] = "ObligationRequested"
    step_id: str  # the payment step
    assessed_by_unit: str
    amount_vnd: int


class ObligationPaid(_Event):
    type: Literal["ObligationPaid"] = "ObligationPaid"
    step_id: str
    receipt_ref: str


class ResultReady(_Event):
    type: Literal["ResultReady"] = "ResultReady"
    unit_code: str  # the desk that returns it
    papers: tuple[str, ...]


class Returned(_Event):
    type: Literal["Returned"] = "Returned"
    unit_code: str
    official_id: str


class Refused(_Event):
    type: Literal["Refused"] = "Refused"
    unit_code: str
    official_id: str
    reasons: tuple[str, ...]


class Stopped(_Event):
    type: Literal["Stopped"] = "Stopped"
    unit_code: str
    official_id: str
    reason: str


class Withdrawn(_Event):
    type: Literal["Withdrawn"] = "Withdrawn"
    reason: str


Event = Annotated[
    DossierReceived
    | StepAssigned
    | ExternalRequested
    | ExternalAnswered
    | ExternalTimedOut
    | TaskClaimed
    | TaskForwarded
    | StepCompleted
    | HandedOff
    | StepReturned
    | ResultRecorded
    | SupplementRequested
    | SupplementResumed
    | ObligationRequested
    | ObligationPaid
    | ResultReady
    | Returned
    | Refused
    | Stopped
    | Withdrawn,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
