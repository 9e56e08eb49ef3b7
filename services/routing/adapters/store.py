"""PostgreSQL side of routing: instances, their event log, inboxes, audit.

Writes are set-based: a batch of decisions (one dossier each, or a single operator
action) is saved with a fixed handful of statements whatever its size."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.events import DossierStatus
from services.routing.domain import events as ev
from services.routing.domain.state import DossierState, StepPhase
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, outbox_channel, outbox_columns, outbox_insert


@dataclass(frozen=True)
class AuditEntry:
    dossier_id: UUID
    task_id: str | None
    actor: str
    role: str
    unit_code: str | None
    action: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One dossier's decision, as it is saved: the new state, the core's new events (the
    state's last ``len(events)`` versions) and the audit line of the command."""

    state: DossierState
    dossier_code: str
    events: Sequence[ev.Event]
    audit: AuditEntry


async def load_for_update(conn: DbConn, dossier_id: UUID) -> tuple[DossierState, str] | None:
    row = await conn.fetchrow(
        "SELECT state, dossier_code FROM instances WHERE dossier_id = $1 FOR UPDATE", dossier_id
    )
    if row is None:
        return None
    return DossierState.model_validate_json(row["state"]), row["dossier_code"]


_LOAD_TASK = (
    "SELECT b.unit_code, i.state, i.dossier_code FROM inbox b"
    " JOIN instances i USING (dossier_id) WHERE b.task_id = $1"
)


async def load_task(
    conn: DbConn, task_id: str, *, for_update: bool = False
) -> tuple[str, DossierState, str] | None:
    """(the task's unit, its dossier's state, the dossier code) in one round trip for an
    operator's action on a task; ``for_update`` locks the dossier until the transaction
    ends (without it, save with ``if_version``)."""
    row = await conn.fetchrow(_LOAD_TASK + (" FOR UPDATE OF i" if for_update else ""), task_id)
    if row is None:
        return None
    return row["unit_code"], DossierState.model_validate_json(row["state"]), row["dossier_code"]


async def started(conn: DbConn, dossier_ids: Sequence[UUID]) -> set[UUID]:
    """Which of these dossiers routing already runs (one statement for a batch)."""
    rows = await conn.fetch(
        "SELECT dossier_id FROM instances WHERE dossier_id = ANY($1::uuid[])", list(dossier_ids)
    )
    return {row["dossier_id"] for row in rows}


_TASK_COLUMNS = (
    "task_id, dossier_id, dossier_code, procedure_code, step_id, unit_code, queue_level,"
    " status, claimed_by, allotment_hours, assigned_at"
)
_INSTANCE_ROWS = (
    "unnest($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::int[], $6::jsonb[])"
)
# A caller holding its dossiers' locks (or starting them) writes whatever it decided.
_UPSERT_INSTANCES = (
    "INSERT INTO instances (dossier_id, dossier_code, procedure_code, status, version, state)"
    f" SELECT * FROM {_INSTANCE_ROWS}"
    " ON CONFLICT (dossier_id) DO UPDATE SET status = EXCLUDED.status,"
    " version = EXCLUDED.version, state = EXCLUDED.state, updated_at = now()"
    " RETURNING dossier_id"
)
# One that read its dossier without a lock writes only if it is still at that version
# ($39); the rest of the statement then writes nothing either.
_UPDATE_IF_VERSION = (
    "UPDATE instances i SET status = u.status, version = u.version, state = u.state,"
    f" updated_at = now() FROM {_INSTANCE_ROWS}"
    " AS u(dossier_id, dossier_code, procedure_code, status, version, state)"
    " WHERE i.dossier_id = u.dossier_id AND i.version = $39::int RETURNING i.dossier_id"
)
_IF_SAVED = "WHERE EXISTS (SELECT 1 FROM saved)"


