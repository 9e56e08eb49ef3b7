"""Routing's use cases: load a dossier, let the pure core decide, save state + events."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from reference.loader import ReferenceData
from services.routing.adapters import store
from services.routing.domain import Rejected, execute
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from services.routing.domain.fold import evolve
from services.routing.domain.state import DossierState
from services.routing.translate import to_contract
from services.runtime.auth import Principal
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers

Command = Any  # one of services.routing.domain.commands


# Events after which a step runs under a new task id: the old task row must be closed.
REPLACING = (ev.StepReturned, ev.ExternalTimedOut, ev.ExternalAnswered)


class UnknownDossier(Exception):
    pass


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    unit_code: str | None

    @staticmethod
    def system(name: str) -> Actor:
        return Actor(user_id=name, role="system", unit_code=None)

    @staticmethod
    def of(principal: Principal) -> Actor:
        return Actor(principal.user_id, principal.role, principal.unit_code)


class Routing:
    def __init__(self, rt: Runtime, ref: ReferenceData) -> None:
        self.rt = rt
        self.ref = ref

    async def start(
        self, conn: DbConn, dossier_id: UUID, dossier_code: str, command: cmd.Start, at: datetime
    ) -> None:
        if await store.load_for_update(conn, dossier_id) is not None:
            return  # already started (a replayed "received" with a new event id)
        await self._apply(conn, None, dossier_code, command, at, Actor.system("intake"), None)

    async def handle(
        self,
        conn: DbConn,
        dossier_id: UUID,
        command: Command,
        actor: Actor,
        task_id: str | None = None,
        at: datetime | None = None,
    ) -> DossierState:
        loaded = await store.load_for_update(conn, dossier_id)
        if loaded is None:
            raise UnknownDossier(str(dossier_id))
        state, code = loaded
        return await self._apply(
            conn, state, code, command, at or datetime.now(UTC), actor, task_id
        )

    async def _apply(
        self,
        conn: DbConn,
        state: DossierState | None,
        dossier_code: str,
        command: Command,
        now: datetime,
        actor: Actor,
        task_id: str | None,
    ) -> DossierState:
        new_state, events = execute(state, command, now, self.ref)
        if not events:
            assert new_state is not None
            return new_state
        assert new_state is not None
        await store.save(conn, new_state, dossier_code, events)
        await self._publish(conn, state, events, dossier_code, actor)
        replaced = any(isinstance(e, REPLACING) for e in events)
        await store.sync_inbox(conn, new_state, dossier_code, replaced=replaced)
        await self._track_external_waits(conn, new_state, events, now)
        await store.audit(
            conn,
            dossier_id=UUID(new_state.dossier_id),
            task_id=task_id,
            actor=actor.user_id,
            role=actor.role,
            unit_code=actor.unit_code,
            action=type(command).__name__,
            at=now,
            details={"events": [e.type for e in events], **_command_details(command)},
        )
        return new_state

    async def _publish(
        self,
        conn: DbConn,
        state: DossierState | None,
        events: list[ev.Event],
        dossier_code: str,
        actor: Actor,
    ) -> None:
        """The decision's contract events (and each assignment's level-queue copy) go to
        the outbox in one statement with one relay wake-up, in the order they happened."""
        records: list[OutboxRecord] = []
        folded = state
        for event in events:
            folded = evolve(folded, event)
            contract = to_contract(event, folded, dossier_code, self.ref, actor.user_id)
            if contract is None:
                continue
            event_type, payload = contract
            dossier_id = UUID(folded.dossier_id)
            envelope = self._envelope(event_type, dossier_id, payload, folded.version)
            records.append(_record(self.rt.topic("dossier.routing"), str(dossier_id), envelope))
            if event_type == "step.assigned":
                # The level queue, keyed by unit, for the inbox projector and agency systems.
                copy = self._envelope(
                    event_type, dossier_id, payload, folded.version, caused_by=envelope.event_id
                )
                queue = self.rt.topic(f"queue.{payload['queue_level']}")
                records.append(_record(queue, payload["unit_code"], copy))
        await append_records(conn, self.rt.schema, records, current_trace_headers())

    def _envelope(
        self,
        event_type: str,
        dossier_id: UUID,
        payload: dict[str, Any],
        sequence: int,
        caused_by: UUID | None = None,
    ) -> EventEnvelope:
        return EventEnvelope(
            event_type=event_type,
            dossier_id=dossier_id,
            sequence=sequence,
            correlation_id=dossier_id,
            causation_id=caused_by,
            producer=self.rt.settings.service_name,
            payload=payload,
        )

    async def _track_external_waits(
        self, conn: DbConn, state: DossierState, events: list[ev.Event], now: datetime
    ) -> None:
        for event in events:
            if isinstance(event, ev.ExternalRequested):
                # Timeouts count wall-clock hours: agency systems answer around the clock.
                await conn.execute(
                    "INSERT INTO external_waits (correlation_id, dossier_id, timeout_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    event.correlation_id,
                    UUID(state.dossier_id),
                    now + timedelta(hours=event.timeout_hours),
                )
            elif isinstance(event, ev.ExternalAnswered | ev.ExternalTimedOut):
                await conn.execute(
                    "UPDATE external_waits SET answered = true WHERE correlation_id = $1",
                    event.correlation_id,
                )

    async def time_out_silent_agencies(self, now: datetime) -> int:
        async with self.rt.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT correlation_id, dossier_id FROM external_waits"
                " WHERE NOT answered AND timeout_at <= $1 LIMIT 100 FOR UPDATE SKIP LOCKED",
                now,
            )
            for row in rows:
                # Rejected: the dossier moved on (stopped, withdrawn); nothing to time out.
                with contextlib.suppress(Rejected):
                    await self.handle(
                        conn,
                        row["dossier_id"],
                        cmd.ExternalTimedOut(correlation_id=row["correlation_id"]),
                        Actor.system("timeout"),
                        at=now,
                    )
                await conn.execute(
                    "UPDATE external_waits SET answered = true WHERE correlation_id = $1",
                    row["correlation_id"],
                )
        return len(rows)


def _record(topic: str, key: str, envelope: EventEnvelope) -> OutboxRecord:
    return OutboxRecord(
        topic, key, envelope.event_id, envelope.event_type, envelope.model_dump_json().encode()
    )


def _command_details(command: Command) -> dict[str, Any]:
    data: dict[str, Any] = command.model_dump(mode="json")
    data.pop("official", None)
    return data
