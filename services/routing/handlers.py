"""Routing's use cases: load a dossier, let the pure core decide, save state + events."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from reference.loader import ReferenceData
from services.routing.adapters import postal, store
from services.routing.domain import Rejected, execute
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from services.routing.domain.fold import evolve
from services.routing.domain.state import DossierState
from services.routing.translate import to_contract
from services.runtime import clock
from services.runtime.auth import Principal
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, event_record
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers

Command = Any  # one of services.routing.domain.commands


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


@dataclass(frozen=True)
class Decision:
    """What the core decided for one dossier, ready to be saved with others."""

    before: DossierState | None
    change: store.Change
    #: The trace of the request or record that caused it (None: the caller's context).
    trace: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Arrival:
    """A dossier intake accepted, to be started."""

    dossier_id: UUID
    dossier_code: str
    command: cmd.Start
    received_at: datetime
    trace: Mapping[str, str] | None = None


class Routing:
    def __init__(self, rt: Runtime, ref: ReferenceData) -> None:
        self.rt = rt
        self.ref = ref

    async def start_many(self, conn: DbConn, arrivals: Sequence[Arrival]) -> None:
        """Start every dossier not yet running (a replayed "received" with a new event id
        changes nothing): one read and a fixed handful of writes for the whole batch."""
        running = await store.started(conn, [a.dossier_id for a in arrivals])
        decisions: list[Decision] = []
        for arrival in arrivals:
            if arrival.dossier_id in running:
                continue
            running.add(arrival.dossier_id)
            decision = self.decide(
                None,
                arrival.dossier_code,
                arrival.command,
                arrival.received_at,
                Actor.system("intake"),
                None,
                arrival.trace,
            )
            if decision is not None:
                decisions.append(decision)
        await self.save(conn, decisions)

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
        return await self.apply(conn, state, code, command, actor, task_id, at)

    async def apply(
        self,
        conn: DbConn,
        state: DossierState,
        code: str,
        command: Command,
        actor: Actor,
        task_id: str | None = None,
        at: datetime | None = None,
    ) -> DossierState:
        """A command on a dossier the caller has loaded (and locked) in ``conn``."""
        decision = self.decide(state, code, command, at or clock.now(), actor, task_id, trace=None)
        if decision is None:
            return state
        await self.save(conn, [decision])
        return decision.change.state

    async def apply_if_current(
        self,
        conn: DbConn,
        state: DossierState,
        code: str,
        command: Command,
        actor: Actor,
        task_id: str | None = None,
    ) -> DossierState | None:
        """A command on a dossier the caller read without a lock (outside a transaction):
        what it decided is saved only if nobody changed the dossier since; None if
        somebody did (read it again, or lock it, and apply again)."""
        decision = self.decide(state, code, command, clock.now(), actor, task_id, trace=None)
        if decision is None:
            return state
        if not await self.save(conn, [decision], if_version=state.version):
            return None
        return decision.change.state

    def decide(
        self,
        state: DossierState | None,
        dossier_code: str,
        command: Command,
        now: datetime,
        actor: Actor,
        task_id: str | None,
        trace: Mapping[str, str] | None,
    ) -> Decision | None:
        """The core's decision as a change to save; None when nothing happens."""
        new_state, events = execute(state, command, now, self.ref)
        if not events:
            return None
        assert new_state is not None
        entry = store.AuditEntry(
            dossier_id=UUID(new_state.dossier_id),
            task_id=task_id,
            actor=actor.user_id,
            role=actor.role,
            unit_code=actor.unit_code,
            action=type(command).__name__,
            at=now,
            details={"events": [e.type for e in events], **_command_details(command)},
        )
        change = store.Change(new_state, dossier_code, events, entry)
        return Decision(before=state, change=change, trace=trace)

    async def save(
        self, conn: DbConn, decisions: Sequence[Decision], *, if_version: int | None = None
    ) -> bool:
        """States, event logs, audit lines, outgoing events and inbox rows of a batch of
        decisions in one statement, and one more for each kind of side effect some have
        (agency waits, postal orders), in the caller's transaction. With ``if_version``
        (one decision on a dossier read without a lock, no transaction), nothing is saved
        unless the dossier is still at that version; answers whether it was saved."""
        if not decisions:
            return True
        changes = [d.change for d in decisions]
        records = [r for d in decisions for r in self._records(d)]
        # Alone, the one statement is atomic; with side effects it needs a transaction.
        atomic = if_version is not None and _has_side_effects(changes)
        async with conn.transaction() if atomic else contextlib.nullcontext():
            saved = await store.save_changes(
                conn,
                changes,
                records,
                current_trace_headers(),
                self.rt.schema,
                if_version=if_version,
            )
            if not saved:
                return False
            await self._track_external_waits(conn, decisions)
            await postal.request_orders(conn, changes)  # results the citizen wants by post
        return True

    def _records(self, decision: Decision) -> list[OutboxRecord]:
        """The decision's contract events (and each assignment's level-queue copy), in the
        order they happened."""
        change = decision.change
        records: list[OutboxRecord] = []
        folded = decision.before
        producer = self.rt.settings.service_name
        occurred_at = clock.now().isoformat()  # one instant for the decision's events
        for event in change.events:
            folded = evolve(folded, event)
            contract = to_contract(event, folded, change.dossier_code, self.ref, change.audit.actor)
            if contract is None:
                continue
            event_type, payload = contract
            dossier_id, event_id = UUID(folded.dossier_id), uuid4()
            record = event_record(
                self.rt.topic("dossier.routing"),
                str(dossier_id),
                event_type=event_type,
                dossier_id=dossier_id,
                payload=payload,
                producer=producer,
                occurred_at=occurred_at,
                sequence=folded.version,
                headers=decision.trace,
                event_id=event_id,
            )
            records.append(record)
            if event_type == "step.assigned":
                # The level queue, keyed by unit, for the inbox projector and agency systems.
                copy = event_record(
                    self.rt.topic(f"queue.{payload['queue_level']}"),
                    payload["unit_code"],
                    event_type=event_type,
                    dossier_id=dossier_id,
                    payload=payload,
                    producer=producer,
                    occurred_at=occurred_at,
                    sequence=folded.version,
                    causation_id=event_id,
                    headers=decision.trace,
                )
                records.append(copy)
        return records

    async def _track_external_waits(self, conn: DbConn, decisions: Sequence[Decision]) -> None:
        opened: list[tuple[str, UUID, datetime]] = []
        answered: list[str] = []
        for decision in decisions:
            dossier_id = UUID(decision.change.state.dossier_id)
            for event in decision.change.events:
                if isinstance(event, ev.ExternalRequested):
                    # Timeouts count wall-clock hours: agency systems answer around the clock.
                    timeout = decision.change.audit.at + timedelta(hours=event.timeout_hours)
                    opened.append((event.correlation_id, dossier_id, timeout))
                elif isinstance(event, ev.ExternalAnswered | ev.ExternalTimedOut):
                    answered.append(event.correlation_id)
        await store.open_external_waits(conn, opened)
        await store.close_external_waits(conn, answered)

    async def time_out_silent_agencies(self, now: datetime) -> int:
        async with self.rt.pool.acquire() as conn, conn.transaction():
            due = await store.due_external_waits(conn, now, limit=100)
            for correlation_id, dossier_id in due:
                # Rejected: the dossier moved on (stopped, withdrawn); nothing to time out.
                with contextlib.suppress(Rejected):
                    await self.handle(
                        conn,
                        dossier_id,
                        cmd.ExternalTimedOut(correlation_id=correlation_id),
                        Actor.system("timeout"),
                        at=now,
                    )
            await store.close_external_waits(conn, [c for c, _ in due])
        return len(due)


def _has_side_effects(changes: Sequence[store.Change]) -> bool:
    """Whether saving these needs more than the one statement (see ``Routing.save``)."""
    return any(isinstance(e, _SIDE_EFFECTS) for c in changes for e in c.events)


_SIDE_EFFECTS = (ev.ExternalRequested, ev.ExternalAnswered, ev.ExternalTimedOut, ev.ResultReady)


def _command_details(command: Command) -> dict[str, Any]:
    data: dict[str, Any] = command.model_dump(mode="json")
    data.pop("official", None)
    return data
