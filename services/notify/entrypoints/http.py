"""Notify's REST routes: the operator's view of messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

router = APIRouter(prefix="/v1", tags=["notifications"])


@router.get("/notifications", summary="Messages of a dossier with their status history.")
async def list_notifications(
    request: Request, dossier: str = Query(min_length=1, max_length=64)
) -> dict[str, Any]:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, event_type, channel, template_id, template_version, status, provider,"
            " attempts, created_at FROM messages WHERE dossier_code = $1 OR dossier_id::text = $1"
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
