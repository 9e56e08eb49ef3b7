"""What SLA holds about some dossiers, for intake's data-subject export (internal: only
intake's credential is accepted). SLA keeps no name, phone or e-mail: the citizen is a
contact reference on its dossier facts and apology letters."""

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
        dossiers = await conn.fetch(
            "SELECT dossier_id, dossier_code, procedure_code, receiving_unit, channel,"
            " received_at, appointment_at, contact_ref, status, supplement_count, ended_at,"
            " returned_at, outcome FROM dossiers WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
        letters = await conn.fetch(
            "SELECT id, dossier_id, letter, created_at FROM apologies"
            " WHERE dossier_id = ANY($1::uuid[]) ORDER BY created_at",
            ids,
        )
        extensions = await conn.fetch(
            "SELECT dossier_id, old_appointment_at, new_appointment_at, letter_id, created_at"
            " FROM extensions WHERE dossier_id = ANY($1::uuid[]) ORDER BY id",
            ids,
        )
    return {
        "dossiers": [dict(r) for r in dossiers],
        "apology_letters": [{**dict(r), "letter": json.loads(r["letter"])} for r in letters],
        "extensions": [dict(r) for r in extensions],
        "note": "The citizen's name is fetched from intake only to print a letter.",
    }
