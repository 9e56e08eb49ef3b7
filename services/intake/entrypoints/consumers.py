"""Intake listens to every other service to keep each dossier's public projection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from contracts.envelope import EventEnvelope
from services.intake.adapters import repository as repo
from services.intake.config import IntakeSettings
from services.intake.domain.dvcqg_shape import CLOSING, reachable_from, step_facts
from services.intake.views import status_callback
from services.runtime.consumer import BatchHandler, ConsumerConfig, Envelope
from services.runtime.db import DbConn
from services.runtime.service import Runtime


class AnyPayload(BaseModel):
    """An event's payload as it came: intake keeps every service's events as they are."""

    model_config = ConfigDict(extra="allow")


SOURCES = {"dossier.routing": "routing", "dossier.sla": "sla", "dossier.notify": "notify"}


async def record_batch(
    conn: DbConn,
    events: Sequence[Envelope[AnyPayload]],
    sources: Mapping[str, str],
    push_national: bool = False,
) -> None:
    """A consumed run of events: their timeline entries in one statement, then, in order,
    the public status moves routing's events carry (each with its callbacks)."""
    await repo.append_timeline_many(
        conn,
        [
            repo.TimelineEntry(
                event_id=e.event.event_id,
                dossier_id=e.event.dossier_id,
                source=sources[e.event.event_type],
                event_type=e.event.event_type,
                sequence=e.event.sequence,
                occurred_at=e.event.occurred_at,
                details=e.event.payload,
            )
            for e in events
        ],
    )
    for e in events:
        if sources[e.event.event_type] == "routing":
            await advance_status(conn, e.event, push_national)


async def advance_status(conn: DbConn, env: EventEnvelope, push_national: bool = False) -> None:
    status = env.payload.get("status")
    if status is None:
        return
    unit = env.payload.get("unit_code") or env.payload.get("to_unit")
    # Sequence 1 is intake's own "received"; routing's sequences start after it.
    version = env.sequence + 1
    moved = await repo.advance_status(
        conn, env.dossier_id, int(status), version, unit, reachable_from(int(status))
    )
    if moved is not None and moved.before != moved.after:
        # The portal hears of it through a delivery row committed with the change.
        body = status_callback(
            env.dossier_id, moved.code, moved.after, version, moved.current_unit, env.occurred_at
        )
        await repo.enqueue_status_callbacks(conn, env.dossier_id, version, body)
    if moved is not None and push_national:
        # A processing step for the national portal, and the dossier itself once closed.
        at = _event_time(env)
        pushes = [("step", step_facts(env.event_type, env.payload, moved.after, at))]
        if moved.before != moved.after and moved.after in CLOSING:
            pushes.append(("update", {"status": moved.after, "at": at.isoformat()}))
        await repo.enqueue_national(conn, env.dossier_id, pushes, env.event_id)


def _event_time(env: EventEnvelope) -> datetime:
    try:
        return datetime.fromisoformat(str(env.payload["at"]))
    except (KeyError, ValueError):
        return env.occurred_at


def consumers(rt: Runtime) -> list[ConsumerConfig]:
    from contracts.events import EVENT_SPECS

    push = isinstance(rt.settings, IntakeSettings) and rt.settings.dvcqg_pushing
    sources = {s.event_type: SOURCES[s.topic] for s in EVENT_SPECS if s.topic in SOURCES}

    async def handle(conn: DbConn, events: Sequence[Envelope[AnyPayload]]) -> None:
        await record_batch(conn, events, sources, push)

    # One batch handler for every type: a partition's batch is one call.
    batch = BatchHandler(AnyPayload, handle)
    return [rt.consumer("intake", list(SOURCES), {}, dict.fromkeys(sources, batch))]
