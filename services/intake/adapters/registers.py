"""Reads for form 07 (the unit's register of dossiers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.runtime.db import DbConn

REGISTER_MAX_ROWS = 5000


async def register_rows(
    conn: DbConn, unit_code: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Dossiers received at the unit in [start, end), oldest first, with when the result
    was handed back (the timeline's ``dossier.returned``)."""
    rows = await conn.fetch(
        "SELECT d.id, d.code, d.procedure_code, d.applicant, d.received_at, d.appointment_at,"
        " d.status, (SELECT min(t.occurred_at) FROM timeline t WHERE t.dossier_id = d.id"
        "  AND t.event_type = 'dossier.returned') AS returned_at"
        " FROM dossiers d WHERE d.receiving_unit = $1 AND d.received_at >= $2"
        " AND d.received_at < $3 ORDER BY d.received_at, d.code LIMIT $4",
        unit_code,
        start,
        end,
        REGISTER_MAX_ROWS + 1,
    )
    return [dict(r) for r in rows]
