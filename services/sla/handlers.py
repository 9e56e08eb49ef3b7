"""SLA's use cases: open, pause, resume and close deadlines; fire due timers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from contracts.envelope import EventEnvelope
from contracts.events import DeadlineAlert, DeadlineKind, DeadlineOpened
from services.runtime.db import DbConn
from services.runtime.service import Runtime
from services.sla.adapters.calendars import CalendarBook
from services.sla.domain import deadlines as rules


class SlaHandlers:
    def __init__(self, rt: Runtime, calendars: CalendarBook) -> None:
        self.rt = rt
        self.calendars = calendars

    async def on_received(self, conn: DbConn, env: EventEnvelope) -> None:
        p = env.payload
        calendar = self.calendars.for_unit(p["receiving_unit"])
        starts = datetime.fromisoformat(p["clock_started_at"])
        due = datetime.fromisoformat(p["appointment_at"])
        await self._open(
            conn,
            env,
            kind=DeadlineKind.DOSSIER,
            task_id=None,
            unit_code=p["receiving_unit"],
            field_code=p.get("field_code"),
            starts_at=starts,
            due_at=due,
            due_soon_at=rules.due_soon_at(calendar, starts, due),
            allotment=Decimal(str(p["legal_hours"])),
        )

    async def on_step_assigned(self, conn: DbConn, env: EventEnvelope) -> None:
        p = env.payload
        calendar = self.calendars.for_unit(p["unit_code"])
        allotment = Decimal(str(p["allotment_hours"]))
        plan = rules.schedule(calendar, datetime.fromisoformat(p["at"]), allotment)
        await self._open(
            conn,
            env,
            kind=DeadlineKind.STEP,
            task_id=str(p["task_id"]),
            unit_code=p["unit_code"],
            field_code=None,
            starts_at=plan.starts_at,
            due_at=plan.due_at,
            due_soon_at=plan.due_soon_at,
            allotment=allotment,
        )

    async def on_step_done(self, conn: DbConn, env: EventEnvelope) -> None:
        p = env.payload
        await self._close(conn, "task_id = $1", str(p["task_id"]), datetime.fromisoformat(p["at"]))

    async def on_dossier_closed(self, conn: DbConn, env: EventEnvelope) -> None:
        at = datetime.fromisoformat(env.payload["at"])
        await self._close(conn, "dossier_id = $1", env.dossier_id, at)

    async def on_paused(self, conn: DbConn, env: EventEnvelope) -> None:
        await conn.execute(
            "UPDATE deadlines SET state = 'paused', paused_at = $2, next_fire_at = NULL"
            " WHERE dossier_id = $1 AND state = 'open'",
            env.dossier_id,
            datetime.fromisoformat(env.payload["at"]),
        )

    async def on_resumed(self, conn: DbConn, env: EventEnvelope) -> None:
        resumed_at = datetime.fromisoformat(env.payload["at"])
        rows = await conn.fetch(
            "SELECT * FROM deadlines WHERE dossier_id = $1 AND state = 'paused' FOR UPDATE",
            env.dossier_id,
        )
        for row in rows:
            calendar = self.calendars.for_unit(row["unit_code"])
            due = rules.resumed_due(calendar, row["due_at"], row["paused_at"], resumed_at)
            soon = rules.due_soon_at(calendar, calendar.clock_start(resumed_at), due)
            await conn.execute(
                "UPDATE deadlines SET state = 'open', paused_at = NULL, due_at = $2,"
                " due_soon_at = $3, next_fire_at = $4 WHERE id = $1",
                row["id"],
                due,
                soon,
                rules.next_fire(soon, row["due_soon_fired"], due, row["overdue_fired"]),
            )

    async def _open(
        self,
        conn: DbConn,
        env: EventEnvelope,
        *,
        kind: DeadlineKind,
        task_id: str | None,
        unit_code: str,
        field_code: str | None,
        starts_at: datetime,
        due_at: datetime,
        due_soon_at: datetime | None,
        allotment: Decimal,
    ) -> None:
        deadline_id = uuid4()
        inserted = await conn.fetchval(
            "INSERT INTO deadlines (id, dossier_id, dossier_code, kind, task_id, unit_code,"
            " field_code, starts_at, allotment_hours, due_at, due_soon_at, next_fire_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT DO NOTHING"
            " RETURNING true",
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
            rules.next_fire(due_soon_at, False, due_at, False),
        )
        if not inserted:
            return
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

    async def _close(self, conn: DbConn, where: str, value: Any, ended_at: datetime) -> None:
        rows = await conn.fetch(
            f"SELECT id, unit_code, due_at FROM deadlines WHERE {where} AND state <> 'closed'"
            " FOR UPDATE",
            value,
        )
        for row in rows:
            calendar = self.calendars.for_unit(row["unit_code"])
            result = rules.outcome(calendar, ended_at, row["due_at"])
            await conn.execute(
                "UPDATE deadlines SET state = 'closed', closed_at = $2, outcome = $3,"
                " next_fire_at = NULL WHERE id = $1",
                row["id"],
                ended_at,
                result.value,
            )

    async def fire_due_timers(self, now: datetime, limit: int = 1000) -> int:
        """Fire every timer due by ``now``; SKIP LOCKED lets any number of instances share."""
        async with self.rt.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM deadlines WHERE next_fire_at <= $1"
                " ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
            )
            for row in rows:
                await self._fire(conn, row)
        return len(rows)

    async def _fire(self, conn: DbConn, row: Any) -> None:
        warning = row["due_soon_at"] is not None and not row["due_soon_fired"]
        if warning:
            event_type = "deadline.due_soon"
            soon_fired, overdue_fired = True, row["overdue_fired"]
        else:
            event_type = "step.overdue" if row["kind"] == "step" else "dossier.overdue"
            soon_fired, overdue_fired = row["due_soon_fired"], True
        await conn.execute(
            "UPDATE deadlines SET due_soon_fired = $2, overdue_fired = $3, next_fire_at = $4"
            " WHERE id = $1",
            row["id"],
            soon_fired,
            overdue_fired,
            rules.next_fire(row["due_soon_at"], soon_fired, row["due_at"], overdue_fired),
        )
        alert = DeadlineAlert(
            dossier_code=row["dossier_code"],
            deadline_id=row["id"],
            kind=DeadlineKind(row["kind"]),
            task_id=row["task_id"],
            unit_code=row["unit_code"],
            due_at=row["due_at"],
        )
        await self.rt.publish(
            conn, "dossier.sla", event_type, row["dossier_id"], alert.model_dump(mode="json")
        )
