"""What notify holds about some dossiers, for intake's data-subject export (internal:
only intake's credential is accepted)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.runtime.auth import service_caller
from services.runtime.data_subject import ExportQuery
from services.runtime.service import Runtime

router = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)


@router.post("/data-subject/export")
async def export(
    body: ExportQuery,
    request: Request,
    _caller: Annotated[str, Depends(service_caller("intake"))],
) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    ids, refs = body.ids(), body.contact_refs
    async with rt.pool.acquire() as conn:
        messages = await conn.fetch(
            "SELECT id, dossier_id, dossier_code, contact_ref, event_type, channel,"
            " template_id, template_version, status, provider, subject, body_text, body_html,"
            " params, attempts, sent_at, created_at, updated_at FROM messages"
            " WHERE dossier_id = ANY($1::uuid[]) OR contact_ref = ANY($2::text[])"
            " ORDER BY created_at, channel",
            ids,
            refs,
        )
        history = await conn.fetch(
            "SELECT message_id, status, at, detail FROM message_status_history"
            " WHERE message_id = ANY($1::uuid[]) ORDER BY id",
            [m["id"] for m in messages],
        )
        opt_outs = await conn.fetch(
            "SELECT contact_ref, channel, created_at FROM opt_outs"
            " WHERE contact_ref = ANY($1::text[]) ORDER BY contact_ref, channel",
            refs,
        )
        facts = await conn.fetch(
            "SELECT dossier_id, dossier_code, procedure_code, receiving_unit, contact_ref,"
            " created_at FROM dossier_facts WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
        ratings = await conn.fetch(
            "SELECT dossier_id, dossier_code, timeliness, attitude, clarity, outcome, comment,"
            " rated_at FROM ratings WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
    by_message: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for h in history:
        by_message[h["message_id"]].append(
            {"status": h["status"], "at": h["at"], "detail": h["detail"]}
        )
    return {
        "messages": [
            {**dict(m), "params": json.loads(m["params"]), "history": by_message[m["id"]]}
            for m in messages
        ],
        "opt_outs": [dict(r) for r in opt_outs],
        "dossier_facts": [dict(r) for r in facts],
        "ratings": [dict(r) for r in ratings],
        "note": "Phone numbers and e-mail addresses are not kept here; intake holds them.",
    }
