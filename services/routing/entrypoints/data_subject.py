"""What routing holds about some dossiers, for intake's data-subject export (internal:
only intake's credential is accepted): each dossier's workflow, its events and the
actions taken on it. Officials are named by role and unit, not by account: their
accounts are their own personal data, not the citizen's."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.runtime.auth import service_caller
from services.runtime.data_subject import ExportQuery
from services.runtime.service import RuntimeDep

router = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)


@router.post("/data-subject/export")
async def export(
    body: ExportQuery,
    rt: RuntimeDep,
    _caller: Annotated[str, Depends(service_caller("intake"))],
) -> dict[str, Any]:
    ids = body.ids()
    async with rt.pool.acquire() as conn:
        instances = await conn.fetch(
            "SELECT dossier_id, dossier_code, procedure_code, status, updated_at FROM instances"
            " WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
        events = await conn.fetch(
            "SELECT dossier_id, seq, type, at, event FROM instance_events"
            " WHERE dossier_id = ANY($1::uuid[]) ORDER BY dossier_id, seq",
            ids,
        )
        actions = await conn.fetch(
            "SELECT dossier_id, role, unit_code, action, at, details FROM audit"
            " WHERE dossier_id = ANY($1::uuid[]) ORDER BY id",
            ids,
        )
    return {
        "workflows": [dict(r) for r in instances],
        "events": [{**dict(r), "event": json.loads(r["event"])} for r in events],
        "actions": [{**dict(r), "details": json.loads(r["details"])} for r in actions],
    }
