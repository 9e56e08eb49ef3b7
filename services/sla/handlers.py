"""SLA's use cases: load the dossiers, let the core decide, save, publish.

Consumed events arrive in batches (``handle``, a runtime ``BatchHandler`` for every event
type SLA consumes); the timer job fires due timers in batches (``fire_due_timers``).
Either way: one query loads the states, ``domain.core.on_event`` folds the batch through
them, set-based statements save what changed (``adapters.store``) and one statement
writes the outbox rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events import DossierRated, Payload
from services.runtime import clock
from services.runtime.consumer import INFRASTRUCTURE_ERRORS, BatchHandler, Envelope
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records, event_record
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers
from services.sla.adapters import store
from services.sla.adapters.calendars import CalendarBook
from services.sla.domain import core
from services.sla.domain import events as ev
from services.sla.domain import inputs as heard
from services.sla.domain.model import Directory, DossierSla, SlaPolicy
from services.sla.translate import to_contract

__all__ = ["Directory", "SlaHandlers", "SlaPolicy", "instance_name"]

log = logging.getLogger(__name__)
RATED = "dossier.rated"


@dataclass(frozen=True, slots=True)
class _Decided:
    dossier_id: UUID
    cause: Envelope[Payload] | None  # the consumed event; None for a timer
    event: ev.Event


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SlaHandlers:
    def __init__(
        self,
        rt: Runtime,
        calendars: CalendarBook,
        policy: SlaPolicy | None = None,
        directory: Directory | None = None,
        instance: str | None = None,
    ) -> None:
        self.rt = rt
        self.calendars = calendars
        self.policy = policy or SlaPolicy()
        self.directory = directory or Directory()
        self.instance = instance or instance_name()

    # ------------------------------------------------------------------ consumed events

    def batch_handlers(self) -> dict[str, BatchHandler[Any]]:
        """One handler for every type, so a run of SLA's events is one call."""
        handler = BatchHandler(Payload, self.handle)
        handlers: dict[str, BatchHandler[Any]] = dict.fromkeys(heard.EVENT_TYPES, handler)
        handlers[RATED] = BatchHandler(DossierRated, self.on_rated)
        return handlers

    async def on_rated(self, conn: DbConn, batch: Sequence[Envelope[DossierRated]]) -> None:
        """Citizens' ratings, kept for the reports (no clock is affected)."""
        await store.add_ratings(conn, [(e.event.dossier_id, e.payload) for e in batch])

    async def handle(self, conn: DbConn, batch: Sequence[Envelope[Payload]]) -> None:
        events = [(e, heard.parse(e.event.event_type, e.event.payload)) for e in batch]
        ids = store.distinct(env.dossier_id for env, _ in events)
        await self.calendars.refresh(conn)
        await store.lock_dossiers(conn, ids)
        before = await store.load(conn, ids, for_update=True)
        after = dict(before)
        decided: list[_Decided] = []
        now = clock.now()
        for env, event in events:
            state, out = self._decide(after[env.dossier_id], event, now)
            after[env.dossier_id] = state
            decided.extend(_Decided(env.dossier_id, env, e) for e in out)
        await self._save(conn, before, after, decided)

    async def on_event(self, conn: DbConn, env: EventEnvelope) -> None:
        """One consumed event (what the batch handler does for a batch of one)."""
        await self.handle(conn, [Envelope(env, Payload())])

    on_received = on_event
    on_contact_ref_assigned = on_event
    on_step_assigned = on_event
    on_step_done = on_event
    on_dossier_closed = on_event
    on_paused = on_event
    on_resumed = on_event

    def _decide(
        self, state: DossierSla, event: heard.Heard, now: datetime
    ) -> tuple[DossierSla, list[ev.Event]]:
        return core.on_event(state, event, now, self.calendars, self.policy, self.directory)

    async def _save(
        self,
        conn: DbConn,
        before: Mapping[UUID, DossierSla],
        after: Mapping[UUID, DossierSla],
        decided: Sequence[_Decided],
        fired_by: str | None = None,
    ) -> None:
        added = await store.save(conn, before, after, fired_by=fired_by)
        letters = [d.event.letter for d in decided if isinstance(d.event, ev.ApologyIssued)]
        issued = await store.add_apologies(conn, letters)
        await store.relabel_letters(
            conn,
            {
                d.dossier_id: d.event.contact_ref
                for d in decided
                if isinstance(d.event, ev.ContactRefReplaced)
            },
        )
        outgoing: list[OutboxRecord] = []
        topic = self.rt.topic("dossier.sla")
        occurred_at = clock.now().isoformat()  # one instant for the batch's events
        for d in decided:
            e = d.event
            if isinstance(e, ev.DeadlineOpened) and e.deadline.id not in added:
                continue  # the database already holds it (same task id)
            if isinstance(e, ev.ApologyIssued) and e.letter.id not in issued:
                continue  # another instance apologised first
            contract = to_contract(e)
            if contract is not None:
                outgoing.append(
                    self._outgoing(topic, *contract, d.dossier_id, d.cause, occurred_at)
                )
        # One statement for the whole batch, one wake-up for the relay.
        await append_records(conn, self.rt.schema, outgoing, current_trace_headers())

    # ------------------------------------------------------------------ timers

    async def fire_due_timers(self, now: datetime, limit: int | None = None) -> int:
        """Fire every timer due by ``now`` (up to ``limit``), in one transaction.

        ``FOR UPDATE SKIP LOCKED`` lets any number of instances share the work without
        firing a timer twice: the alarm's flags, the next fire time and the events are
        committed together, so a crash before the commit leaves the timer due again.
        A timer that cannot be fired (a bug, bad data) is set aside with its error, so it
        never blocks the others.
        """
        batch = limit or self.policy.timer_batch
        try:
            return await self._fire_batch(now, batch)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception:
            log.exception("a timer batch failed; firing one by one to find the faulty timer")
        fired = 0
        for deadline_id in await store.due_timer_ids(self.rt.pool, now, batch):
            try:
                fired += await self._fire_batch(now, 1, only=deadline_id)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                log.exception("timer %s set aside", deadline_id)
                await store.set_timer_aside(self.rt.pool, deadline_id, repr(exc))
        return fired

    async def run_timers(self, interval: float, stop_at: float | None = None) -> int:
        """The timer loop of an instance: fire what is due; when idle, sleep until the
        next timer falls due (one indexed read), at most ``interval``. Runs until
        ``stop_at`` (``time.time()``), forever without it; returns how many it fired."""
        fired = 0
        while stop_at is None or time.time() < stop_at:
            n = await self.fire_due_timers(clock.now())
            fired += n
            if n >= self.policy.timer_batch:
                continue
            upcoming = await store.next_due(self.rt.pool)
            delay = interval
            if upcoming is not None:
                # Business seconds until it is due, slept on the wall clock.
                until_due = clock.wall_seconds((upcoming - clock.now()).total_seconds())
                delay = min(interval, max(until_due, 0.0) + 0.001)
            await asyncio.sleep(delay)
        return fired

    async def _fire_batch(self, now: datetime, batch: int, only: UUID | None = None) -> int:
        async with self.rt.pool.acquire() as conn, conn.transaction():
            due = await store.lock_due_timers(conn, now, batch, only)
            if not due:
                return 0
            await self.calendars.refresh(conn)
            before = await store.load(conn, store.distinct(d for _, d in due))
            after = dict(before)
            decided: list[_Decided] = []
            for deadline_id, dossier_id in due:
                state, out = self._decide(after[dossier_id], heard.TimerDue(deadline_id), now)
                after[dossier_id] = state
                decided.extend(_Decided(dossier_id, None, e) for e in out)
            await self._save(conn, before, after, decided, fired_by=self.instance)
        return len(due)

    # ------------------------------------------------------------------ outbox

    def _outgoing(
        self,
        topic: str,
        event_type: str,
        payload: dict[str, Any],
        dossier_id: UUID,
        cause: Envelope[Payload] | None,
        occurred_at: str,
    ) -> OutboxRecord:
        """The event for the outbox; what a consumed event caused goes out in that event's
        trace (None: the context current now)."""
        return event_record(
            topic,
            str(dossier_id),
            event_type=event_type,
            dossier_id=dossier_id,
            payload=payload,
            producer=self.rt.settings.service_name,
            occurred_at=occurred_at,
            correlation_id=cause.event.correlation_id if cause else None,
            causation_id=cause.event_id if cause else None,
            headers=cause.trace or None if cause else None,
        )
