"""Intake listens to every other service to keep each dossier's public projection."""

from __future__ import annotations

from datetime import datetime

from contracts.envelope import EventEnvelope
from services.intake.adapters import repository as repo
from services.intake.config import IntakeSettings
from services.intake.domain.dvcqg_shape import CLOSING, reachable_from, step_facts
from services.intake.views import status_callback
from services.runtime.consumer import ConsumerConfig, Handler
from services.runtime.db import DbConn
from services.runtime.service import Runtime


async def record_routing(conn: DbConn, env: EventEnvelope, push_national: bool = False) -> None:
    await _record(conn, env, "routing")
    status = env.payload.get("status")
    if status is None:
        return
    unit = env.payload.get("unit_code") or env.payload.get("to_unit")
    # Sequence 1 is intake's own "received"; routing's sequences start after it.
    version = env.sequence + 1
    moved = await repo.advance_status(
        conn, env.dossier_id, int(status), version, unit, reachable_from(int(status))
    )
    if moved is not None and moved[0] != moved[1]:
        # The portal hears of it through a delivery row committed with the change.
        row = await conn.fetchrow(
            "SELECT code, current_unit FROM dossiers WHERE id = $1", env.dossier_id
        )
        assert row is not None
        body = status_callback(
            env.dossier_id, row["code"], moved[1], version, row["current_unit"], env.occurred_at
        )
        await repo.enqueue_status_callbacks(conn, env.dossier_id, version, body)
    if moved is not None and push_national:
        # A processing step for the national portal, and the dossier itself once closed.
        at = _event_time(env)
        pushes = [("step", step_facts(env.event_type, env.payload, moved[1], at))]
        if moved[0] != moved[1] and moved[1] in CLOSING:
            pushes.append(("update", {"status": moved[1], "at": at.isoformat()}))
        await repo.enqueue_national(conn, env.dossier_id, pushes, env.event_id)


def _event_time(env: EventEnvelope) -> datetime:
    try:
        return datetime.fromisoformat(str(env.payload["at"]))
    except (KeyError, ValueError):
        return env.occurred_at


async def record_sla(conn: DbConn, env: EventEnvelope) -> None:
    await _record(conn, env, "sla")


async def record_notify(conn: DbConn, env: EventEnvelope) -> None:
    await _record(conn, env, "notify")


async def _record(conn: DbConn, env: EventEnvelope, source: str) -> None:
    await repo.append_timeline(
        conn,
        event_id=env.event_id,
        dossier_id=env.dossier_id,
        source=source,
        event_type=env.event_type,
        sequence=env.sequence,
        occurred_at=env.occurred_at,
        details=env.payload,
    )


def consumers(rt: Runtime) -> list[ConsumerConfig]:
    from contracts.events import EVENT_SPECS

    handlers: dict[str, Handler] = {}
    push = isinstance(rt.settings, IntakeSettings) and rt.settings.dvcqg_pushing

    async def routing(conn: DbConn, env: EventEnvelope) -> None:
        await record_routing(conn, env, push)

    by_topic: dict[str, Handler] = {
        "dossier.routing": routing,
        "dossier.sla": record_sla,
        "dossier.notify": record_notify,
    }
    for spec in EVENT_SPECS:
        if spec.topic in by_topic:
            handlers[spec.event_type] = by_topic[spec.topic]
    return [rt.consumer("intake", list(by_topic), handlers)]
