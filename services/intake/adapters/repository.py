"""PostgreSQL side of intake: dossiers, daily sequences, idempotency keys, timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from services.intake.domain.dvcqg_shape import RECEIVED_STEP
from services.runtime.db import DbConn


async def claim_idempotency_keys(
    conn: DbConn, keys: Sequence[tuple[str, str, str]]
) -> set[tuple[str, str]]:
    """Claim (portal, key, request hash) rows for this transaction; returns the keys it
    now owns. A key another transaction is inserting waits for it to end: committed, it
    is not ours (read it with :func:`stored_idempotent`); rolled back, it is. Claimed in
    key order, so two writers never wait on each other's keys in a cycle."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "INSERT INTO idempotency_keys (portal_id, key, request_hash, status_code, response)"
        " SELECT p, k, h, 0, 'null'::jsonb FROM unnest($1::text[], $2::text[], $3::text[])"
        " AS u(p, k, h) ORDER BY p, k ON CONFLICT DO NOTHING RETURNING portal_id, key",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    return {(r["portal_id"], r["key"]) for r in rows}


async def stored_idempotent(
    conn: DbConn, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, int, dict[str, Any]]]:
    """(request hash, status, response) stored for each of these (portal, key) pairs."""
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT i.portal_id, i.key, i.request_hash, i.status_code, i.response"
        " FROM idempotency_keys i JOIN unnest($1::text[], $2::text[]) AS u(p, k)"
        " ON i.portal_id = u.p AND i.key = u.k",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["portal_id"], r["key"]): (
            r["request_hash"],
            int(r["status_code"]),
            json.loads(r["response"]),
        )
        for r in rows
    }


async def allocate_sequences(
    conn: DbConn, needed: Mapping[tuple[str, date], int]
) -> dict[tuple[str, date], int]:
    """Add each (agency, day)'s count to its sequence in one statement; returns the new
    last values. The rows stay locked until commit, taken in key order (no deadlock
    between writers): numbers are consecutive and gap-free, and a rollback returns them."""
    if not needed:
        return {}
    rows = await conn.fetch(
        "INSERT INTO dossier_sequences (agency_code, day, last_value)"
        " SELECT a, d, n FROM unnest($1::text[], $2::date[], $3::int[]) AS u(a, d, n)"
        " ORDER BY a, d ON CONFLICT (agency_code, day)"
        " DO UPDATE SET last_value = dossier_sequences.last_value + EXCLUDED.last_value"
        " RETURNING agency_code, day, last_value",
        [agency for agency, _ in needed],
        [day for _, day in needed],
        list(needed.values()),
    )
    return {(r["agency_code"], r["day"]): int(r["last_value"]) for r in rows}


@dataclass(frozen=True)
class ReceivedRow:
    """A received dossier as stored, with its timeline entry, status callback and the
    answer kept for its idempotency key."""

    id: UUID
    code: str
    agency_code: str
    procedure_code: str
    field_code: str
    receiving_unit: str
    channel: int
    applicant: str
    documents: str
    fees: str
    request: str
    received_at: datetime
    clock_started_at: datetime
    appointment_at: datetime
    status: int
    portal_id: str
    external_code: str | None
    contact_ref: str
    event_id: UUID
    timeline_details: str
    callback: str
    idempotency_key: str | None
    response: str
    # What the national portal's sync sent that intake keeps as sent (None otherwise).
    dvcqg: str | None = None


