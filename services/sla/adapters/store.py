"""SLA's state in PostgreSQL: load the dossiers a batch needs in one query, save what
the core changed with set-based statements (``unnest``), one per table.

Consumers serialise per dossier with a transaction-scoped advisory lock taken before
the load (two topics feed one dossier, so two instances may hold its events), and
lock the dossiers' timer rows, so the timer job (``FOR UPDATE SKIP LOCKED``) skips a
dossier being changed and a consumer waits for a firing in progress and sees its flags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.events import DeadlineKind, DossierRated
from services.runtime.db import DbConn
from services.sla.domain.apology import ApologyLetter
from services.sla.domain.deadlines import Outcome
from services.sla.domain.model import Deadline, Dossier, DossierSla, Phase, Timer
from services.sla.domain.reports import RatingFacts

_LOCK = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
    " hashtextextended('sla.dossier:' || id::text, 0) AS k FROM unnest($1::uuid[]) AS id"
    " ORDER BY k) AS s"
)

_DOSSIER_COLUMNS = (
    "dossier_code, procedure_code, field_code, receiving_unit, channel, received_at,"
    " appointment_at, contact_ref, status, supplement_count, paused_at, ended_at,"
    " end_status, returned_at, outcome, current_unit"
)
# One row per deadline of each dossier (one row with no deadline for a dossier without
# any), the dossier's facts and apology flag repeated: flat rows decode fastest.
_LOAD_SELECT = (
    "SELECT i.id, x.dossier_id IS NOT NULL AS known,"
    f" {', '.join('x.' + c.strip() for c in _DOSSIER_COLUMNS.split(','))},"
    " EXISTS (SELECT 1 FROM apologies a WHERE a.dossier_id = i.id) AS apologised,"
    " d.id AS d_id, d.kind, d.dossier_code AS d_code, d.task_id, d.unit_code, d.step_name,"
    " d.field_code AS d_field, d.starts_at, d.allotment_hours, d.due_at, d.due_soon_at,"
    " d.escalate_at, d.state, d.paused_at AS d_paused, d.closed_at, d.outcome AS d_outcome,"
    " t.deadline_id AS t_id, t.next_fire_at, t.due_soon_fired, t.overdue_fired, t.escalated"
    " FROM unnest($1::uuid[]) AS i(id)"
    " LEFT JOIN dossiers x ON x.dossier_id = i.id"
    " LEFT JOIN deadlines d ON d.dossier_id = i.id"
)
_LOAD = _LOAD_SELECT + " LEFT JOIN timers t ON t.deadline_id = d.id ORDER BY d.created_at, d.id"
# The same, locking the dossiers' timer rows first (a consumer's load).
_LOAD_FOR_UPDATE = (
    "WITH t AS MATERIALIZED (SELECT t.* FROM timers t JOIN deadlines d ON d.id = t.deadline_id"
    " WHERE d.dossier_id = ANY($1::uuid[]) ORDER BY t.deadline_id FOR UPDATE OF t) "
    + _LOAD_SELECT
    + " LEFT JOIN t ON t.deadline_id = d.id ORDER BY d.created_at, d.id"
)

_UPSERT_DOSSIERS = (
    f"INSERT INTO dossiers (dossier_id, {_DOSSIER_COLUMNS})"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::int[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int[], $11::int[],"
    " $12::timestamptz[], $13::timestamptz[], $14::int[], $15::timestamptz[], $16::text[],"
    " $17::text[])"
    " ON CONFLICT (dossier_id) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _DOSSIER_COLUMNS.split(","))
)
_INSERT_DEADLINES = (
    "WITH added AS (INSERT INTO deadlines (id, dossier_id, dossier_code, kind, task_id,"
    " unit_code, field_code, starts_at, allotment_hours, due_at, due_soon_at, step_name,"
    " escalate_at, state, paused_at, closed_at, outcome)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::timestamptz[], $9::numeric[], $10::timestamptz[],"
    " $11::timestamptz[], $12::text[], $13::timestamptz[], $14::text[], $15::timestamptz[],"
    " $16::timestamptz[], $17::text[])"
    " ON CONFLICT DO NOTHING RETURNING id)"
    " INSERT INTO timers (deadline_id, next_fire_at, due_soon_fired, overdue_fired, escalated)"
    " SELECT u.id, u.n, u.s, u.o, u.e FROM unnest($1::uuid[], $18::timestamptz[], $19::bool[],"
    " $20::bool[], $21::bool[]) AS u(id, n, s, o, e) JOIN added USING (id)"
    " RETURNING deadline_id"
)
_UPDATE_DEADLINES = (
    "UPDATE deadlines d SET state = u.state, paused_at = u.paused_at, closed_at = u.closed_at,"
    " outcome = u.outcome, due_at = u.due_at, due_soon_at = u.due_soon_at,"
    " escalate_at = u.escalate_at"
    " FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],"
    " $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])"
    " AS u(id, state, paused_at, closed_at, outcome, due_at, due_soon_at, escalate_at)"
    " WHERE d.id = u.id"
)
_UPDATE_TIMERS = (
    "UPDATE timers t SET next_fire_at = u.n, due_soon_fired = u.s, overdue_fired = u.o,"
    " escalated = u.e, fired_by = COALESCE($6::text, t.fired_by)"
    " FROM unnest($1::uuid[], $2::timestamptz[], $3::bool[], $4::bool[], $5::bool[])"
    " AS u(id, n, s, o, e) WHERE t.deadline_id = u.id"
)
_ADD_APOLOGIES = (
    "WITH added AS (INSERT INTO apologies (id, dossier_id, letter)"
    " SELECT u.id, u.d, u.l::jsonb FROM unnest($1::uuid[], $2::uuid[], $3::text[])"
    " AS u(id, d, l) ON CONFLICT DO NOTHING RETURNING id),"
    " extended AS (INSERT INTO extensions (dossier_id, old_appointment_at,"
    " new_appointment_at, letter_id)"
    " SELECT u.d, u.o, u.n, u.id FROM unnest($1::uuid[], $2::uuid[], $4::timestamptz[],"
    " $5::timestamptz[]) WITH ORDINALITY AS u(id, d, o, n, k) JOIN added USING (id)"
    " ORDER BY u.k)"
    " SELECT id FROM added"
)
_LOCK_DUE = (
    "SELECT t.deadline_id, d.dossier_id FROM timers t JOIN deadlines d ON d.id = t.deadline_id"
    " WHERE t.next_fire_at <= $1 AND ($3::uuid IS NULL OR t.deadline_id = $3)"
    " ORDER BY t.next_fire_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED"
)


# --------------------------------------------------------------------------- loading


async def lock_dossiers(conn: DbConn, dossier_ids: Sequence[UUID]) -> None:
    """Hold each dossier until the transaction ends (in one order: no deadlock)."""
    await conn.execute(_LOCK, list(dossier_ids))


async def load(
    conn: DbConn, dossier_ids: Sequence[UUID], *, for_update: bool = False
) -> dict[UUID, DossierSla]:
    """The SLA state of each dossier (an empty state for one SLA never heard of)."""
    rows = await conn.fetch(_LOAD_FOR_UPDATE if for_update else _LOAD, list(dossier_ids))
    facts: dict[UUID, asyncpg.Record] = {}
    deadlines: dict[UUID, list[Deadline]] = {}
    for row in rows:
        facts.setdefault(row["id"], row)
        found = deadlines.setdefault(row["id"], [])
        if row["d_id"] is not None:
            found.append(_deadline(row))
    return {
        dossier_id: DossierSla(
            dossier_id=dossier_id,
            dossier=_dossier(row) if row["known"] else None,
            deadlines=tuple(deadlines[dossier_id]),
            apologised=row["apologised"],
        )
        for dossier_id, row in facts.items()
    }


# The enums by their stored text: a dict look-up, not an Enum call, per row loaded.
_KINDS = {k.value: k for k in DeadlineKind}
_PHASES = {p.value: p for p in Phase}
_OUTCOMES = {o.value: o for o in Outcome}


def _dossier(row: asyncpg.Record) -> Dossier:
    outcome = row["outcome"]
    return Dossier(
        dossier_code=row["dossier_code"],
        procedure_code=row["procedure_code"],
        field_code=row["field_code"],
        receiving_unit=row["receiving_unit"],
        channel=row["channel"],
        received_at=row["received_at"],
        appointment_at=row["appointment_at"],
        contact_ref=row["contact_ref"],
        status=row["status"],
        supplement_count=row["supplement_count"],
        paused_at=row["paused_at"],
        ended_at=row["ended_at"],
        end_status=row["end_status"],
        returned_at=row["returned_at"],
        outcome=_OUTCOMES[outcome] if outcome is not None else None,
        current_unit=row["current_unit"],
    )


def _deadline(row: asyncpg.Record) -> Deadline:
    outcome = row["d_outcome"]
    has_timer = row["t_id"] is not None
    return Deadline(
        id=row["d_id"],
        kind=_KINDS[row["kind"]],
        dossier_code=row["d_code"],
        task_id=row["task_id"],
        unit_code=row["unit_code"],
        step_name=row["step_name"],
        field_code=row["d_field"],
        starts_at=row["starts_at"],
        allotment_hours=row["allotment_hours"],
        due_at=row["due_at"],
        due_soon_at=row["due_soon_at"],
        escalate_at=row["escalate_at"],
        timer=Timer(
            row["next_fire_at"],
            row["due_soon_fired"] if has_timer else False,
            row["overdue_fired"] if has_timer else False,
            row["escalated"] if has_timer else True,
        ),
        phase=_PHASES[row["state"]],
        paused_at=row["d_paused"],
        closed_at=row["closed_at"],
        outcome=_OUTCOMES[outcome] if outcome is not None else None,
    )


# --------------------------------------------------------------------------- saving


async def save(
    conn: DbConn,
    before: Mapping[UUID, DossierSla],
    after: Mapping[UUID, DossierSla],
    *,
    fired_by: str | None = None,
) -> set[UUID]:
    """Write what changed from ``before`` to ``after``; the ids of the deadlines added
    (a deadline the database already holds, e.g. the same task id, is not added).
    ``fired_by`` names the timer job instance that changed the timers."""
    facts: list[tuple[UUID, Dossier]] = []
    added: list[tuple[UUID, Deadline]] = []
    rows: list[Deadline] = []
    timers: list[Deadline] = []
    for dossier_id, new in after.items():
        old = before.get(dossier_id) or DossierSla(dossier_id)
        if new is old:
            continue  # the batch changed nothing of this dossier
        if new.dossier is not None and new.dossier != old.dossier:
            facts.append((dossier_id, new.dossier))
        known = {d.id: d for d in old.deadlines}
        for d in new.deadlines:
            was = known.get(d.id)
            if was is d:
                continue  # the same object: unchanged
            if was is None:
                added.append((dossier_id, d))
                continue
            if not d.same_row(was):
                rows.append(d)
            if d.timer != was.timer:
                timers.append(d)
    if facts:
        await _upsert_dossiers(conn, facts)
    inserted = await _insert_deadlines(conn, added) if added else set()
    if rows:
        await conn.execute(
            _UPDATE_DEADLINES,
            [d.id for d in rows],
            [d.phase.value for d in rows],
            [d.paused_at for d in rows],
            [d.closed_at for d in rows],
            [_text(d.outcome) for d in rows],
            [d.due_at for d in rows],
            [d.due_soon_at for d in rows],
            [d.escalate_at for d in rows],
        )
    if timers:
        await conn.execute(
            _UPDATE_TIMERS,
            [d.id for d in timers],
            [d.timer.next_fire_at for d in timers],
            [d.timer.due_soon_fired for d in timers],
            [d.timer.overdue_fired for d in timers],
            [d.timer.escalated for d in timers],
            fired_by,
        )
    return inserted


def _text(value: Outcome | None) -> str | None:
    return value.value if value is not None else None


async def _upsert_dossiers(conn: DbConn, facts: Sequence[tuple[UUID, Dossier]]) -> None:
    f = [x for _, x in facts]
    await conn.execute(
        _UPSERT_DOSSIERS,
        [i for i, _ in facts],
        [x.dossier_code for x in f],
        [x.procedure_code for x in f],
        [x.field_code for x in f],
        [x.receiving_unit for x in f],
        [x.channel for x in f],
        [x.received_at for x in f],
        [x.appointment_at for x in f],
        [x.contact_ref for x in f],
        [x.status for x in f],
        [x.supplement_count for x in f],
        [x.paused_at for x in f],
        [x.ended_at for x in f],
        [x.end_status for x in f],
        [x.returned_at for x in f],
        [_text(x.outcome) for x in f],
        [x.current_unit for x in f],
    )


async def _insert_deadlines(conn: DbConn, added: Sequence[tuple[UUID, Deadline]]) -> set[UUID]:
    d = [x for _, x in added]
    rows = await conn.fetch(
        _INSERT_DEADLINES,
        [x.id for x in d],
        [i for i, _ in added],
        [x.dossier_code for x in d],
        [x.kind.value for x in d],
        [x.task_id for x in d],
        [x.unit_code for x in d],
        [x.field_code for x in d],
        [x.starts_at for x in d],
        [x.allotment_hours for x in d],
        [x.due_at for x in d],
        [x.due_soon_at for x in d],
        [x.step_name for x in d],
        [x.escalate_at for x in d],
        [x.phase.value for x in d],
        [x.paused_at for x in d],
        [x.closed_at for x in d],
        [_text(x.outcome) for x in d],
        [x.timer.next_fire_at for x in d],
        [x.timer.due_soon_fired for x in d],
        [x.timer.overdue_fired for x in d],
        [x.timer.escalated for x in d],
    )
    return {row["deadline_id"] for row in rows}


async def add_apologies(conn: DbConn, letters: Sequence[ApologyLetter]) -> set[UUID]:
    """Store form 04 letters and their extensions; the ids of the letters added (a
    dossier has one: another instance may have written it first)."""
    if not letters:
        return set()
    rows = await conn.fetch(
        _ADD_APOLOGIES,
        [x.id for x in letters],
        [x.dossier_id for x in letters],
        [x.model_dump_json() for x in letters],
        [x.old_appointment_at for x in letters],
        [x.new_appointment_at for x in letters],
    )
    return {row["id"] for row in rows}


async def relabel_letters(conn: DbConn, contact_refs: Mapping[UUID, str]) -> None:
    """The letters of these dossiers hold their new contact reference."""
    if not contact_refs:
        return
    await conn.execute(
        "UPDATE apologies a SET letter = jsonb_set(a.letter, '{contact_ref}', to_jsonb(u.r))"
        " FROM unnest($1::uuid[], $2::text[]) AS u(d, r) WHERE a.dossier_id = u.d",
        list(contact_refs),
        list(contact_refs.values()),
    )


# --------------------------------------------------------------------------- timers


async def lock_due_timers(
    conn: DbConn, now: datetime, limit: int, only: UUID | None = None
) -> list[tuple[UUID, UUID]]:
    """Up to ``limit`` timers due by ``now`` that no other firer holds, locked until the
    transaction ends: (deadline id, dossier id), earliest first."""
    rows = await conn.fetch(_LOCK_DUE, now, limit, only)
    return [(row["deadline_id"], row["dossier_id"]) for row in rows]


async def due_timer_ids(conn: DbConn | asyncpg.Pool, now: datetime, limit: int) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT deadline_id FROM timers WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2",
        now,
        limit,
    )
    return [row["deadline_id"] for row in rows]


async def set_timer_aside(conn: DbConn | asyncpg.Pool, deadline_id: UUID, error: str) -> None:
    """A timer that cannot fire stops firing and keeps its error (for an operator)."""
    await conn.execute(
        "UPDATE timers SET next_fire_at = NULL, fire_error = $2 WHERE deadline_id = $1",
        deadline_id,
        error[:2000],
    )


async def next_due(conn: DbConn | asyncpg.Pool) -> datetime | None:
    """When the earliest timer falls due (one indexed read)."""
    at: datetime | None = await conn.fetchval(
        "SELECT min(next_fire_at) FROM timers WHERE next_fire_at IS NOT NULL"
    )
    return at


def distinct(ids: Iterable[UUID]) -> list[UUID]:
    return list(dict.fromkeys(ids))


async def add_ratings(conn: DbConn, rated: Sequence[tuple[UUID, DossierRated]]) -> None:
    """Store citizens' ratings (`dossier.rated`); a dossier keeps its first."""
    if not rated:
        return
    await conn.execute(
        "INSERT INTO ratings (dossier_id, timeliness, attitude, clarity, outcome, rated_at)"
        " SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::smallint[], $4::smallint[],"
        " $5::smallint[], $6::timestamptz[]) ON CONFLICT (dossier_id) DO NOTHING",
        [d for d, _ in rated],
        [r.scores.timeliness for _, r in rated],
        [r.scores.attitude for _, r in rated],
        [r.scores.clarity for _, r in rated],
        [r.scores.outcome for _, r in rated],
        [r.rated_at for _, r in rated],
    )


async def load_ratings(
    conn: DbConn | asyncpg.Pool,
    start: datetime,
    end: datetime,
    unit: str | None,
    field_code: str | None,
) -> list[RatingFacts]:
    """The ratings given in ``[start, end)`` for dossiers of the unit and field."""
    rows = await conn.fetch(
        "SELECT r.dossier_id, x.receiving_unit, x.field_code, r.rated_at, r.timeliness,"
        " r.attitude, r.clarity, r.outcome FROM ratings r"
        " JOIN dossiers x ON x.dossier_id = r.dossier_id"
        " WHERE r.rated_at >= $1 AND r.rated_at < $2"
        " AND ($3::text IS NULL OR x.receiving_unit = $3)"
        " AND ($4::text IS NULL OR x.field_code = $4)",
        start,
        end,
        unit,
        field_code,
    )
    return [
        RatingFacts(
            dossier_id=str(r["dossier_id"]),
            unit_code=r["receiving_unit"] or "",
            field_code=r["field_code"] or "",
            rated_at=r["rated_at"],
            timeliness=r["timeliness"],
            attitude=r["attitude"],
            clarity=r["clarity"],
            outcome=r["outcome"],
        )
        for r in rows
    ]
