"""The units a dossier passed through, from SLA's own tables."""

from __future__ import annotations

from uuid import UUID

from services.runtime.db import DbConn, uuid_or_none


async def units_of(conn: DbConn, dossier_id: UUID) -> set[str]:
    """Receiving and current unit, every unit with a step deadline, the apologising unit."""
    rows = await conn.fetch(
        "SELECT receiving_unit AS unit FROM dossiers WHERE dossier_id = $1"
        " UNION SELECT current_unit FROM dossiers WHERE dossier_id = $1"
        " UNION SELECT unit_code FROM deadlines WHERE dossier_id = $1"
        " UNION SELECT letter ->> 'responsible_unit' FROM apologies WHERE dossier_id = $1",
        dossier_id,
    )
    return {r["unit"] for r in rows if r["unit"]}


DOSSIERS_BY_REF = (
    "SELECT dossier_id FROM dossiers WHERE dossier_code = $1 OR dossier_id = $2"
    " UNION SELECT dossier_id FROM apologies WHERE letter ->> 'dossier_code' = $1"
    " OR dossier_id = $2"
)


async def dossiers_named(conn: DbConn, ref: str) -> list[UUID]:
    """The dossier(s) a reference (id or code) names in SLA's tables."""
    rows = await conn.fetch(DOSSIERS_BY_REF, ref, uuid_or_none(ref))
    return [r["dossier_id"] for r in rows]
