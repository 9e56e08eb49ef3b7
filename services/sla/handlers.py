"""SLA's use cases: open, pause, resume and close deadlines; fire due timers; apologise."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import EventEnvelope
from contracts.events import (
    ApologyIssued,
    DeadlineKind,
    DeadlineOpened,
    StepEscalated,
)
from services.runtime.consumer import INFRASTRUCTURE_ERRORS
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers
from services.sla.adapters.calendars import CalendarBook
from services.sla.domain import deadlines as rules
from services.sla.domain.apology import ApologyLetter, reason_text
from services.workcal.calendar import VN_TZ

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Directory:
    """What SLA needs of the reference data: names and the unit above each unit."""

    unit_names: Mapping[str, str] = field(default_factory=dict)
    unit_parents: Mapping[str, str | None] = field(default_factory=dict)
    procedure_names: Mapping[str, str] = field(default_factory=dict)

    def unit_name(self, code: str) -> str:
        return self.unit_names.get(code, code)


@dataclass(frozen=True, slots=True)
class Outgoing:
    dossier_id: UUID
    event_id: UUID
    event_type: str
    body: bytes


@dataclass(frozen=True)
class SlaPolicy:
    due_soon_hours: Decimal = rules.DUE_SOON_HOURS
    escalate_after_hours: Decimal | None = Decimal(8)
    apology_extension_hours: Decimal = Decimal(16)
    timer_batch: int = 1000


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_TIMER_COLUMNS = (
    "d.id, d.dossier_id, d.dossier_code, d.kind, d.task_id, d.unit_code, d.step_name,"
    " d.due_at, d.due_soon_at, d.escalate_at, d.closed_at,"
    " t.due_soon_fired, t.overdue_fired, t.escalated"
)


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

    async def on_contact_ref_assigned(self, conn: DbConn, env: EventEnvelope) -> None:
        """Intake replaced the dossier's contact reference (it was the dossier id): the
        facts and any letter already issued hold the new one."""
        ref = str(env.payload["contact_ref"])
        await conn.execute(
            "UPDATE dossiers SET contact_ref = $2 WHERE dossier_id = $1", env.dossier_id, ref
        )
        await conn.execute(
            "UPDATE apologies SET letter = jsonb_set(letter, '{contact_ref}', to_jsonb($2::text))"
            " WHERE dossier_id = $1",
            env.dossier_id,
            ref,
        )

    async def on_received(self, conn: DbConn, env: EventEnvelope) -> None:
        await self.calendars.refresh(conn)
        p = env.payload
        calendar = self.calendars.for_unit(p["receiving_unit"])
        starts = datetime.fromisoformat(p["clock_started_at"])
        due = datetime.fromisoformat(p["appointment_at"])
        await conn.execute(
            "INSERT INTO dossiers (dossier_id, dossier_code, procedure_code, field_code,"
            " receiving_unit, channel, received_at, appointment_at, contact_ref)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (dossier_id) DO UPDATE SET"
            " dossier_code = EXCLUDED.dossier_code, procedure_code = EXCLUDED.procedure_code,"
            " field_code = EXCLUDED.field_code, receiving_unit = EXCLUDED.receiving_unit,"
            " channel = EXCLUDED.channel, received_at = EXCLUDED.received_at,"
            " appointment_at = EXCLUDED.appointment_at, contact_ref = EXCLUDED.contact_ref",
            env.dossier_id,
            p["dossier_code"],
            p.get("procedure_code"),
            p.get("field_code"),
            p["receiving_unit"],
            int(p["channel"]),
            datetime.fromisoformat(p["received_at"]),
            due,
            p.get("contact_ref"),
        )
        await self._open(
            conn,
            env,
            kind=DeadlineKind.DOSSIER,
            task_id=None,
            step_name=None,
            unit_code=p["receiving_unit"],
            field_code=p.get("field_code"),
            starts_at=starts,
            due_at=due,
            due_soon_at=rules.due_soon_at(calendar, starts, due, self.policy.due_soon_hours),
            allotment=Decimal(str(p["legal_hours"])),
        )
        await self._catch_up(conn, env.dossier_id)

    async def _catch_up(self, conn: DbConn, dossier_id: UUID) -> None:
        """Routing's events may be consumed before intake's (two topics): a dossier
        already waiting for the citizen, or already ended, gets its deadline in step."""
        seen = await conn.fetchrow(
            "SELECT paused_at, ended_at, supplement_count FROM dossiers WHERE dossier_id = $1",
            dossier_id,
        )
        if seen is None:
            return
        if seen["ended_at"] is not None:
            await self._close(
                conn, "dossier_id = $1", dossier_id, seen["ended_at"], seen["supplement_count"]
            )
        elif seen["paused_at"] is not None:
            await self._pause(conn, dossier_id, seen["paused_at"])

    async def on_step_assigned(self, conn: DbConn, env: EventEnvelope) -> None:
        await self.calendars.refresh(conn)
        p = env.payload
        await self._track(conn, env, current_unit=p["unit_code"])
        calendar = self.calendars.for_unit(p["unit_code"])
        allotment = Decimal(str(p["allotment_hours"]))
        plan = rules.schedule(
            calendar, datetime.fromisoformat(p["at"]), allotment, self.policy.due_soon_hours
        )
        await self._open(
            conn,
            env,
            kind=DeadlineKind.STEP,
            task_id=str(p["task_id"]),
            step_name=p.get("step_name"),
            unit_code=p["unit_code"],
            field_code=None,
            starts_at=plan.starts_at,
            due_at=plan.due_at,
            due_soon_at=plan.due_soon_at,
            allotment=allotment,
        )

    async def on_step_done(self, conn: DbConn, env: EventEnvelope) -> None:
        await self.calendars.refresh(conn)
        p = env.payload
        await self._track(conn, env, current_unit=p.get("to_unit"))
        await self._close(conn, "task_id = $1", str(p["task_id"]), datetime.fromisoformat(p["at"]))

    async def on_dossier_closed(self, conn: DbConn, env: EventEnvelope) -> None:
        await self.calendars.refresh(conn)
        at = datetime.fromisoformat(env.payload["at"])
        status = int(env.payload.get("status", 9))
        supplements = await self._track(conn, env)
        if status == 10:
            await conn.execute(
                "UPDATE dossiers SET returned_at = COALESCE(returned_at, $2) WHERE dossier_id = $1",
                env.dossier_id,
                at,
            )
        await conn.execute(
            "UPDATE dossiers SET ended_at = COALESCE(ended_at, $2),"
            " end_status = COALESCE(end_status, $3) WHERE dossier_id = $1",
            env.dossier_id,
            at,
            status,
        )
        await self._close(conn, "dossier_id = $1", env.dossier_id, at, supplements)

    async def on_paused(self, conn: DbConn, env: EventEnvelope) -> None:
        supplement = env.event_type == "dossier.supplement_requested"
        await self._track(conn, env, supplement=supplement)
        await conn.execute(
            "UPDATE dossiers SET paused_at = COALESCE(paused_at, $2) WHERE dossier_id = $1",
            env.dossier_id,
            datetime.fromisoformat(env.payload["at"]),
        )
        await self._pause(conn, env.dossier_id, datetime.fromisoformat(env.payload["at"]))

    async def _pause(self, conn: DbConn, dossier_id: UUID, at: datetime) -> None:
        await conn.execute(
            "WITH paused AS (UPDATE deadlines SET state = 'paused', paused_at = $2"
            " WHERE dossier_id = $1 AND state = 'open' RETURNING id)"
            " UPDATE timers SET next_fire_at = NULL WHERE deadline_id IN (SELECT id FROM paused)",
            dossier_id,
            at,
        )

    @staticmethod
    async def _set_timer(conn: DbConn, deadline_id: UUID, at: datetime | None) -> None:
        await conn.execute(
            "UPDATE timers SET next_fire_at = $2 WHERE deadline_id = $1", deadline_id, at
        )

    async def on_resumed(self, conn: DbConn, env: EventEnvelope) -> None:
        await self.calendars.refresh(conn)
        await self._track(conn, env)
        await conn.execute(
            "UPDATE dossiers SET paused_at = NULL WHERE dossier_id = $1", env.dossier_id
        )
        resumed_at = datetime.fromisoformat(env.payload["at"])
        rows = await conn.fetch(
            "SELECT d.*, t.due_soon_fired, t.overdue_fired, t.escalated"
            " FROM deadlines d JOIN timers t ON t.deadline_id = d.id"
            " WHERE d.dossier_id = $1 AND d.state = 'paused' FOR UPDATE",
            env.dossier_id,
        )
        window = self.policy.due_soon_hours
        for row in rows:
            calendar = self.calendars.for_unit(row["unit_code"])
            due = rules.resumed_due(calendar, row["due_at"], row["paused_at"], resumed_at)
            soon = rules.due_soon_at(calendar, calendar.clock_start(resumed_at), due, window)
            escalate_at = row["escalate_at"]
            if escalate_at is not None and not row["escalated"]:
                escalate_at = rules.escalation_at(
                    calendar, row["kind"], due, self.policy.escalate_after_hours
                )
            next_at = rules.next_fire(
                soon,
                row["due_soon_fired"],
                due,
                row["overdue_fired"],
                escalate_at,
                row["escalated"],
            )
            await conn.execute(
                "UPDATE deadlines SET state = 'open', paused_at = NULL, due_at = $2,"
                " due_soon_at = $3, escalate_at = $4 WHERE id = $1",
                row["id"],
                due,
                soon,
                escalate_at,
            )
            await self._set_timer(conn, row["id"], next_at)

    async def _track(
        self,
        conn: DbConn,
        env: EventEnvelope,
        *,
        current_unit: str | None = None,
        supplement: bool = False,
    ) -> int:
        """Record the dossier's status from a routing event; returns supplement requests."""
        p = env.payload
        status = int(p["status"]) if "status" in p else None
        count: int = await conn.fetchval(
            "INSERT INTO dossiers (dossier_id, dossier_code, status, current_unit,"
            " supplement_count) VALUES ($1, $2, COALESCE($3, 4), $4, $5)"
            " ON CONFLICT (dossier_id) DO UPDATE SET"
            " status = COALESCE($3, dossiers.status),"
            " current_unit = COALESCE($4, dossiers.current_unit),"
            " supplement_count = dossiers.supplement_count + $5"
            " RETURNING supplement_count",
            env.dossier_id,
            p.get("dossier_code"),
            status,
            current_unit,
            1 if supplement else 0,
        )
        return count

    async def _open(
        self,
        conn: DbConn,
        env: EventEnvelope,
        *,
        kind: DeadlineKind,
        task_id: str | None,
        step_name: str | None,
        unit_code: str,
        field_code: str | None,
        starts_at: datetime,
        due_at: datetime,
        due_soon_at: datetime | None,
        allotment: Decimal,
    ) -> None:
        deadline_id = uuid4()
        escalate_at = rules.escalation_at(
            self.calendars.for_unit(unit_code),
            kind.value,
            due_at,
            self.policy.escalate_after_hours,
        )
        next_at = rules.next_fire(due_soon_at, False, due_at, False)
        inserted = await conn.fetchval(
            "INSERT INTO deadlines (id, dossier_id, dossier_code, kind, task_id, unit_code,"
            " field_code, starts_at, allotment_hours, due_at, due_soon_at, step_name,"
            " escalate_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
            " ON CONFLICT DO NOTHING RETURNING true",
            deadline_id,
            env.dossier_id,
            env.payload["dossier_code"],
            kind.value,
            task_id,
            unit_code,
            field_code,
            starts_at,
            allotment,
            due_at,
            due_soon_at,
            step_name,
            escalate_at,
        )
        if not inserted:
            return
        await conn.execute(
            "INSERT INTO timers (deadline_id, next_fire_at, escalated) VALUES ($1, $2, $3)",
            deadline_id,
            next_at,
            escalate_at is None,
        )
        opened = DeadlineOpened(
            dossier_code=env.payload["dossier_code"],
            deadline_id=deadline_id,
            kind=kind,
            task_id=task_id,
            unit_code=unit_code,
            starts_at=starts_at,
            due_at=due_at,
            allotment_hours=allotment,
        )
        await self.rt.publish(
            conn,
            "dossier.sla",
            "deadline.opened",
            env.dossier_id,
            opened.model_dump(mode="json"),
            correlation_id=env.correlation_id,
            causation_id=env.event_id,
        )

    async def _close(
        self, conn: DbConn, where: str, value: Any, ended_at: datetime, supplements: int = 0
    ) -> None:
        rows = await conn.fetch(
            f"SELECT id, kind, unit_code, due_at, state, paused_at FROM deadlines"
            f" WHERE {where} AND state <> 'closed' FOR UPDATE",
            value,
        )
        for row in rows:
            calendar = self.calendars.for_unit(row["unit_code"])
            due = row["due_at"]
            if row["state"] == "paused" and row["paused_at"] is not None:
                # Closed while waiting for the citizen: the paused time does not count.
                due = rules.resumed_due(calendar, due, row["paused_at"], ended_at)
            count = supplements if row["kind"] == "dossier" else 0
            result = rules.outcome(calendar, ended_at, due, count, self.policy.due_soon_hours)
            await conn.execute(
                "UPDATE deadlines SET state = 'closed', closed_at = $2, outcome = $3,"
                " paused_at = NULL, due_at = $4 WHERE id = $1",
                row["id"],
                ended_at,
                result.value,
                due,
            )
            await self._set_timer(conn, row["id"], None)
            if row["kind"] == "dossier":
                await conn.execute(
                    "UPDATE dossiers SET outcome = COALESCE(outcome, $2) WHERE dossier_id = $1",
                    value,
                    result.value,
                )

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
        ids = await self.rt.pool.fetch(
            "SELECT deadline_id AS id FROM timers WHERE next_fire_at <= $1"
            " ORDER BY next_fire_at LIMIT $2",
            now,
            batch,
        )
        for row in ids:
            try:
                fired += await self._fire_batch(now, 1, only=row["id"])
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                log.exception("timer %s set aside", row["id"])
                await self.rt.pool.execute(
                    "UPDATE timers SET next_fire_at = NULL, fire_error = $2 WHERE deadline_id = $1",
                    row["id"],
                    repr(exc)[:2000],
                )
        return fired

    async def run_timers(self, interval: float, stop_at: float | None = None) -> int:
        """The timer loop of an instance: fire what is due; when idle, sleep until the
        next timer falls due (one indexed read), at most ``interval``. Runs until
        ``stop_at`` (``time.time()``), forever without it; returns how many it fired."""
        fired = 0
        while stop_at is None or time.time() < stop_at:
            n = await self.fire_due_timers(datetime.now(UTC))
            fired += n
            if n >= self.policy.timer_batch:
                continue
            upcoming = await self.rt.pool.fetchval(
                "SELECT min(next_fire_at) FROM timers WHERE next_fire_at IS NOT NULL"
            )
            delay = interval
            if upcoming is not None:
                until_due = (upcoming - datetime.now(UTC)).total_seconds()
                delay = min(interval, max(until_due, 0.0) + 0.001)
            await asyncio.sleep(delay)
        return fired

    async def _fire_batch(self, now: datetime, batch: int, only: UUID | None = None) -> int:
        async with self.rt.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT {_TIMER_COLUMNS} FROM timers t JOIN deadlines d ON d.id = t.deadline_id"
                " WHERE t.next_fire_at <= $1 AND ($3::uuid IS NULL OR t.deadline_id = $3)"
                " ORDER BY t.next_fire_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
                now,
                batch,
                only,
            )
            if not rows:
                return 0
            await self.calendars.refresh(conn)
            firings = [self._decide(row, now) for row in rows]
            await conn.execute(
                "UPDATE timers t SET due_soon_fired = u.s, overdue_fired = u.o,"
                " escalated = u.e, next_fire_at = u.n, fired_by = $6"
                " FROM unnest($1::uuid[], $2::bool[], $3::bool[], $4::bool[],"
                " $5::timestamptz[]) AS u(id, s, o, e, n)"
                " WHERE t.deadline_id = u.id",
                [r["id"] for r in rows],
                [f.due_soon_fired for f in firings],
                [f.overdue_fired for f in firings],
                [f.escalated for f in firings],
                [f.next_fire_at for f in firings],
                self.instance,
            )
            envelopes = [
                self._alarm_event(row, f, now) for row, f in zip(rows, firings, strict=True)
            ]
            await self._apologise_where_needed(conn, rows, firings, now, envelopes)
            await self._publish_many(conn, envelopes)
        return len(rows)

    def _decide(self, row: Any, now: datetime) -> rules.Firing:
        state = rules.TimerState(
            kind=row["kind"],
            due_at=row["due_at"],
            due_soon_at=row["due_soon_at"],
            escalate_at=row["escalate_at"],
            due_soon_fired=row["due_soon_fired"],
            overdue_fired=row["overdue_fired"],
            escalated=row["escalated"],
        )
        return rules.fire(state, now)

    def _alarm_event(self, row: Any, firing: rules.Firing, now: datetime) -> Outgoing:
        payload: dict[str, Any]
        if firing.alarm is rules.Alarm.ESCALATED:
            calendar = self.calendars.for_unit(row["unit_code"])
            payload = StepEscalated(
                dossier_code=row["dossier_code"],
                deadline_id=row["id"],
                task_id=row["task_id"],
                unit_code=row["unit_code"],
                supervisor_unit=self.directory.unit_parents.get(row["unit_code"]),
                due_at=row["due_at"].astimezone(VN_TZ),
                overdue_working_hours=calendar.working_hours_between(row["due_at"], now),
            ).model_dump(mode="json")
        else:
            # The hot path (every timer): a DeadlineAlert built by hand, no validation
            # round trip; tests check it against the contract model.
            payload = {
                "dossier_code": row["dossier_code"],
                "deadline_id": str(row["id"]),
                "kind": row["kind"],
                "task_id": row["task_id"],
                "unit_code": row["unit_code"],
                "due_at": row["due_at"].astimezone(VN_TZ).isoformat(),
            }
        return self._outgoing(firing.alarm.value, row["dossier_id"], payload)

    def _outgoing(self, event_type: str, dossier_id: UUID, payload: dict[str, Any]) -> Outgoing:
        """An ``EventEnvelope`` serialised for the outbox."""
        event_id = uuid4()
        envelope = {
            "event_id": str(event_id),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "dossier_id": str(dossier_id),
            "sequence": 0,
            "correlation_id": str(dossier_id),
            "causation_id": None,
            "producer": self.rt.settings.service_name,
            "payload": payload,
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return Outgoing(dossier_id, event_id, event_type, body)

    async def _publish_many(self, conn: DbConn, events: Sequence[Outgoing]) -> None:
        """Outbox rows for a whole batch in one statement, one wake-up for the relay."""
        topic = self.rt.topic("dossier.sla")
        records = [
            OutboxRecord(topic, str(e.dossier_id), e.event_id, e.event_type, e.body) for e in events
        ]
        await append_records(conn, self.rt.schema, records, current_trace_headers())

    # ------------------------------------------------------------------ apologies

    async def _apologise_where_needed(
        self,
        conn: DbConn,
        rows: Sequence[Any],
        firings: Sequence[rules.Firing],
        now: datetime,
        out: list[Outgoing],
    ) -> None:
        candidates: dict[UUID, tuple[Any, rules.Firing]] = {}
        for row, firing in zip(rows, firings, strict=True):
            interesting = firing.alarm is rules.Alarm.STEP_OVERDUE or (
                row["kind"] == "dossier"
                and firing.alarm in (rules.Alarm.DUE_SOON, rules.Alarm.DOSSIER_OVERDUE)
            )
            if interesting and row["dossier_id"] not in candidates:
                candidates[row["dossier_id"]] = (row, firing)
        if not candidates:
            return
        dossiers = await conn.fetch(
            "SELECT d.id, d.dossier_id, d.dossier_code, d.unit_code, d.due_at, d.due_soon_at,"
            " d.state, x.procedure_code, x.contact_ref"
            " FROM deadlines d LEFT JOIN dossiers x USING (dossier_id)"
            " WHERE d.dossier_id = ANY($1::uuid[]) AND d.kind = 'dossier'"
            " AND NOT EXISTS (SELECT 1 FROM apologies a WHERE a.dossier_id = d.dossier_id)",
            list(candidates),
        )
        for dossier in dossiers:
            if dossier["state"] == "closed":
                continue
            row, firing = candidates[dossier["dossier_id"]]
            culprit: Any = None
            if firing.alarm is rules.Alarm.STEP_OVERDUE:
                soon = dossier["due_soon_at"]
                if soon is not None and now < soon and now < dossier["due_at"]:
                    continue  # the step is late but the appointment can still be kept
                culprit = row
            else:
                culprit = await conn.fetchrow(
                    "SELECT d.unit_code, d.step_name, d.due_at, d.closed_at FROM deadlines d"
                    " JOIN timers t ON t.deadline_id = d.id"
                    " WHERE d.dossier_id = $1 AND d.kind = 'step'"
                    " AND (t.overdue_fired OR d.outcome = 'late') ORDER BY d.due_at LIMIT 1",
                    dossier["dossier_id"],
                )
                if culprit is None and firing.alarm is rules.Alarm.DUE_SOON:
                    continue  # no unit overran its own allotment (yet)
                if culprit is None:
                    culprit = await conn.fetchrow(
                        "SELECT unit_code, step_name, due_at, closed_at FROM deadlines"
                        " WHERE dossier_id = $1 AND kind = 'step' AND state <> 'closed'"
                        " ORDER BY starts_at DESC LIMIT 1",
                        dossier["dossier_id"],
                    )
            envelope = await self._issue_apology(conn, dossier, culprit, now)
            if envelope is not None:
                out.append(envelope)

    async def _issue_apology(
        self, conn: DbConn, dossier: Any, culprit: Any, now: datetime
    ) -> Outgoing | None:
        unit = culprit["unit_code"] if culprit is not None else dossier["unit_code"]
        step_name = culprit["step_name"] if culprit is not None else None
        overdue: Decimal | None = None
        if culprit is not None:
            end = culprit["closed_at"] or now
            overdue = self.calendars.for_unit(unit).working_hours_between(culprit["due_at"], end)
        unit_name = self.directory.unit_name(unit)
        old = dossier["due_at"].astimezone(VN_TZ)
        new = self.calendars.for_unit(dossier["unit_code"]).add_working_hours(
            max(old, now), self.policy.apology_extension_hours
        )
        procedure = dossier["procedure_code"]
        letter = ApologyLetter(
            id=uuid4(),
            dossier_id=dossier["dossier_id"],
            dossier_code=dossier["dossier_code"],
            procedure_code=procedure,
            procedure_name=self.directory.procedure_names.get(procedure or ""),
            contact_ref=dossier["contact_ref"],
            reason=reason_text(step_name, unit_name, overdue),
            responsible_unit=unit,
            responsible_unit_name=unit_name,
            step_name=step_name,
            old_appointment_at=old,
            new_appointment_at=new,
            signed_by_title=f"Thủ trưởng {unit_name}",
            issued_at=now.astimezone(VN_TZ),
        )
        inserted = await conn.fetchval(
            "INSERT INTO apologies (id, dossier_id, letter) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (dossier_id) DO NOTHING RETURNING true",
            letter.id,
            letter.dossier_id,
            letter.model_dump_json(),
        )
        if not inserted:
            return None
        await conn.execute(
            "INSERT INTO extensions (dossier_id, old_appointment_at, new_appointment_at,"
            " letter_id) VALUES ($1, $2, $3, $4)",
            letter.dossier_id,
            old,
            new,
            letter.id,
        )
        payload = ApologyIssued(
            dossier_code=letter.dossier_code,
            responsible_unit=unit,
            reason=letter.reason,
            old_appointment_at=old,
            new_appointment_at=new,
            letter_id=letter.id,
        ).model_dump(mode="json")
        return self._outgoing("apology.issued", letter.dossier_id, payload)
