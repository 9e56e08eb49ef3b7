"""Every status change of a message goes through here: forward only, recorded, announced.

The sender's outcomes and the gateways' receipts race each other and arrive twice or out
of order; `next_status` decides, under a row lock, so the stored status is the same
whatever the arrival order. Each real change appends a history row and publishes
``notification.status_changed`` through the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID

from asyncpg import Record

from services.notify.adapters import store
from services.notify.domain.lifecycle import DeliveryStatus, next_status
from services.notify.domain.model import StatusChange
from services.notify.domain.receipt_auth import Ignore, MessageFacts, receipt_target
from services.notify.providers.base import DeliveryReceipt
from services.runtime.db import DbConn
from services.runtime.service import Runtime

log = logging.getLogger(__name__)


async def apply_status(
    conn: DbConn,
    rt: Runtime,
    message_id: UUID,
    incoming: DeliveryStatus,
    detail: str = "",
    *,
    provider: str | None = None,
    provider_message_id: str | None = None,
    sent: bool = False,
    next_attempt_at: datetime | None = None,
) -> DeliveryStatus | None:
    """Merge `incoming` into one message; the new status, or None when nothing changed.
    (Batches go through `store.apply_changes` directly.)"""
    change = StatusChange(
        message_id,
        incoming,
        detail,
        provider=provider,
        provider_message_id=provider_message_id,
        sent=sent,
        next_attempt_at=next_attempt_at,
    )
    merged = await store.apply_changes(conn, rt, [change])
    if not merged or not merged[0].changed:
        return None
    return merged[0].after


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    status: DeliveryStatus | None = None  # the new status; None when nothing changed
    ignored: str | None = None  # why the receipt was not applied at all


Confirm = Callable[[str], Awaitable[DeliveryReceipt | None]]


async def apply_receipt(
    rt: Runtime,
    receipt: DeliveryReceipt,
    *,
    message_id: UUID | None = None,
    confirm: Confirm | None = None,
) -> ReceiptResult:
    """An authenticated gateway's delivery report.

    It may only move a message handed to that gateway under the message id it names
    (`receipt_target`); anything else is ignored and changes nothing. `message_id` is
    the message the callback URL is bound to (eSMS); otherwise the message is found by
    (provider, provider message id). With `confirm`, a report that would change the
    status is checked with the gateway first and the gateway's answer is what counts.
    """
    await _await_send_result(rt, receipt, message_id)
    async with rt.pool.acquire() as conn:
        found = await _receipt_message(conn, receipt, message_id)
    why = _why_ignored(found, receipt)
    if why is not None:
        log.warning("receipt from %s ignored: %s", receipt.provider, why)
        return ReceiptResult(ignored=why)
    assert found is not None
    current = DeliveryStatus(found["status"])
    if next_status(current, receipt.status) is current:
        # Late or repeated (statuses only move forward): nothing to lock or write.
        return ReceiptResult()
    if confirm is not None:
        # Asked without holding a connection: the gateway may take its time.
        confirmed = await confirm(str(found["provider_message_id"]))
        if confirmed is None:
            log.warning("receipt from %s not confirmed by its status query", receipt.provider)
            return ReceiptResult(ignored="not confirmed by the gateway")
        receipt = replace(confirmed, request_id=receipt.request_id)
    async with rt.pool.acquire() as conn, conn.transaction():
        locked = await _receipt_message(conn, receipt, found["id"], lock=True)
        why = _why_ignored(locked, receipt)
        if why is not None:
            return ReceiptResult(ignored=why)
        assert locked is not None
        current = DeliveryStatus(locked["status"])
        if next_status(current, receipt.status) is current:
            return ReceiptResult()  # late or repeated: nothing to write
        detail = f"receipt {receipt.provider}" + (f": {receipt.error}" if receipt.error else "")
        change = StatusChange(
            found["id"], receipt.status, detail, provider_message_id=receipt.provider_message_id
        )
        merged = await store.apply_changes(conn, rt, [change], locked=[locked])
        return ReceiptResult(status=merged[0].after if merged and merged[0].changed else None)


class _Pending(Protocol):
    def holds(self, message_id: UUID) -> bool: ...

    async def settled(self, message_id: UUID) -> None: ...


async def _await_send_result(
    rt: Runtime, receipt: DeliveryReceipt, message_id: UUID | None
) -> None:
    """A gateway may report before this process recorded its answer (the sender writes
    outcomes in batches): wait for that write rather than miss the receipt."""
    pending: _Pending | None = rt.state.get("recorder")
    if pending is None:
        return
    target = message_id
    if target is None and receipt.request_id:
        try:
            target = UUID(receipt.request_id)
        except ValueError:
            return
    if target is not None and pending.holds(target):
        await pending.settled(target)


async def _receipt_message(
    conn: DbConn, receipt: DeliveryReceipt, message_id: UUID | None, *, lock: bool = False
) -> Record | None:
    return await store.receipt_message(
        conn,
        message_id=message_id,
        provider=receipt.provider,
        provider_message_id=receipt.provider_message_id,
        lock=lock,
    )


def _why_ignored(row: Record | None, receipt: DeliveryReceipt) -> str | None:
    facts = (
        None
        if row is None
        else MessageFacts(
            channel=row["channel"],
            provider=row["provider"],
            provider_message_id=row["provider_message_id"],
            sent=row["sent_at"] is not None,
        )
    )
    why = receipt_target(facts, receipt.provider, receipt.provider_message_id)
    if why is not None:
        return why.value
    assert row is not None
    if receipt.request_id is not None and receipt.request_id != str(row["id"]):
        return Ignore.OTHER_ID.value  # the gateway echoes our request id: it must agree
    return None
