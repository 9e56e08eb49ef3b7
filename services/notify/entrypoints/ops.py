"""Operators' view of messages that ended in a technical failure, and their replay.

``GET /v1/admin/failed-messages`` lists them (no personal data: messages hold none);
``POST /v1/admin/failed-messages/{id}/replay`` gives one its tries back. Both take the
``ops`` or ``routing`` (the console's) service credential in ``X-Service-Token``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from services.notify.adapters import store
from services.runtime.auth import service_caller
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

router = APIRouter(prefix="/v1/admin", tags=["ops"])
Operator = Annotated[str, Depends(service_caller("ops", "routing"))]
NOT_REPLAYABLE = "Tin nhắn không ở trạng thái lỗi kỹ thuật"


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get(
    "/failed-messages",
    responses=problem_responses(401, 403),
    summary="Messages that ended in a technical failure.",
)
async def failed_messages(
    request: Request, caller: Operator, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    async with _rt(request).pool.acquire() as conn:
        return {"messages": await store.list_failures(conn, limit)}


@router.post(
    "/failed-messages/{message_id}/replay",
    responses=problem_responses(401, 403, 404, 409),
    summary="Send a technically failed message again, with a new retry window.",
)
async def replay_failed_message(
    message_id: UUID, request: Request, caller: Operator
) -> dict[str, Any]:
    rt = _rt(request)
    async with rt.pool.acquire() as conn, conn.transaction():
        replayed = await store.replay_failure(conn, rt, message_id, caller, datetime.now(UTC))
    if not replayed:
        raise ProblemError(409, NOT_REPLAYABLE, f"Message {message_id} is not a technical failure.")
    return {"message_id": str(message_id), "status": "temporary_failure"}
