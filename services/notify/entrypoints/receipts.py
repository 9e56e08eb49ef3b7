"""The gateways' delivery receipts: authenticated per gateway, then matched narrowly.

A request that does not prove it comes from the gateway is refused (401, or 403 for a
source address outside the gateway's allow-list) and changes nothing. An authenticated
receipt is acknowledged as the gateway expects (200) even when it is ignored because it
names no message handed to that gateway: gateways retry what they see fail.

- ``GET /v1/callbacks/esms/{message_id}/{token}``: the CallbackUrl notify gives eSMS with
  each message; a report that would change the status is confirmed with eSMS's status
  query, whose answer is what counts. ``/v1/callbacks/esms`` without a token is refused.
- ``POST /v1/callbacks/zalo``: the OA webhook, ``X-ZEvent-Signature`` checked over the
  raw body, its ``timestamp`` no older than ``ZALO_WEBHOOK_MAX_AGE_SECONDS``.
- ``POST /v1/callbacks/viettel``: Viettel documents no delivery report; the synchronous
  send result is what counts. The endpoint serves a report channel agreed per contract,
  with ``Authorization: Bearer <VIETTEL_RECEIPT_TOKEN>``; an empty token refuses all.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request

from contracts.bounds import storable_text
from services.notify.domain.receipt_auth import (
    Network,
    bearer,
    receipt_token,
    secret_ok,
    source_allowed,
    timestamp_fresh,
    zalo_signature_ok,
)
from services.notify.handlers import NotifyContext
from services.notify.providers import esms, viettel_soap, zalo_zns
from services.notify.status import ReceiptResult, apply_receipt
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/callbacks", tags=["delivery receipts"])

UNAUTHENTICATED = "Biên nhận giao tin không được xác thực"
STALE = "Biên nhận giao tin đã quá thời hạn"
FORBIDDEN_SOURCE = "Địa chỉ nguồn không được phép gửi biên nhận"


@dataclass(frozen=True, slots=True)
class ReceiptConfig:
    """What the receipt endpoints check, from notify's settings."""

    token_secret: str
    zalo_app_id: str
    zalo_oa_secret_key: str
    zalo_max_age_seconds: float
    viettel_token: str
    networks: dict[str, tuple[Network, ...]] = field(default_factory=dict)
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _config(request: Request) -> ReceiptConfig:
    config: ReceiptConfig = _rt(request).state["receipts"]
    return config


def _check_source(request: Request, provider: str) -> None:
    address = request.client.host if request.client else None
    if not source_allowed(address, _config(request).networks.get(provider, ())):
        log.warning("receipt for %s refused: source address not allowed", provider)
        raise ProblemError(403, FORBIDDEN_SOURCE, f"Receipts for {provider} are not accepted here.")


def _refuse(provider: str, why: str, title: str = UNAUTHENTICATED) -> ProblemError:
    log.warning("receipt for %s refused: %s", provider, why)
    return ProblemError(401, title, why)


INVALID = "Dữ liệu không hợp lệ"
# Refused receipts (no or a bad credential, a source outside the allow-list, bad text).
GUARDED = problem_responses(401, 403, 422)
MAX_GATEWAY_TEXT = 1000


def _storable(value: Any) -> Any:
    """A gateway's JSON or query values, refused (422) when PostgreSQL could not store a
    string (NUL bytes, lone surrogates) or a string is absurdly long."""
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, str):
        try:
            storable_text(value)
        except ValueError as exc:
            raise ProblemError(422, INVALID, str(exc)) from exc
        if len(value) > MAX_GATEWAY_TEXT:
            raise ProblemError(422, INVALID, "A value is longer than a gateway sends.")
    return value


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ProblemError(422, INVALID, "The report is not JSON.") from exc
    if not isinstance(body, dict):
        raise ProblemError(422, INVALID, "The report is not a JSON object.")
    checked: dict[str, Any] = _storable(body)
    return checked


def _answer(result: ReceiptResult) -> dict[str, Any]:
    return {"ok": True, "status": result.status}


@router.get("/esms", responses=GUARDED, summary="eSMS delivery report without its token: refused.")
async def esms_callback_without_token(request: Request) -> dict[str, Any]:
    _check_source(request, "esms")
    raise _refuse("esms", "The receipt URL carries no token.")


@router.get(
    "/esms/{message_id}/{token}",
    responses=GUARDED,
    summary="eSMS delivery report (GET to the CallbackUrl).",
)
async def esms_callback(message_id: str, token: str, request: Request) -> dict[str, Any]:
    _check_source(request, "esms")
    config = _config(request)
    if not config.token_secret or not secret_ok(
        token, receipt_token(config.token_secret, "esms", message_id)
    ):
        raise _refuse("esms", "The receipt token is not valid for this message.")
    _storable([message_id, token])
    try:
        bound = UUID(message_id)
    except ValueError:
        return _answer(ReceiptResult(ignored="not a message id"))
    ctx: NotifyContext = _rt(request).state["notify"]
    provider = ctx.esms
    if provider is None:
        return _answer(ReceiptResult(ignored="eSMS not configured"))
    params = _storable(dict(request.query_params))
    receipt = esms.parse_callback(params, provider=provider.name)
    result = await apply_receipt(
        _rt(request), receipt, message_id=bound, confirm=provider.query_status
    )
    return _answer(result)


@router.post(
    "/viettel",
    responses=GUARDED,
    summary="Viettel delivery report (a channel agreed per contract).",
)
async def viettel_callback(request: Request) -> dict[str, Any]:
    _check_source(request, "viettel")
    token = bearer(request.headers.get("authorization"))
    if not secret_ok(token, _config(request).viettel_token):
        raise _refuse("viettel", "A valid bearer token is required.")
    body = _json_object(await request.body())
    return _answer(await apply_receipt(_rt(request), viettel_soap.parse_receipt(body)))


@router.post("/zalo", responses=GUARDED, summary="Zalo OA webhook (user_received_message), signed.")
async def zalo_callback(request: Request) -> dict[str, Any]:
    _check_source(request, "zalo")
    config = _config(request)
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    timestamp = str(body.get("timestamp", "")) if isinstance(body, dict) else ""
    signed = zalo_signature_ok(
        request.headers.get("x-zevent-signature"),
        config.zalo_app_id,
        raw,
        timestamp,
        config.zalo_oa_secret_key,
    )
    if not signed or not isinstance(body, dict):
        raise _refuse("zalo", "X-ZEvent-Signature is missing or does not match.")
    if not timestamp_fresh(timestamp, config.clock_ms(), config.zalo_max_age_seconds):
        raise _refuse("zalo", "The webhook timestamp is too old or too far ahead.", STALE)
    receipt = zalo_zns.parse_webhook(_storable(body))
    if receipt is None:
        return {"ok": True, "status": None}  # other webhook events are not ours
    return _answer(await apply_receipt(_rt(request), receipt))
