"""Intake listens to every other service to keep each dossier's public projection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

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
    """A consumed run of events: their timeline entries in one statement, then the public
    status moves routing's events carry (with their callbacks), set-based, each dossier's
    in its order."""
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
    moving = [
        e.event
        for e in events
        if sources[e.event.event_type] == "routing" and e.event.payload.get("status") is not None
    ]
    for wave in _waves(moving):
        await advance_statuses(conn, wave, push_national)


def _waves(events: Sequence[EventEnvelope]) -> list[list[EventEnvelope]]:
    """The status events in rounds holding each dossier at most once: a dossier's first
    event in the first round, its second in the second, …, so each round is one statement
    and every dossier's events still apply in their order."""
    waves: list[list[EventEnvelope]] = []
    seen: dict[UUID, int] = {}
    for env in events:
        k = seen.get(env.dossier_id, 0)
        seen[env.dossier_id] = k + 1
        if k == len(waves):
            waves.append([])
        waves[k].append(env)
    return waves


async def advance_statuses(
    conn: DbConn, events: Sequence[EventEnvelope], push_national: bool = False
) -> None:
    """Routing's status events, each of another dossier: the public status moves forward
    (one statement), the portals' callbacks of the moves (one statement), the national
    portal's pushes when it is pushed to."""
    advances = [
        repo.StatusAdvance(
            dossier_id=env.dossier_id,
            status=int(env.payload["status"]),
            # Sequence 1 is intake's own "received"; routing's sequences start after it.
            version=env.sequence + 1,
            current_unit=env.payload.get("unit_code") or env.payload.get("to_unit"),
            reachable_from=reachable_from(int(env.payload["status"])),
        )
        for env in events
    ]
    moves = await repo.advance_statuses(conn, advances)
    # The portal hears of a move through a delivery row committed with the change.
    await repo.enqueue_status_callbacks_many(
        conn,
        [
            (
                env.dossier_id,
                a.version,
                status_callback(
                    env.dossier_id, m.code, m.after, a.version, m.current_unit, env.occurred_at
                ),
            )
            for env, a, m in zip(events, advances, moves, strict=True)
            if m is not None and m.before != m.after
        ],
    )
    if not push_national:
        return
    for env, moved in zip(events, moves, strict=True):
        if moved is None:
            continue
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
