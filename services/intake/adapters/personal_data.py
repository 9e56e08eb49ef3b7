"""PostgreSQL side of intake's personal-data duties: finding a person's dossiers for a
data-subject request, and the audit of exports and identity-document reads."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from services.runtime.db import DbConn

MAX_DOSSIERS = 1000  # one person's dossiers; more means a shared ID and a manual review


async def dossiers_of_citizen(conn: DbConn, citizen_id: str) -> list[dict[str, Any]]:
    """Every dossier (not yet anonymised) whose applicant has this citizen ID."""
    rows = await conn.fetch(
        "SELECT id, code, procedure_code, receiving_unit, channel, status, current_unit,"
        " applicant, documents, fees, request, received_at, appointment_at, portal_id,"
        " external_code FROM dossiers"
        " WHERE applicant ->> 'citizen_id' = $1 AND anonymised_at IS NULL"
        " ORDER BY received_at LIMIT $2",
        citizen_id,
        MAX_DOSSIERS,
    )
    return [dict(r) for r in rows]


async def timelines(conn: DbConn, dossier_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    rows = await conn.fetch(
        "SELECT dossier_id, source, event_type, occurred_at, details FROM timeline"
        " WHERE dossier_id = ANY($1::uuid[]) ORDER BY dossier_id, occurred_at, sequence",
        dossier_ids,
    )
    found: dict[UUID, list[dict[str, Any]]] = {i: [] for i in dossier_ids}
    for r in rows:
        found[r["dossier_id"]].append(
            {
                "source": r["source"],
                "event_type": r["event_type"],
                "occurred_at": r["occurred_at"],
                "details": json.loads(r["details"]),
            }
        )
    return found


async def record_access(
    conn: DbConn,
    *,
    caller: str,
    action: str,
    dossier_ids: list[UUID],
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    row_id: int = await conn.fetchval(
        "INSERT INTO personal_data_access (caller, action, dossier_ids, subject, details)"
        " VALUES ($1, $2, $3::uuid[], $4, $5::jsonb) RETURNING id",
        caller,
        action,
        dossier_ids,
        subject,
        json.dumps(details or {}, default=str),
    )
    return row_id
