"""The trail of personal-data reads (SQL): one insert per read, a filtered read-back."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.runtime.db import DbConn

# What a read returned, in the trail's own words (``access_log.what``).
OPERATOR_WORKFLOW = "operator.workflow"  # steps, audit trail with officials' notes
CONSOLE_DOSSIER = "console.dossier"  # intake's view, messages to the citizen, deadlines
CONSOLE_SEARCH = "console.search"  # a search by applicant name or phone (query masked)
CONSOLE_FORM = "console.form"  # a printed form naming the citizen (01, 04, a payment receipt)


async def record_read(
    conn: DbConn,
    *,
    actor: str,
    role: str,
    unit_code: str | None,
    dossier_id: UUID | None,
    dossier_code: str | None,
    what: str,
    parts: Sequence[str],
) -> None:
    await conn.execute(
        "INSERT INTO access_log (actor, role, unit_code, dossier_id, dossier_code, what, parts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::text[])",
        actor,
        role,
        unit_code,
        dossier_id,
        dossier_code,
        what,
        list(parts),
    )


async def reads(
    conn: DbConn, *, dossier: str | None, actor: str | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; ``dossier`` is the dossier's id or its code."""
    dossier_id: UUID | None = None
    if dossier is not None:
        with contextlib.suppress(ValueError):
            dossier_id = UUID(dossier)
    rows = await conn.fetch(
        "SELECT id, at, actor, role, unit_code, dossier_id, dossier_code, what, parts"
        " FROM access_log"
        " WHERE ($1::text IS NULL OR dossier_code = $1 OR dossier_id = $2)"
        " AND ($3::text IS NULL OR actor = $3)"
        " ORDER BY id DESC LIMIT $4",
        dossier,
        dossier_id,
        actor,
        limit,
    )
    return [dict(r) for r in rows]