async def insert_received(
    conn: DbConn, rows: Sequence[ReceivedRow], *, push_national: bool = False
) -> None:
    """Dossiers, their timeline entries, the portals' status callbacks, the answers of
    their idempotency keys (claimed before) and, when ``push_national``, the national
    portal's first two pushes (the dossier, then its "received" step), for a whole batch
    in one statement."""
    if not rows:
        return
    await conn.execute(
        "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[],"
        " $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::int[], $16::text[],"
        " $17::text[], $18::uuid[], $19::text[], $20::text[], $21::text[], $22::text[],"
        " $23::text[], $24::text[])"
        " AS u(id, code, agency_code, procedure_code, field_code, receiving_unit, channel,"
        " applicant, documents, fees, request, received_at, clock_started_at, appointment_at,"
        " status, portal_id, external_code, event_id, details, callback, idem_key, response,"
        " contact_ref, dvcqg)),"
        " d AS (INSERT INTO dossiers (id, code, agency_code, procedure_code, field_code,"
        " receiving_unit, channel, applicant, documents, fees, request, received_at,"
        " clock_started_at, appointment_at, status, status_version, current_unit, portal_id,"
        " external_code, contact_ref, dvcqg) SELECT id, code, agency_code, procedure_code,"
        " field_code, receiving_unit, channel, applicant::jsonb, documents::jsonb, fees::jsonb,"
        " request::jsonb, received_at, clock_started_at, appointment_at, status, 1,"
        " receiving_unit, portal_id, external_code, contact_ref, dvcqg::jsonb FROM u),"
        " t AS (INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence,"
        " occurred_at, details) SELECT event_id, id, 'intake', 'dossier.received', 1,"
        " received_at, details::jsonb FROM u ON CONFLICT DO NOTHING),"
        " w AS (INSERT INTO webhook_deliveries (webhook_id, dossier_id, version, body)"
        " SELECT w.id, u.id, 1, u.callback::jsonb FROM u"
        " JOIN webhooks w ON w.portal_id = u.portal_id AND w.active),"
        " k AS (UPDATE idempotency_keys i SET status_code = 201, response = u.response::jsonb"
        " FROM u WHERE u.idem_key IS NOT NULL AND i.portal_id = u.portal_id"
        " AND i.key = u.idem_key),"
        " p AS (INSERT INTO dvcqg_pushes (dossier_id, kind, facts)"
        " SELECT u.id, k.kind, CASE WHEN k.kind = 'step' THEN jsonb_build_object("
        "'status', 2, 'at', to_jsonb(u.received_at), 'content', $26::text,"
        " 'unit_code', u.receiving_unit, 'actor', '', 'event_type', 'dossier.received')"
        " ELSE jsonb_build_object('status', u.status) END"
        " FROM u CROSS JOIN (VALUES (1, 'dossier'), (2, 'step')) AS k(n, kind)"
        " WHERE $25::boolean ORDER BY u.id, k.n)"
        " SELECT 1",
        [r.id for r in rows],
        [r.code for r in rows],
        [r.agency_code for r in rows],
        [r.procedure_code for r in rows],
        [r.field_code for r in rows],
        [r.receiving_unit for r in rows],
        [r.channel for r in rows],
        [r.applicant for r in rows],
        [r.documents for r in rows],
        [r.fees for r in rows],
        [r.request for r in rows],
        [r.received_at for r in rows],
        [r.clock_started_at for r in rows],
        [r.appointment_at for r in rows],
        [r.status for r in rows],
        [r.portal_id for r in rows],
        [r.external_code for r in rows],
        [r.event_id for r in rows],
        [r.timeline_details for r in rows],
        [r.callback for r in rows],
        [r.idempotency_key for r in rows],
        [r.response for r in rows],
        [r.contact_ref for r in rows],
        [r.dvcqg for r in rows],
        push_national,
        RECEIVED_STEP,
    )


async def load_dossier(conn: DbConn, ref: str) -> dict[str, Any] | None:
    try:
        dossier_id: UUID | None = UUID(ref)
    except ValueError:
        dossier_id = None
    if dossier_id is not None:
        row = await conn.fetchrow("SELECT * FROM dossiers WHERE id = $1", dossier_id)
    else:
        # Our code first; a dossier synced from elsewhere is found by its MaHoSo too.
        row = await conn.fetchrow(
            "SELECT * FROM dossiers WHERE code = $1 OR external_code = $1"
            " ORDER BY code = $1 DESC LIMIT 1",
            ref,
        )
    return dict(row) if row is not None else None


async def load_by_contact_ref(conn: DbConn, contact_ref: str) -> dict[str, Any] | None:
    """Only by the opaque reference: never by dossier id or code (those are public)."""
    row = await conn.fetchrow("SELECT * FROM dossiers WHERE contact_ref = $1", contact_ref)
    return dict(row) if row is not None else None


