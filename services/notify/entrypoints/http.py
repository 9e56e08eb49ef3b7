"""Notify's REST routes: operator view and opt-outs (receipts: `receipts.py`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from services.runtime.service import Runtime

router = APIRouter(prefix="/v1", tags=["notifications"])
OptOutChannel = Literal["email", "sms", "zalo"]


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/notifications", summary="Messages of a dossier with their status history.")
async def list_notifications(
    request: Request, dossier: str = Query(min_length=1, max_length=64)
) -> dict[str, Any]:
    rt = _rt(request)
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, event_id, event_type, channel, template_id, template_version, status,"
            " provider, provider_message_id, attempts, subject, body_text, last_error,"
            " fallback_of, next_attempt_at, sent_at, created_at, updated_at FROM messages"
            " WHERE dossier_code = $1 OR dossier_id::text = $1"
            " ORDER BY created_at, channel",
            dossier,
        )
        history = await conn.fetch(
            "SELECT message_id, status, at, detail FROM message_status_history"
            " WHERE message_id = ANY($1::uuid[]) ORDER BY id",
            [r["id"] for r in rows],
        )
    by_message: dict[Any, list[dict[str, Any]]] = {}
    for h in history:
        by_message.setdefault(h["message_id"], []).append(
            {"status": h["status"], "at": h["at"], "detail": h["detail"]}
        )
    return {
        "dossier": dossier,
        "messages": [{**dict(r), "history": by_message.get(r["id"], [])} for r in rows],
    }


class OptOut(BaseModel):
    contact_ref: str = Field(min_length=1, max_length=128)
    channel: OptOutChannel


@router.post("/opt-outs", status_code=201, summary="A contact stops receiving a channel.")
async def add_opt_out(body: OptOut, request: Request) -> dict[str, Any]:
    await _rt(request).pool.execute(
        "INSERT INTO opt_outs (contact_ref, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        body.contact_ref,
        body.channel,
    )
    return body.model_dump()


@router.delete("/opt-outs/{contact_ref}/{channel}", status_code=204, summary="Opt back in.")
async def remove_opt_out(contact_ref: str, channel: OptOutChannel, request: Request) -> Response:
    await _rt(request).pool.execute(
        "DELETE FROM opt_outs WHERE contact_ref = $1 AND channel = $2", contact_ref, channel
    )
    return Response(status_code=204)


@router.get("/opt-outs/{contact_ref}", summary="The channels a contact opted out of.")
async def list_opt_outs(contact_ref: str, request: Request) -> dict[str, Any]:
    rows = await _rt(request).pool.fetch(
        "SELECT channel, created_at FROM opt_outs WHERE contact_ref = $1 ORDER BY channel",
        contact_ref,
    )
    return {"contact_ref": contact_ref, "opt_outs": [dict(r) for r in rows]}
