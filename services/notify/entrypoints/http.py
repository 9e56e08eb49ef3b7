"""Notify's REST routes: operator view and opt-outs (receipts: `receipts.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.bounds import SafeStr
from services.runtime.service import Runtime

router = APIRouter(prefix="/v1", tags=["notifications"])
OptOutChannel = Literal["email", "sms", "zalo"]
DOSSIER_REF = r"^[0-9A-Za-z.\-]+$"
DossierRef = Annotated[
    SafeStr,
    Query(min_length=1, max_length=64, pattern=DOSSIER_REF, description="Dossier code or id."),
]
ContactRef = Annotated[SafeStr, Field(min_length=1, max_length=128)]
ContactRefPath = Annotated[SafeStr, Path(min_length=1, max_length=128)]
# What a gateway puts in a receipt: identifiers and status codes, never long.
GatewayText = Annotated[SafeStr, Field(max_length=128)]


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class StatusChange(BaseModel):
    status: str
    at: datetime
    detail: str


class MessageView(BaseModel):
    id: UUID
    event_id: UUID
    event_type: str
    channel: str
    template_id: str
    template_version: int
    status: str
    provider: str | None
    provider_message_id: str | None
    attempts: int
    subject: str | None
    body_text: str
    last_error: str | None
    fallback_of: UUID | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusChange]


class NotificationList(BaseModel):
    dossier: str
    messages: list[MessageView]


@router.get(
    "/notifications",
    response_model=NotificationList,
    summary="Messages of a dossier with their status history.",
)
async def list_notifications(request: Request, dossier: DossierRef) -> dict[str, Any]:
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
    model_config = ConfigDict(extra="forbid")

    contact_ref: ContactRef
    channel: OptOutChannel


class OptOutEntry(BaseModel):
    channel: OptOutChannel
    created_at: datetime


class OptOutList(BaseModel):
    contact_ref: str
    opt_outs: list[OptOutEntry]


@router.post(
    "/opt-outs",
    status_code=201,
    response_model=OptOut,
    summary="A contact stops receiving a channel.",
)
async def add_opt_out(body: OptOut, request: Request) -> OptOut:
    await _rt(request).pool.execute(
        "INSERT INTO opt_outs (contact_ref, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        body.contact_ref,
        body.channel,
    )
    return body


@router.delete("/opt-outs/{contact_ref}/{channel}", status_code=204, summary="Opt back in.")
async def remove_opt_out(
    contact_ref: ContactRefPath, channel: OptOutChannel, request: Request
) -> Response:
    await _rt(request).pool.execute(
        "DELETE FROM opt_outs WHERE contact_ref = $1 AND channel = $2", contact_ref, channel
    )
    return Response(status_code=204)


@router.get(
    "/opt-outs/{contact_ref}",
    response_model=OptOutList,
    summary="The channels a contact opted out of.",
)
async def list_opt_outs(contact_ref: ContactRefPath, request: Request) -> dict[str, Any]:
    rows = await _rt(request).pool.fetch(
        "SELECT channel, created_at FROM opt_outs WHERE contact_ref = $1 ORDER BY channel",
        contact_ref,
    )
    return {"contact_ref": contact_ref, "opt_outs": [dict(r) for r in rows]}
