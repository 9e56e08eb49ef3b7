"""What SLA knows of one dossier: its facts, its deadlines (each with its timer) and
whether it has apologised — the state the pure core (``core.on_event``) works on.

Frozen dataclasses: the timer job builds a thousand of these per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol
from uuid import UUID, uuid5

from contracts.events import DeadlineKind
from services.sla.domain import deadlines as rules
from services.workcal.calendar import WorkingCalendar

# Deadline and letter ids are derived from what they belong to, so the same events
# always give the same ids (a replay, a retried batch).
_IDS = UUID("5b0f1c8e-3a55-4c1e-9a0e-7d2b8f4e6c11")


def deadline_id(dossier_id: UUID, task_id: str | None) -> UUID:
    return uuid5(_IDS, f"deadline:{dossier_id}:{task_id or '*dossier*'}")


def letter_id(dossier_id: UUID) -> UUID:
    return uuid5(_IDS, f"apology:{dossier_id}")


class Calendars(Protocol):
    """Each unit's working calendar (``adapters.calendars.CalendarBook`` is one)."""

    def for_unit(self, unit_code: str | None) -> WorkingCalendar: ...


@dataclass(frozen=True)
class Directory:
    """What SLA needs of the reference data: names and the unit above each unit."""

    unit_names: Mapping[str, str] = field(default_factory=dict)
    unit_parents: Mapping[str, str | None] = field(default_factory=dict)
    procedure_names: Mapping[str, str] = field(default_factory=dict)

    def unit_name(self, code: str) -> str:
        return self.unit_names.get(code, code)


@dataclass(frozen=True)
class SlaPolicy:
    due_soon_hours: Decimal = rules.DUE_SOON_HOURS
    escalate_after_hours: Decimal | None = Decimal(8)
    apology_extension_hours: Decimal = Decimal(16)
    timer_batch: int = 1000  # the timer job's batch (not a rule of the core)


class Phase(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Timer:
    """When the deadline next needs attention, and which alarms it has raised."""

    next_fire_at: datetime | None
    due_soon_fired: bool = False
    overdue_fired: bool = False  # the overdue alarm stands (cleared when withdrawn)
    escalated: bool = True  # nothing (more) to escalate

    def as_rule_state(self, deadline: Deadline) -> rules.TimerState:
        return rules.TimerState(
            kind=deadline.kind.value,
            due_at=deadline.due_at,
            due_soon_at=deadline.due_soon_at,
            escalate_at=deadline.escalate_at,
            due_soon_fired=self.due_soon_fired,
            overdue_fired=self.overdue_fired,
            escalated=self.escalated,
        )


@dataclass(frozen=True, slots=True)
class Deadline:
    """The dossier's deadline (the appointment) or one step's (its own allotment)."""

    id: UUID
    kind: DeadlineKind
    dossier_code: str
    task_id: str | None
    unit_code: str
    step_name: str | None
    field_code: str | None
    starts_at: datetime
    allotment_hours: Decimal
    due_at: datetime
    due_soon_at: datetime | None
    escalate_at: datetime | None
    timer: Timer
    phase: Phase = Phase.OPEN
    paused_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: rules.Outcome | None = None

    def with_timer(self, timer: Timer) -> Deadline:
        """This deadline with another timer (the timer job's hot path: no ``replace``)."""
        return Deadline(
            self.id,
            self.kind,
            self.dossier_code,
            self.task_id,
            self.unit_code,
            self.step_name,
            self.field_code,
            self.starts_at,
            self.allotment_hours,
            self.due_at,
            self.due_soon_at,
            self.escalate_at,
            timer,
            self.phase,
            self.paused_at,
            self.closed_at,
            self.outcome,
        )

    def same_row(self, other: Deadline) -> bool:
        """Equal but for the timer (the timer is a row of its own)."""
        return (
            self.phase is other.phase
            and self.paused_at == other.paused_at
            and self.closed_at == other.closed_at
            and self.outcome == other.outcome
            and self.due_at == other.due_at
            and self.due_soon_at == other.due_soon_at
            and self.escalate_at == other.escalate_at
        )


@dataclass(frozen=True, slots=True)
class Dossier:
    """The facts of the dossier SLA captures from the events it consumes (reports and
    letters read them). A routing event may come before ``dossier.received``."""

    dossier_code: str | None = None
    procedure_code: str | None = None
    field_code: str | None = None
    receiving_unit: str | None = None
    channel: int | None = None
    received_at: datetime | None = None
    appointment_at: datetime | None = None
    contact_ref: str | None = None
    status: int = 2
    supplement_count: int = 0
    paused_at: datetime | None = None
    ended_at: datetime | None = None
    end_status: int | None = None
    returned_at: datetime | None = None
    outcome: rules.Outcome | None = None
    current_unit: str | None = None


@dataclass(frozen=True, slots=True)
class DossierSla:
    """SLA's state of one dossier."""

    dossier_id: UUID
    dossier: Dossier | None = None  # None: SLA has heard nothing about it yet
    deadlines: tuple[Deadline, ...] = ()
    apologised: bool = False  # form 04 was issued (once per dossier)

    def replacing(self, old: Deadline, new: Deadline) -> DossierSla:
        """This state with ``new`` in place of ``old``, one of its deadlines (found by
        identity: the timer job's hot path compares no ids)."""
        return DossierSla(
            self.dossier_id,
            self.dossier,
            tuple(new if d is old else d for d in self.deadlines),
            self.apologised,
        )

    def whole(self) -> Deadline | None:
        """The dossier's own deadline (to the appointment)."""
        return next((d for d in self.deadlines if d.kind is DeadlineKind.DOSSIER), None)

    def of_task(self, task_id: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.task_id == task_id), None)

    def get(self, deadline: UUID) -> Deadline | None:
        return next((d for d in self.deadlines if d.id == deadline), None)

    def steps(self) -> tuple[Deadline, ...]:
        return tuple(d for d in self.deadlines if d.kind is DeadlineKind.STEP)
