"""PostgreSQL side of intake: dossiers, daily sequences, idempotency keys, timeline."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

from services.runtime.db import DbConn


async def next_sequence(conn: DbConn, agency_code: str, day: date) -> int:
    # The upsert takes the row lock until commit: consecutive and gap-free per agency/day.
    value: int = await conn.fetchval(
        "INSERT INTO dossier_sequences (agency_code, day, last_value) VALUES ($1, $2, 1)"
        " ON CONFLICT (agency_code, day)"
        " DO UPDATE SET last_value = dossier_sequences.last_value + 1 RETURNING last_value",
        agency_code,
        day,
    )
    return value


async def find_idempotent(conn: DbConn, portal_id: str, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys"
        " WHERE portal_id = $1 AND key = $2",
        portal_id,
        key,
    )
    if row is None:
        return None
    return {
        "request_hash": row["request_hash"],
        "status_code": row["status_code"],
        "response": json.loads(row["response"]),
    }


async def save_idempotent(
    conn: DbConn, portal_id: str, key: str, request_hash: str, status: int, body: dict[str, Any]
) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (portal_id, key, request_hash, status_code, response)"
        " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING true",
        portal_id,
        key,
        request_hash,
        status,
        json.dumps(body),
    )
    return bool(inserted)


async def load_dossier(conn: DbConn, ref: str) -> dict[str, Any] | None:
    try:
        dossier_id: UUID | None = UUID(ref)
    except ValueError:
        dossier_id = None
    if dossier_id is not None:
        row = await conn.fetchrow("SELECT * FROM dossiers WHERE id = $1", dossier_id)
    else:
        row = await conn.fetchrow("SELECT * FROM dossiers WHERE code = $1", ref)
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


async def advance_status(
    conn: DbConn, dossier_id: UUID, status: int, version: int, current_unit: str | None
) -> int | None:
    """Move the public status forward only: an older event never overwrites a newer one.

    Returns the status before the change, or None when the event was older.
    """
    previous: int | None = await conn.fetchval(
        "WITH old AS (SELECT status FROM dossiers WHERE id = $1 FOR UPDATE)"
        " UPDATE dossiers d SET status = $2, status_version = $3,"
        " current_unit = COALESCE($4, d.current_unit)"
        " FROM old WHERE d.id = $1 AND d.status_version < $3 RETURNING old.status",
        dossier_id,
        status,
        version,
        current_unit,
    )
    return previous


async def enqueue_status_callbacks(
    conn: DbConn, dossier_id: UUID, version: int, body: dict[str, Any]
) -> int:
    """One delivery per active webhook of the portal the dossier came from."""
    result: str = await conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, dossier_id, version, body)"
        " SELECT w.id, d.id, $2, $3::jsonb FROM dossiers d"
        " JOIN webhooks w ON w.portal_id = d.portal_id AND w.active WHERE d.id = $1",
        dossier_id,
        version,
        json.dumps(body, default=str, ensure_ascii=False),
    )
    return int(result.rsplit(maxsplit=1)[-1])


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
