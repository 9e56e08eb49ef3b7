"""The envelope every event on every topic travels in.

Consumers ignore fields they do not know; producers only ever add fields (never change a
field's meaning), and bump ``schema_version`` of the payload when they add one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


def _wall_now() -> datetime:
    return datetime.now(UTC)


_clock: list[Callable[[], datetime]] = [_wall_now]


def use_clock(clock: Callable[[], datetime]) -> None:
    """What ``occurred_at`` defaults to: the services' business clock
    (``services.runtime.clock``), the wall clock unless a simulation sets it."""
    _clock[0] = clock


def utc_now() -> datetime:
    return _clock[0]()


class EventEnvelope(BaseModel):
    """One event: who said what about which dossier, and what caused it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "7a0c6a3e-1f0b-4c7e-9a57-2b8f6c1d9e01",
                    "event_type": "dossier.received",
                    "schema_version": 1,
                    "occurred_at": "2026-11-03T02:15:00Z",
                    "dossier_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
                    "sequence": 1,
                    "correlation_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
                    "causation_id": None,
                    "producer": "intake",
                    "payload": {"dossier_code": "000.00.01.H22-251103-0007"},
                }
            ]
        },
    )

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this event; consumers dedupe on (consumer, event_id).",
    )
    event_type: str = Field(description="What happened, e.g. `dossier.received`.")
    schema_version: int = Field(default=1, ge=1, description="Version of the payload schema.")
    occurred_at: datetime = Field(
        default_factory=utc_now, description="When it happened (ISO 8601 with offset)."
    )
    dossier_id: UUID = Field(description="The dossier this event is about; also the Kafka key.")
    sequence: int = Field(
        default=0,
        ge=0,
        description=(
            "Per-dossier, per-producer sequence number, so a consumer can tell an old event "
            "from a new one and never move a public status backwards."
        ),
    )
    correlation_id: UUID = Field(
        description="Id shared by every event of one citizen request (usually the dossier id)."
    )
    causation_id: UUID | None = Field(
        default=None, description="The event_id of the event that caused this one, if any."
    )
    producer: str = Field(description="The service that wrote the event.")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="Event-type specific body; see the payload schemas."
    )
