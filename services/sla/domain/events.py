"""What SLA decides about a dossier. Some are published (``translate.to_contract``),
the rest only change state: a deadline paused, resumed or closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from services.sla.domain import deadlines as rules
from services.sla.domain.apology import ApologyLetter
from services.sla.domain.model import Deadline


@dataclass(frozen=True, slots=True)
class DeadlineOpened:
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class DeadlinePaused:
    deadline_id: UUID
    at: datetime


@dataclass(frozen=True, slots=True)
class DeadlineResumed:
    deadline_id: UUID
    due_at: datetime  # moved by the working time the citizen took


@dataclass(frozen=True, slots=True)
class DeadlineClosed:
    deadline_id: UUID
    at: datetime
    outcome: rules.Outcome


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """Due soon, step overdue or dossier overdue (``alarm``), for ``deadline``."""

    alarm: rules.Alarm
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class StepEscalated:
    deadline: Deadline
    supervisor_unit: str | None
    overdue_working_hours: Decimal


@dataclass(frozen=True, slots=True)
class OverdueWithdrawn:
    """The overdue alarm (and escalation) raised for ``deadline`` is taken back: the
    work finished at ``completed_at``, in time, but SLA heard of it after the timer had
    fired."""

    deadline: Deadline
    completed_at: datetime
    withdrawn: tuple[rules.Alarm, ...]


@dataclass(frozen=True, slots=True)
class ContactRefReplaced:
    """The letter already issued (if any) holds the dossier's new contact reference."""

    contact_ref: str


@dataclass(frozen=True, slots=True)
class ApologyIssued:
    """Form 04: the letter and the new appointment (an extension of the dossier's)."""

    letter: ApologyLetter


Event = (
    DeadlineOpened
    | DeadlinePaused
    | DeadlineResumed
    | DeadlineClosed
    | AlarmRaised
    | StepEscalated
    | OverdueWithdrawn
    | ContactRefReplaced
    | ApologyIssued
)
