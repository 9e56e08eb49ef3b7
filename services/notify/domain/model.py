"""Notify's typed model: what its pure decisions take and give back.

No I/O here: the store adapter loads these from PostgreSQL and saves what the decisions
return; the sender turns a gateway's answer into a `StatusChange`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from uuid import UUID

from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.quiet_hours import DEFAULT_QUIET_WINDOW

QuietWindow = tuple[time, time]


@dataclass(frozen=True)
class Contact:
    """A citizen's contact details, held in memory only while their messages are sent."""

    full_name: str
    phone: str
    email: str | None
    procedure_code: str | None = None

    def __repr__(self) -> str:  # never let a log line print the person
        return "Contact(***)"


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """What notify remembers of a dossier from its `dossier.received` (routing's and
    SLA's events lack the procedure, the receiving unit and the contact reference)."""

    dossier_code: str
    procedure_code: str
    receiving_unit: str
    contact_ref: str


@dataclass(frozen=True, slots=True)
class Prefs:
    """What a contact and this deployment allow: channels opted out of, Zalo on or off."""

    opted_out: frozenset[str] = frozenset()
    zalo_enabled: bool = True


@dataclass(frozen=True, slots=True)
class Rules:
    """Names and timing from the reference data and the settings."""

    procedure_names: Mapping[str, str] = field(default_factory=dict)
    unit_names: Mapping[str, str] = field(default_factory=dict)
    # Procedure code → document type code → name: routing names missing papers by code.
    document_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    quiet_window: QuietWindow | None = DEFAULT_QUIET_WINDOW
    quiet_by_unit: Mapping[str, QuietWindow | None] = field(default_factory=dict)

    def quiet_for(self, unit_code: str | None) -> QuietWindow | None:
        if unit_code is not None and unit_code in self.quiet_by_unit:
            return self.quiet_by_unit[unit_code]
        return self.quiet_window


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to create (deduplicated on event id, channel and contact reference).

    The text is the preview with personal params masked; the real text is rendered at
    send time from `params` and the contact."""

    id: UUID
    event_id: UUID
    event_type: str
    channel: str
    contact_ref: str
    dossier_id: UUID
    dossier_code: str
    unit_code: str | None
    params: Mapping[str, Any]
    send_at: datetime
    template_id: str
    template_version: int
    provider_template: Mapping[str, str]
    subject: str | None
    body_text: str
    body_html: str | None
    detail: str  # the 'created' history row's detail: template reference, fallback of
    fallback_of: UUID | None = None


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message the sender holds: what it needs to render, send and decide."""

    id: UUID
    event_id: UUID
    event_type: str
    channel: str
    contact_ref: str
    dossier_id: UUID
    dossier_code: str
    unit_code: str | None
    template_id: str
    template_version: int
    params: Mapping[str, Any]
    trace_headers: Mapping[str, str]
    attempts: int  # including the attempt this claim starts
    status: DeliveryStatus  # before the claim
    provider: str | None  # the gateway to try first
    first_failure_at: datetime | None = None
    lease_expiries: int = 0


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status report for a message: from the sender, a receipt, the claim or an
    operator. Merged forward-only (`next_status`); recorded in batches."""

    message_id: UUID
    status: DeliveryStatus
    detail: str = ""
    provider: str | None = None
    provider_message_id: str | None = None
    sent: bool = False  # the gateway accepted it: sets sent_at
    next_attempt_at: datetime | None = None
    dead_letter: bool = False  # a technical failure an operator may replay
    attempts: int = 0  # for the dead letter
    # Set with the first temporary failure: the retry window is counted from then.
    failure_at: datetime | None = None
    fallback: NewMessage | None = None  # the same notice by SMS (Zalo could not carry it)
    trace_headers: Mapping[str, str] = field(default_factory=dict)
