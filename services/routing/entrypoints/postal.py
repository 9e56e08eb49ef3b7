"""The postal service's tracking callbacks, signed with the shared secret (docs/POSTAL.md),
and the postal order of a dossier for the desk (or ops)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from contracts.bounds import Instant, SafeStr
from services.routing.adapters import postal as pa
from services.routing.domain import postal as core
from services.routing.handlers import Routing
from services.routing.postal import UnknownOrder, on_tracking
from services.runtime.auth import service_caller
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

router = APIRouter(prefix="/v1/postal", tags=["postal"])


class TrackingCallback(BaseModel):
    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._:\-]+$")
    partner_order_code: SafeStr = Field(default="", max_length=200)
    tracking_number: SafeStr = Field(default="", max_length=64)
    status: Literal["accepted", "in_transit", "delivered", "returned_to_sender"]
    at: Instant
    note: SafeStr = Field(default="", max_length=500)


class TrackingAnswer(BaseModel):
    order_id: str
    status: str
    duplicate: bool = False
    dossier_status: int | None = None


@router.post(
    "/tracking",
    response_model=TrackingAnswer,
    responses=problem_responses(401, 404, 422),
    summary="A tracking callback of the postal service (HMAC-signed).",
    description="Headers `X-Postal-Timestamp` (unix seconds) and `X-Postal-Signature`"
    " (hex HMAC-SHA256 of `timestamp.body` with the shared secret); the signature is"
    " checked on the raw body before it is read.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TrackingCallback.model_json_schema()}},
        }
    },
)
async def tracking(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    secret: str = rt.state["postal_callback_secret"]
    body = await request.body()
    timestamp = request.headers.get(core.TIMESTAMP_HEADER, "")
    signature = request.headers.get(core.SIGNATURE_HEADER, "")
    if not core.verify(secret, timestamp, signature, body, time.time()):
        raise ProblemError(401, "Chữ ký của bưu điện không hợp lệ")
    try:
        callback = TrackingCallback.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ProblemError(422, "Dữ liệu theo dõi bưu gửi không hợp lệ", str(exc)[:300]) from exc
    routing: Routing = rt.state["routing"]
    async with rt.pool.acquire() as conn, conn.transaction():
        try:
            return await on_tracking(routing, conn, callback.order_id, callback.status, callback.at)
        except UnknownOrder as exc:
            raise ProblemError(404, "Không tìm thấy đơn hàng bưu chính") from exc


class PostalOrder(BaseModel):
    order_ref: str
    state: str
    attempts: int
    order_id: str | None
    tracking_number: str | None
    postal_status: str | None
    last_error: str | None


@router.get(
    "/orders/{dossier_id}",
    response_model=PostalOrder,
    responses=problem_responses(403, 404),
    summary="The postal order of a dossier (services only).",
)
async def order(
    dossier_id: UUID,
    request: Request,
    _caller: Annotated[str, Depends(service_caller("ops", "intake"))],
) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        found = await pa.order_of(conn, dossier_id)
    if found is None:
        raise ProblemError(404, "Hồ sơ không có đơn hàng bưu chính")
    return found