async def unannounced_contact_refs(conn: DbConn, limit: int) -> list[dict[str, Any]]:
    """Dossiers whose reference was assigned by the migration and not yet published;
    locked so several instances starting together publish each one once."""
    rows = await conn.fetch(
        "SELECT id, code, contact_ref FROM dossiers WHERE NOT contact_ref_announced"
        " ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [dict(r) for r in rows]


async def mark_contact_refs_announced(conn: DbConn, dossier_ids: list[UUID]) -> None:
    await conn.execute(
        "UPDATE dossiers SET contact_ref_announced = true WHERE id = ANY($1::uuid[])",
        dossier_ids,
    )


async def load_by_contact_refs(conn: DbConn, refs: list[str]) -> dict[str, dict[str, Any]]:
    """Dossiers by their opaque references only (as `load_by_contact_ref`: never by
    dossier id or code), keyed by the reference."""
    rows = await conn.fetch(
        "SELECT * FROM dossiers WHERE contact_ref = ANY($1::text[])", list(dict.fromkeys(refs))
    )
    return {row["contact_ref"]: dict(row) for row in rows}


async def load_timeline(conn: DbConn, dossier_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT source, event_type, occurred_at, details FROM timeline"
        " WHERE dossier_id = $1 ORDER BY occurred_at, sequence",
        dossier_id,
    )
    return [
        {
            "source": r["source"],
            "event_type": r["event_type"],
            "occurred_at": r["occurred_at"],
            "details": json.loads(r["details"]),
        }
        for r in rows
    ]


@dataclass(frozen=True)
class TimelineEntry:
    event_id: UUID
    dossier_id: UUID
    source: str
    event_type: str
    sequence: int
    occurred_at: datetime
    details: Mapping[str, Any]


async def append_timeline(
    conn: DbConn,
    *,
    event_id: UUID,
    dossier_id: UUID,
    source: str,
    event_type: str,
    sequence: int,
    occurred_at: Any,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence,"
        " occurred_at, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        " ON CONFLICT DO NOTHING",
        event_id,
        dossier_id,
        source,
        event_type,
        sequence,
        occurred_at,
        json.dumps(details, default=str),
    )


async def append_timeline_many(conn: DbConn, entries: Sequence[TimelineEntry]) -> None:
    """Several timeline entries in one statement (a consumed batch); a redelivered event's
    entry is there already and is left as it is."""
    if not entries:
        return
    await conn.execute(
        "INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence,"
        " occurred_at, details) SELECT e, d, s, t, q, o, x::jsonb FROM unnest($1::uuid[],"
        " $2::uuid[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::text[])"
        " WITH ORDINALITY AS u(e, d, s, t, q, o, x, n) ORDER BY n ON CONFLICT DO NOTHING",
        [e.event_id for e in entries],
        [e.dossier_id for e in entries],
        [e.source for e in entries],
        [e.event_type for e in entries],
        [e.sequence for e in entries],
        [e.occurred_at for e in entries],
        [json.dumps(e.details, default=str) for e in entries],
    )


class StatusMove(NamedTuple):
    before: int
    after: int
    code: str
    current_unit: str | None


@dataclass(frozen=True)
class StatusAdvance:
    """One event's move of a dossier's public status (see :func:`advance_statuses`)."""

    dossier_id: UUID
    status: int
    version: int
    current_unit: str | None
    reachable_from: Sequence[int]


async def advance_statuses(
    conn: DbConn, advances: Sequence[StatusAdvance]
) -> list[StatusMove | None]:
    """Move public statuses forward only, for several dossiers (each at most once), in one
    statement (rows locked in id order): an older event never overwrites a newer one. A
    dossier synced from the national portal came with its own status: it takes the
    event's only from the statuses in ``reachable_from`` (its version still advances).

    Returns, in the order given, the status before and after (with the dossier's code and
    current unit), or None where the event was older."""
    if not advances:
        return []
    rows = await conn.fetch(
        "WITH m AS (SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::int[], $4::text[],"
        " $5::text[]) WITH ORDINALITY AS m(id, status, version, unit, reachable, n)),"
        " old AS (SELECT d.id, d.status FROM dossiers d WHERE d.id IN (SELECT id FROM m)"
        " ORDER BY d.id FOR UPDATE)"
        " UPDATE dossiers d SET status = CASE WHEN d.external_code IS NULL"
        " OR d.status = ANY(m.reachable::smallint[]) THEN m.status ELSE d.status END,"
        " status_version = m.version, current_unit = COALESCE(m.unit, d.current_unit)"
        " FROM m JOIN old ON old.id = m.id WHERE d.id = m.id AND d.status_version < m.version"
        " RETURNING m.n, old.status, d.status, d.code, d.current_unit",
        [a.dossier_id for a in advances],
        [a.status for a in advances],
        [a.version for a in advances],
        [a.current_unit for a in advances],
        ["{" + ",".join(str(int(x)) for x in a.reachable_from) + "}" for a in advances],
    )
    moves: list[StatusMove | None] = [None] * len(advances)
    for row in rows:
        moves[int(row[0]) - 1] = StatusMove(int(row[1]), int(row[2]), row[3], row[4])
    return moves


async def enqueue_status_callbacks_many(
    conn: DbConn, callbacks: Sequence[tuple[UUID, int, dict[str, Any]]]
) -> None:
    """One delivery per active webhook of the portal each dossier came from, for several
    (dossier, version, body), in order, in one statement."""
    if not callbacks:
        return
    await conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, dossier_id, version, body)"
        " SELECT w.id, d.id, u.version, u.body::jsonb FROM unnest($1::uuid[], $2::int[],"
        " $3::text[]) WITH ORDINALITY AS u(id, version, body, n) JOIN dossiers d ON d.id = u.id"
        " JOIN webhooks w ON w.portal_id = d.portal_id AND w.active ORDER BY u.n, w.id",
        [c[0] for c in callbacks],
        [c[1] for c in callbacks],
        [json.dumps(c[2], default=str, ensure_ascii=False) for c in callbacks],
    )


