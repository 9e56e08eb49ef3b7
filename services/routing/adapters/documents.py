"""Reads for the forms routing issues (02, 03, 05, 06, the result): the dossier's
instance and the events of its log that the forms are made of."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.routing.domain import events as ev
from services.routing.domain.state import DossierState
from services.runtime.db import DbConn


async def instance(conn: DbConn, dossier_id: UUID) -> tuple[DossierState, str] | None:
    row = await conn.fetchrow(
        "SELECT state, dossier_code FROM instances WHERE dossier_id = $1", dossier_id
    )
    if row is None:
        return None
    return DossierState.model_validate_json(row["state"]), row["dossier_code"]


async def events_of(conn: DbConn, dossier_id: UUID, types: Sequence[str]) -> list[ev.Event]:
    """The dossier's events of these types, in the order they happened."""
    rows = await conn.fetch(
        "SELECT event FROM instance_events WHERE dossier_id = $1 AND type = ANY($2::text[])"
        " ORDER BY seq",
        dossier_id,
        list(types),
    )
    return [ev.EVENT_ADAPTER.validate_json(r["event"]) for r in rows]
