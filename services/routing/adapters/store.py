"""PostgreSQL side of routing: instances, their event log, inboxes, audit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from services.routing.domain import events as ev
from services.routing.domain.state import DossierState, StepPhase
from services.runtime.db import DbConn


async def load_for_update(conn: DbConn, dossier_id: UUID) -> tuple[DossierState, str] | None:
    row = await conn.fetchrow(
        "SELECT state, dossier_code FROM instances WHERE dossier_id = $1 FOR UPDATE", dossier_id
    )
    if row is None:
        return None
    return DossierState.model_validate_json(row["state"]), row["dossier_code"]


async def save(
    conn: DbConn, state: DossierState, dossier_code: str, new_events: list[ev.Event]
) -> None:
    await conn.execute(
        "INSERT INTO instances (dossier_id, dossier_code, procedure_code, status, version, state)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (dossier_id) DO UPDATE"
        " SET status = $4, version = $5, state = $6::jsonb, updated_at = now()",
        UUID(state.dossier_id),
        dossier_code,
        state.procedure_code,
        int(state.status),
        state.version,
        state.model_dump_json(),
    )
    first_seq = state.version - len(new_events) + 1
    await conn.executemany(
        "INSERT INTO instance_events (dossier_id, seq, type, at, event) VALUES ($1,$2,$3,$4,$5)",
        [
            (UUID(state.dossier_id), first_seq + i, e.type, e.at, e.model_dump_json())
            for i, e in enumerate(new_events)
        ],
    )


def _inbox_status(phase: StepPhase, claimed_by: str | None) -> str:
    if phase is StepPhase.OPEN:
        return "claimed" if claimed_by else "open"
    if phase is StepPhase.DONE or phase is StepPhase.PENDING:
        return "done"
    return "waiting"


async def sync_inbox(
    conn: DbConn, state: DossierState, dossier_code: str, replaced: bool = True
) -> None:
    """Make every task row agree with the state (the queue projector only inserts).

    One pipelined statement for all of the dossier's tasks; a row whose status and
    claimant already agree is left alone (no write, no new row version)."""
    rows = [
        (
            task_id,
            UUID(state.dossier_id),
            dossier_code,
            state.procedure_code,
            run.step_id,
            run.unit_code,
            (run.queue_level.value if run.queue_level else "department"),
            _inbox_status(run.phase, run.claimed_by),
            run.claimed_by,
            run.allotment_hours,
            run.started_at or state.received_at,
        )
        for run in state.steps.values()
        if (task_id := run.task_id or run.correlation_id) is not None and run.unit_code is not None
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO inbox (task_id, dossier_id, dossier_code, procedure_code, step_id,"
            " unit_code, queue_level, status, claimed_by, allotment_hours, assigned_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (task_id) DO UPDATE SET status = $8, claimed_by = $9, updated_at = now()"
            " WHERE inbox.status IS DISTINCT FROM $8 OR inbox.claimed_by IS DISTINCT FROM $9",
            rows,
        )
    # A task whose run was replaced (sent back by a return, or an agency request taken
    # over by hand) is finished: it must not linger open in anyone's inbox.
    await conn.execute(
        "UPDATE inbox SET status = 'done', updated_at = now()"
        " WHERE dossier_id = $1 AND status <> 'done' AND NOT (task_id = ANY($2::text[]))",
        UUID(state.dossier_id),
        [row[0] for row in rows],
    )
    if state.is_terminal or int(state.status) in (5, 6):
        # Waiting for the citizen or closed: nothing stays open in any inbox.
        await conn.execute(
            "UPDATE inbox SET status = CASE WHEN $2 THEN 'done' ELSE 'waiting' END,"
            " updated_at = now() WHERE dossier_id = $1 AND status IN ('open', 'claimed')",
            UUID(state.dossier_id),
            state.is_terminal,
        )


async def audit(
    conn: DbConn,
    *,
    dossier_id: UUID,
    task_id: str | None,
    actor: str,
    role: str,
    unit_code: str | None,
    action: str,
    at: datetime,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO audit (dossier_id, task_id, actor, role, unit_code, action, at, details)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb)",
        dossier_id,
        task_id,
        actor,
        role,
        unit_code,
        action,
        at,
        json.dumps(details, ensure_ascii=False, default=str),
    )


async def task_row(conn: DbConn, task_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM inbox WHERE task_id = $1", task_id)
    return dict(row) if row is not None else None