async def enqueue_national(
    conn: DbConn,
    dossier_id: UUID,
    pushes: Sequence[tuple[str, dict[str, Any]]],
    event_id: UUID | None = None,
) -> None:
    """Pushes to the national portal, in this order, after the dossier's earlier ones
    (committed with the change they tell of). ``event_id`` makes a redelivered event's
    pushes a no-op."""
    await conn.execute(
        "INSERT INTO dvcqg_pushes (dossier_id, event_id, kind, facts)"
        " SELECT $1, CASE WHEN p.n = 1 THEN $2::uuid END, p.kind, p.facts::jsonb"
        " FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS p(kind, facts, n)"
        " WHERE $2::uuid IS NULL OR NOT EXISTS"
        " (SELECT 1 FROM dvcqg_pushes WHERE event_id = $2) ORDER BY p.n",
        dossier_id,
        event_id,
        [kind for kind, _ in pushes],
        [json.dumps(facts, ensure_ascii=False, default=str) for _, facts in pushes],
    )


async def load_dossier_for_update(conn: DbConn, code: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM dossiers WHERE code = $1 FOR UPDATE", code)
    return dict(row) if row is not None else None


async def record_action(
    conn: DbConn, dossier_id: UUID, action: str, version: int, documents: list[dict[str, Any]]
) -> None:
    await conn.execute(
        "UPDATE dossiers SET last_action = $2, last_action_version = $3,"
        " documents = documents || $4::jsonb WHERE id = $1",
        dossier_id,
        action,
        version,
        json.dumps(documents),
    )


async def find_by_external_code(conn: DbConn, portal_id: str, code: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM dossiers WHERE portal_id = $1 AND external_code = $2", portal_id, code
    )
    return dict(row) if row is not None else None


# ----------------------------------------------------------------- national portal sync

SYNC_JSON = ("applicant", "documents", "fees", "request", "dvcqg")


def _decoded(row: Any) -> dict[str, Any]:
    out = dict(row)
    for column in SYNC_JSON:
        if isinstance(out.get(column), str):
            out[column] = json.loads(out[column])
    return out


async def find_by_ma_ho_so(
    conn: DbConn, ma_ho_so: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The one dossier a national code names in the province, whichever portal sent it:
    the dossier synced with that MaHoSo, else the dossier with that code of ours (a
    dossier received here has no other national code). JSON columns decoded."""
    row = await conn.fetchrow(
        "SELECT * FROM dossiers WHERE external_code = $1 OR code = $1"
        " ORDER BY external_code IS NOT DISTINCT FROM $1 DESC LIMIT 1"
        + (" FOR UPDATE" if for_update else ""),
        ma_ho_so,
    )
    return _decoded(row) if row is not None else None


def is_ma_ho_so_taken(exc: BaseException) -> bool:
    """A concurrent submission stored the same MaHoSo first (the unique index refused)."""
    return (
        isinstance(exc, asyncpg.UniqueViolationError)
        and getattr(exc, "constraint_name", None) == "dossiers_by_ma_ho_so"
    )


@dataclass(frozen=True)
class SyncUpdate:
    dossier_id: UUID
    portal_id: str
    at: datetime
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    fees: list[dict[str, Any]]
    summary: str
    channel: int
    appointment_at: datetime
    status: int
    national: dict[str, Any]
    changes: list[dict[str, Any]]
    status_kept: int | None


async def apply_sync_update(conn: DbConn, u: SyncUpdate) -> None:
    """The re-send's values, its revision (what changed, when, from which portal) and a
    timeline entry naming the changed fields (no values: the timeline is public)."""
    await conn.execute(
        "UPDATE dossiers SET applicant = $2::jsonb, documents = $3::jsonb, fees = $4::jsonb,"
        " request = jsonb_set(request, '{summary}', to_jsonb($5::text)), channel = $6,"
        " appointment_at = $7, status = $8, dvcqg = $9::jsonb WHERE id = $1",
        u.dossier_id,
        json.dumps(u.applicant, ensure_ascii=False),
        json.dumps(u.documents, ensure_ascii=False),
        json.dumps(u.fees, ensure_ascii=False),
        u.summary,
        u.channel,
        u.appointment_at,
        u.status,
        json.dumps(u.national, ensure_ascii=False),
    )
    await conn.execute(
        "WITH r AS (INSERT INTO dvcqg_revisions (dossier_id, at, portal_id, changes,"
        " status_kept) VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id)"
        " INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence,"
        " occurred_at, details) SELECT gen_random_uuid(), $1, 'intake', 'dvcqg.updated', 0,"
        " $2, jsonb_build_object('revision', r.id, 'fields', $6::jsonb) FROM r",
        u.dossier_id,
        u.at,
        u.portal_id,
        json.dumps(u.changes, ensure_ascii=False, default=str),
        u.status_kept,
        json.dumps([c["field"] for c in u.changes]),
    )


async def load_revisions(conn: DbConn, dossier_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, at, portal_id, changes, status_kept FROM dvcqg_revisions"
        " WHERE dossier_id = $1 ORDER BY id",
        dossier_id,
    )
    return [{**dict(r), "changes": json.loads(r["changes"])} for r in rows]


async def search_applicants(
    conn: DbConn,
    *,
    words: list[str] | None,
    phrase: str | None,
    phone_suffix: str | None,
    within: list[UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Dossiers whose applicant's folded name holds ``phrase`` as whole words (``words``
    narrows through the GIN index first), or whose phone ends with ``phone_suffix``;
    newest first, at most ``limit`` rows, only among ``within`` if given. Ids and codes."""
    if phone_suffix is not None:
        rows = await conn.fetch(
            "SELECT id, code FROM dossiers WHERE reverse(applicant ->> 'phone') LIKE $1 || '%'"
            " AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))"
            " ORDER BY received_at DESC, id LIMIT $2",
            phone_suffix[::-1],
            limit,
            within,
        )
    else:
        rows = await conn.fetch(
            "SELECT id, code FROM dossiers"
            " WHERE string_to_array(intake_fold(applicant ->> 'full_name'), ' ') @> $1::text[]"
            " AND ' ' || intake_fold(applicant ->> 'full_name') || ' ' LIKE '% ' || $2 || ' %'"
            " AND ($4::uuid[] IS NULL OR id = ANY($4::uuid[]))"
            " ORDER BY received_at DESC, id LIMIT $3",
            words,
            phrase,
            limit,
            within,
        )
    return [dict(r) for r in rows]
