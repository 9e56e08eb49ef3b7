"""Portal set-up: operators create portals and keys; portals register callback URLs;
operators list and replay dead callback deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from contracts.intake_api import (
    NationalPush,
    PortalCreate,
    PortalCreated,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
)
from services.intake.adapters import national_sender, portals
from services.intake.adapters.callback_network import registration_refusal
from services.intake.entrypoints.http import UNAUTHORISED, problem
from services.intake.entrypoints.security import ContextDep, OperatorDep, PortalDep
from services.runtime.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["portals"])
admin = APIRouter(prefix="/v1/admin", tags=["operators"], dependencies=[OperatorDep])
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: problem("A valid X-Service-Token is required.")}


@admin.post(
    "/portals",
    status_code=201,
    response_model=PortalCreated,
    summary="Create a portal and its API key (shown once; stored hashed).",
    responses=FORBIDDEN,
)
async def create_portal(body: PortalCreate, ctx: ContextDep) -> dict[str, Any]:
    unknown = sorted(u for u in body.units if u != portals.ALL_UNITS and u not in ctx.catalog.units)
    if unknown:
        raise ProblemError(422, "Đơn vị không tồn tại", f"Unknown units: {unknown}.")
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        portal_id, api_key = await portals.create_portal(conn, body.name, body.units)
    return {"portal_id": portal_id, "name": body.name, "units": body.units, "api_key": api_key}


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a callback URL for every public status change of this portal's dossiers.",
    description=(
        "Each change is POSTed as JSON (`StatusCallback`) with headers `X-Onestop-Timestamp`,"
        " `X-Onestop-Signature: sha256=HMAC(secret, timestamp + '.' + body)` and"
        " `X-Onestop-Delivery`. Answer 2xx to acknowledge; 5xx, 429 and network errors are"
        " retried with doubling delays, then the delivery is dead until an operator replays"
        " it. Deliveries may arrive out of order: keep the highest `version` per dossier."
        " The URL must be http(s) and its host must resolve to public addresses only;"
        " redirects are not followed (a 3xx is a failed delivery)."
    ),
    responses={
        401: UNAUTHORISED,
        422: problem("Invalid body, or a callback URL that may not be called (not public)."),
    },
)
async def register_webhook(
    body: WebhookCreate, ctx: ContextDep, portal: PortalDep
) -> dict[str, Any]:
    settings = ctx.settings
    refusal = await registration_refusal(
        body.url, settings.webhook_policy, resolve_seconds=settings.webhook_timeout_seconds
    )
    if refusal is not None:
        raise ProblemError(
            422,
            f"Địa chỉ gọi lại không được chấp nhận: url = {body.url}",
            f"Callback URLs must be http(s) and reach public addresses only: {refusal}.",
            field="url",
            value=body.url,
        )
    async with ctx.runtime.pool.acquire() as conn:
        webhook_id, secret = await portals.create_webhook(
            conn, portal.id, body.url, body.max_attempts, body.backoff_seconds
        )
    return {"id": webhook_id, "url": body.url, "secret": secret}


@admin.get(
    "/webhook-deliveries",
    response_model=list[WebhookDelivery],
    summary="List callback deliveries by state (dead ones wait for a replay).",
    responses=FORBIDDEN,
)
async def list_deliveries(
    ctx: ContextDep,
    state: Annotated[Literal["pending", "delivered", "dead"], Query()] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    async with ctx.runtime.pool.acquire() as conn:
        return await portals.list_deliveries(conn, state, limit)


@admin.post(
    "/webhook-deliveries/{delivery_id}/replay",
    response_model=WebhookDelivery,
    summary="Send a dead delivery again (attempts start from zero).",
    responses={**FORBIDDEN, 404: problem("No dead delivery with this id.")},
)
async def replay_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)], ctx: ContextDep
) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await portals.replay_delivery(conn, delivery_id)
    if row is None:
        raise ProblemError(404, "Không tìm thấy lần gửi", f"No dead delivery {delivery_id}.")
    return row


@admin.get(
    "/dvcqg-pushes",
    response_model=list[NationalPush],
    summary="List pushes to the national portal by state (dead ones wait for a replay).",
    responses=FORBIDDEN,
)
async def list_pushes(
    ctx: ContextDep,
    state: Annotated[Literal["pending", "sent", "dead"], Query()] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    async with ctx.runtime.pool.acquire() as conn:
        return await national_sender.list_pushes(conn, state, limit)


@admin.post(
    "/dvcqg-pushes/{push_id}/replay",
    response_model=NationalPush,
    summary="Send a dead push to the national portal again (attempts start from zero).",
    responses={**FORBIDDEN, 404: problem("No dead push with this id.")},
)
async def replay_push(
    push_id: Annotated[int, Path(ge=1, le=2**62)], ctx: ContextDep
) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        row = await national_sender.replay_push(conn, push_id)
    if row is None:
        raise ProblemError(404, "Không tìm thấy lần đẩy", f"No dead push {push_id}.")
    return row