def _save_statement(saved: str) -> str:
    return (
        f"WITH saved AS ({saved}),"
        " logged AS (INSERT INTO instance_events (dossier_id, seq, type, at, event)"
        " SELECT * FROM unnest($7::uuid[], $8::int[], $9::text[], $10::timestamptz[],"
        f" $11::jsonb[]) {_IF_SAVED}),"
        " audited AS (INSERT INTO audit (dossier_id, task_id, actor, role, unit_code, action,"
        " at, details) SELECT * FROM unnest($12::uuid[], $13::text[], $14::text[], $15::text[],"
        f" $16::text[], $17::text[], $18::timestamptz[], $19::jsonb[]) {_IF_SAVED}),"
        f" added AS ({outbox_insert(20, _IF_SAVED)}),"
        " task AS (SELECT * FROM unnest($27::text[], $28::uuid[], $29::text[], $30::text[],"
        " $31::text[], $32::text[], $33::text[], $34::text[], $35::text[], $36::numeric[],"
        f" $37::timestamptz[]) AS t({_TASK_COLUMNS}) {_IF_SAVED}),"
        # A task whose run was replaced (sent back by a return, or an agency request taken
        # over by hand) is finished: it must not linger open in anyone's inbox.
        " replaced AS (UPDATE inbox SET status = 'done', updated_at = now()"
        " WHERE dossier_id = ANY($38::uuid[]) AND status <> 'done'"
        " AND task_id NOT IN (SELECT task_id FROM task) AND EXISTS (SELECT 1 FROM saved)),"
        f" synced AS (INSERT INTO inbox ({_TASK_COLUMNS}) SELECT * FROM task"
        " ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status,"
        " claimed_by = EXCLUDED.claimed_by, updated_at = now()"
        " WHERE inbox.status IS DISTINCT FROM EXCLUDED.status"
        " OR inbox.claimed_by IS DISTINCT FROM EXCLUDED.claimed_by)"
        # Every CTE above runs whatever this reads; the relay is woken if a record was added.
        " SELECT (SELECT count(*) FROM saved),"
        " (SELECT count(*) FROM (SELECT pg_notify($26, '') FROM added LIMIT 1) AS woken)"
    )


_SAVE = _save_statement(_UPSERT_INSTANCES)
_SAVE_IF_VERSION = _save_statement(_UPDATE_IF_VERSION)


async def save_changes(
    conn: DbConn,
    changes: Sequence[Change],
    records: Sequence[OutboxRecord],
    headers: Mapping[str, str],
    schema: str,
    *,
    if_version: int | None = None,
) -> bool:
    """Every state, its new events, its audit line, the outgoing records (``headers`` for
    those without their own) and the task rows of the dossiers' inboxes, in one
    statement. With ``if_version`` (one change, its dossier read without a lock) nothing
    is written unless the dossier is still at that version. Answers whether it was."""
    if not changes:
        return True
    assert if_version is None or len(changes) == 1
    ids, codes, procedures, statuses, versions, states = [], [], [], [], [], []
    e_ids, e_seqs, e_types, e_ats, e_bodies = [], [], [], [], []
    for change in changes:
        state = change.state
        dossier_id = UUID(state.dossier_id)
        ids.append(dossier_id)
        codes.append(change.dossier_code)
        procedures.append(state.procedure_code)
        statuses.append(int(state.status))
        versions.append(state.version)
        states.append(state.model_dump_json())
        first_seq = state.version - len(change.events) + 1
        for i, event in enumerate(change.events):
            e_ids.append(dossier_id)
            e_seqs.append(first_seq + i)
            e_types.append(event.type)
            e_ats.append(event.at)
            e_bodies.append(event.model_dump_json())
    entries = [change.audit for change in changes]
    guarded = [] if if_version is None else [if_version]
    saved = await conn.fetchval(
        _SAVE if if_version is None else _SAVE_IF_VERSION,
        ids,
        codes,
        procedures,
        statuses,
        versions,
        states,
        e_ids,
        e_seqs,
        e_types,
        e_ats,
        e_bodies,
        *_audit_columns(entries),
        *outbox_columns(records, headers),
        outbox_channel(schema),
        *_task_columns(changes),
        list(dict.fromkeys(ids)),
        *guarded,
    )
    return bool(saved)


def _audit_columns(entries: Sequence[AuditEntry]) -> list[list[Any]]:
    return [
        [e.dossier_id for e in entries],
        [e.task_id for e in entries],
        [e.actor for e in entries],
        [e.role for e in entries],
        [e.unit_code for e in entries],
        [e.action for e in entries],
        [e.at for e in entries],
        [json.dumps(e.details, ensure_ascii=False, default=str) for e in entries],
    ]


