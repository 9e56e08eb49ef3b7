"""Every status change of a message goes through here: forward only, recorded, announced.

The sender's outcomes and the gateways' receipts race each other and arrive twice or out
of order; `next_status` decides, under a row lock, so the stored status is the same
whatever the arrival order. Each real change appends a history row and publishes
``notification.status_changed`` through the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID

from asyncpg import Record

from services.notify.adapters import store
from services.notify.batching import Coalescer
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

    Receipts arrive one request at a time; their reads and their writes are grouped
    (`ReceiptBook`): one statement finds the messages of every receipt waiting, one
    transaction locks and moves those of every receipt ready to be written.
    """
    await _await_send_result(rt, receipt, message_id)
    book = receipt_book(rt)
    found = await book.lookups.submit((receipt, message_id))
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
    return await book.writes.submit((receipt, found["id"]))


_Lookup = tuple[DeliveryReceipt, UUID | None]
_Write = tuple[DeliveryReceipt, UUID]


class ReceiptBook:
    """The grouped reads and writes of the receipts this process is handling."""

    def __init__(self, rt: Runtime, *, max_batch: int = 200) -> None:
        self.rt = rt
        self.lookups: Coalescer[_Lookup, Record | None] = Coalescer(
            self._look, max_batch=max_batch, name="receipt look-ups"
        )
        self.writes: Coalescer[_Write, ReceiptResult] = Coalescer(
            self._write, max_batch=max_batch, name="receipt writes"
        )

    async def _look(self, items: Sequence[_Lookup]) -> list[Record | None]:
        keys = [(m, r.provider, r.provider_message_id) for r, m in items]
        async with self.rt.pool.acquire() as conn:
            return await store.receipt_messages(conn, keys)

    async def _write(self, items: Sequence[_Write]) -> list[ReceiptResult]:
        """Every receipt checked again under the row locks, in arrival order (several of
        one message fold forward), then one `apply_changes` for them all."""
        async with self.rt.pool.acquire() as conn, conn.transaction():
            locked = await store.lock_receipt_messages(conn, [m for _, m in items])
            status = {i: DeliveryStatus(r["status"]) for i, r in locked.items()}
            results: list[ReceiptResult | None] = []
            changes: list[StatusChange] = []
            for receipt, message_id in items:
                row = locked.get(message_id)
                why = _why_ignored(row, receipt)
                if why is not None:
                    results.append(ReceiptResult(ignored=why))
                    continue
                if next_status(status[message_id], receipt.status) is status[message_id]:
                    results.append(ReceiptResult())  # late or repeated: nothing to write
                    continue
                status[message_id] = next_status(status[message_id], receipt.status)
                detail = f"receipt {receipt.provider}" + (
                    f": {receipt.error}" if receipt.error else ""
                )
                changes.append(
                    StatusChange(
                        message_id,
                        receipt.status,
                        detail,
                        provider_message_id=receipt.provider_message_id,
                    )
                )
                results.append(None)  # filled from the merge below
            merged = iter(
                await store.apply_changes(
                    conn, self.rt, changes, locked=[locked[c.message_id] for c in changes]
                )
            )
            return [
                r
                if r is not None
                else ReceiptResult(status=m.after if (m := next(merged)).changed else None)
                for r in results
            ]


def receipt_book(rt: Runtime) -> ReceiptBook:
    book: ReceiptBook | None = rt.state.get("receipt_book")
    if book is None:
        book = rt.state["receipt_book"] = ReceiptBook(rt)
    return book


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
