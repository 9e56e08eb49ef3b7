"""What the fake gateways share: the control endpoint, recording, receipt delivery."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from services.runtime.http_client import HttpClient, HttpResponse, TransportError

log = logging.getLogger(__name__)

DEFAULT_SLOW_MS = 1500
RECEIPT_SPACING_SECONDS = 0.02
# Like a real gateway, the first report comes a little after the send was answered:
# notify matches a receipt only once it has recorded the gateway's acceptance.
FIRST_RECEIPT_DELAY_SECONDS = 0.3


class Mode(StrEnum):
    OK = "ok"
    FAIL = "fail"  # 5xx, or the provider's own error code with failure="provider"
    SLOW = "slow"  # answer after delay_ms
    DUPLICATE_RECEIPTS = "duplicate_receipts"  # every receipt sent twice
    REORDER_RECEIPTS = "reorder_receipts"  # final receipt before the intermediate one


class ControlRequest(BaseModel):
    mode: Mode = Mode.OK
    delay_ms: int = Field(default=0, ge=0, le=120_000)
    failure: Literal["http", "provider"] = "http"
    callback_url: str | None = None  # replaces the configured receipt URL when given
    non_zalo_phones: list[str] | None = None  # Zalo fake only: numbers answered -118
    # Fail the next this many sends (as `failure` says), then answer as `mode` says.
    fail_next: int = Field(default=0, ge=0, le=1000)
    # eSMS fake only: the SendStatus its status query reports for every message from now
    # on (e.g. "7", still at the carrier); None: what its receipts reported.
    query_status: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptCall:
    method: Literal["GET", "POST"]
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    content: bytes | None = None  # a raw body (signed as sent); `json` when None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FakeState:
    callback_url: str | None = None
    mode: Mode = Mode.OK
    delay_ms: int = 0
    failure: Literal["http", "provider"] = "http"
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_provider_id: dict[str, dict[str, Any]] = field(default_factory=dict)  # SMSID, msg_id
    message_ids: dict[str, str] = field(default_factory=dict)  # client request id → id
    receipts_sent: list[dict[str, Any]] = field(default_factory=list)
    receipt_errors: int = 0
    non_zalo_phones: set[str] = field(default_factory=set)
    query_status: str | None = None
    fail_next: int = 0
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    # One client for every receipt (aiohttp: a tenth of httpx's CPU per request, and the
    # stand-ins share the cores with what they stand in for).
    client: HttpClient | None = None
    # Receipts wait here rather than in the client's pool, so thousands queued at a flood
    # hold no connection slot and cost nothing until their turn.
    receipt_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(32))

    def apply(self, control: ControlRequest) -> None:
        self.mode, self.delay_ms, self.failure = control.mode, control.delay_ms, control.failure
        if control.callback_url is not None:
            self.callback_url = control.callback_url
        if control.non_zalo_phones is not None:
            self.non_zalo_phones = set(control.non_zalo_phones)
        self.query_status = control.query_status
        self.fail_next = control.fail_next

    def record(self, message: dict[str, Any]) -> None:
        """Keep a message as received, with when (`received_at`, epoch seconds)."""
        message["received_at"] = time.time()
        self.messages.append(message)
        provider_id = message.get("SMSID") or message.get("msg_id")
        if provider_id:
            self.by_provider_id[str(provider_id)] = message

    def reset(self) -> None:
        self.mode, self.delay_ms, self.failure = Mode.OK, 0, "http"
        self.messages.clear()
        self.by_provider_id.clear()
        self.message_ids.clear()
        self.receipts_sent.clear()
        self.receipt_errors = 0
        self.query_status = None
        self.fail_next = 0

    @property
    def failing(self) -> bool:
        return self.mode is Mode.FAIL

    async def maybe_slow_down(self) -> None:
        if self.mode is Mode.SLOW:
            await asyncio.sleep((self.delay_ms or DEFAULT_SLOW_MS) / 1000)

    async def begin_send(self) -> bool:
        """Called once per send request: slow down if told to; whether this one fails."""
        await self.maybe_slow_down()
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return self.failing

    def order_receipts(self, calls: list[ReceiptCall]) -> list[ReceiptCall]:
        if self.mode is Mode.DUPLICATE_RECEIPTS:
            return [c for call in calls for c in (call, call)]
        if self.mode is Mode.REORDER_RECEIPTS:
            return list(reversed(calls))
        return calls

    def dispatch_receipts(self, calls: list[ReceiptCall], url: str | None = None) -> None:
        """Send receipts in the background, after the send response went out."""
        target = url or self.callback_url
        if not target:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(target, self.order_receipts(calls))
        )
        self.pending.add(task)  # keep a reference so the task is not collected
        task.add_done_callback(self.pending.discard)

    async def _deliver(self, url: str, calls: list[ReceiptCall]) -> None:
        if self.client is None:
            self.client = HttpClient(timeout=5.0, max_connections=50)
        client = self.client
        await asyncio.sleep(FIRST_RECEIPT_DELAY_SECONDS)
        for call in calls:
            await asyncio.sleep(RECEIPT_SPACING_SECONDS)
            try:
                async with self.receipt_gate:
                    response = await self._send_receipt(client, url, call)
            except TransportError as exc:
                self.receipt_errors += 1
                log.warning("receipt to %s failed: %s", url, exc.kind)
                continue
            if response.status_code >= 400:
                self.receipt_errors += 1
                log.warning("receipt to %s refused: %s", url, response.status_code)
                continue
            self.receipts_sent.append({"params": call.params, "json": call.json})

    @staticmethod
    async def _send_receipt(client: HttpClient, url: str, call: ReceiptCall) -> HttpResponse:
        if call.method == "GET":
            return await client.get(url, params=call.params, headers=call.headers)
        if call.content is not None:
            return await client.post(
                url, params=call.params, content=call.content, headers=call.headers
            )
        return await client.post(url, params=call.params, json=call.json, headers=call.headers)


def install_control(app: FastAPI, state: FakeState) -> None:
    """Add the control and inspection endpoints shared by every fake."""

    @app.post("/_control")
    async def control(request: ControlRequest) -> dict[str, Any]:
        state.apply(request)
        return {
            "mode": state.mode,
            "delay_ms": state.delay_ms,
            "failure": state.failure,
            "fail_next": state.fail_next,
        }

    @app.get("/_messages")
    async def messages() -> list[dict[str, Any]]:
        return state.messages

    @app.get("/_receipts")
    async def receipts() -> dict[str, Any]:
        return {"sent": state.receipts_sent, "errors": state.receipt_errors}

    @app.post("/_reset")
    async def reset() -> dict[str, str]:
        # Receipts still in flight would land in the next test's sink otherwise.
        await asyncio.gather(*state.pending, return_exceptions=True)
        state.reset()
        return {"mode": state.mode}