# Waiting for the citizen (papers to supplement, fees to pay): the clock is theirs.
_CITIZENS_TURN = (DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.FINANCIAL_OBLIGATION)


def _inbox_status(state: DossierState, phase: StepPhase, claimed_by: str | None) -> str:
    if phase is StepPhase.DONE or phase is StepPhase.PENDING:
        return "done"
    if phase is not StepPhase.OPEN:
        return "waiting"
    # Waiting for the citizen or closed: nothing stays open in any inbox.
    if state.is_terminal:
        return "done"
    if state.status in _CITIZENS_TURN:
        return "waiting"
    return "claimed" if claimed_by else "open"


def _task_columns(changes: Sequence[Change]) -> list[list[Any]]:
    """The inbox rows these dossiers' states call for, as ``_SAVE``'s arrays: a task
    once, as its dossier's last state says. A row whose status and claimant already agree
    is left alone by the statement (no write, no new row version); the queue projector
    only inserts."""
    rows: dict[str, tuple[Any, ...]] = {}
    for change in changes:
        state = change.state
        for run in state.steps.values():
            task_id = run.task_id or run.correlation_id
            if task_id is None or run.unit_code is None:
                continue
            rows[task_id] = (
                task_id,
                UUID(state.dossier_id),
                change.dossier_code,
                state.procedure_code,
                run.step_id,
                run.unit_code,
                (run.queue_level.value if run.queue_level else "department"),
                _inbox_status(state, run.phase, run.claimed_by),
                run.claimed_by,
                run.allotment_hours,
                run.started_at or state.received_at,
            )
    return [list(column) for column in zip(*rows.values(), strict=True)] or [[]] * 11


async def open_external_waits(conn: DbConn, waits: Sequence[tuple[str, UUID, datetime]]) -> None:
    """(correlation id, dossier, timeout) of agency requests now awaited."""
    if waits:
        await conn.execute(
            "INSERT INTO external_waits (correlation_id, dossier_id, timeout_at)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])"
            " ON CONFLICT DO NOTHING",
            [w[0] for w in waits],
            [w[1] for w in waits],
            [w[2] for w in waits],
        )


async def close_external_waits(conn: DbConn, correlation_ids: Sequence[str]) -> None:
    if correlation_ids:
        await conn.execute(
            "UPDATE external_waits SET answered = true WHERE correlation_id = ANY($1::text[])",
            list(correlation_ids),
        )


async def due_external_waits(conn: DbConn, now: datetime, limit: int) -> list[tuple[str, UUID]]:
    rows = await conn.fetch(
        "SELECT correlation_id, dossier_id FROM external_waits"
        " WHERE NOT answered AND timeout_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [(row["correlation_id"], row["dossier_id"]) for row in rows]


async def audit(conn: DbConn, entries: Sequence[AuditEntry]) -> None:
    """Audit lines written apart from a state change (SLA's alerts, refused actions)."""
    if entries:
        await conn.execute(
            "INSERT INTO audit (dossier_id, task_id, actor, role, unit_code, action, at, details)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::timestamptz[], $8::jsonb[])",
            *_audit_columns(entries),
        )


async def set_due(conn: DbConn, dues: Sequence[tuple[str, datetime]]) -> None:
    """SLA's step deadlines onto their tasks: (task id, due at)."""
    if dues:
        await conn.execute(
            "UPDATE inbox SET due_at = d.due_at FROM unnest($1::text[], $2::timestamptz[])"
            " AS d(task_id, due_at) WHERE inbox.task_id = d.task_id",
            [d[0] for d in dues],
            [d[1] for d in dues],
        )


async def flag_overdue(conn: DbConn, flags: Mapping[str, bool]) -> None:
    """Set or clear tasks' overdue flags: task id -> overdue."""
    if flags:
        await conn.execute(
            "UPDATE inbox SET overdue = f.overdue FROM unnest($1::text[], $2::bool[])"
            " AS f(task_id, overdue) WHERE inbox.task_id = f.task_id",
            list(flags),
            list(flags.values()),
        )


async def task_row(conn: DbConn, task_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM inbox WHERE task_id = $1", task_id)
    return dict(row) if row is not None else None
