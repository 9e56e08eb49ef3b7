"""Every status change of a message goes through here: forward only, recorded, announced.

The sender's outcomes and the gateways' receipts race each other and arrive twice or out
of order; `next_status` decides, under a row lock, so the stored status is the same
whatever the arrival order. Each real change appends a history row and publishes
``notification.status_changed`` through the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from contracts.events import NotificationStatusChanged
from services.notify.domain.lifecycle import DeliveryStatus, next_status
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
    """Merge `incoming` into the message; the new status, or None when nothing changed."""
    row = await conn.fetchrow(
        "SELECT status, dossier_id, dossier_code, channel, template_id, template_version,"
        " provider FROM messages WHERE id = $1 FOR UPDATE",
        message_id,
    )
    if row is None:
        return None
    current = DeliveryStatus(row["status"])
    new = next_status(current, incoming)
    await conn.execute(
        "UPDATE messages SET status = $2, provider = COALESCE($3, provider),"
        " provider_message_id = COALESCE(provider_message_id, $4),"
        " sent_at = CASE WHEN $5 THEN COALESCE(sent_at, now()) ELSE sent_at END,"
        " last_error = CASE WHEN $6 = '' THEN last_error ELSE $6 END,"
        " next_attempt_at = COALESCE($7, next_attempt_at),"
        " lease_until = CASE WHEN $2 = 'sending' THEN lease_until END, updated_at = now()"
        " WHERE id = $1",
        message_id,
        new.value,
        provider,
        provider_message_id,
        sent,
        detail if incoming is not DeliveryStatus.SENT else "",
        next_attempt_at,
    )
    if new is current:
        return None
    await conn.execute(
        "INSERT INTO message_status_history (message_id, status, detail) VALUES ($1,$2,$3)",
        message_id,
        new.value,
        detail,
    )
    event = NotificationStatusChanged(
        dossier_code=row["dossier_code"],
        message_id=message_id,
        channel=row["channel"],
        status=new.value,
        template_id=row["template_id"],
        template_version=row["template_version"],
        provider=provider or row["provider"],
    )
    await rt.publish(
        conn,
        "dossier.notify",
        "notification.status_changed",
        UUID(str(row["dossier_id"])),
        event.model_dump(mode="json"),
    )
    return new


async def apply_receipt(rt: Runtime, receipt: DeliveryReceipt) -> DeliveryStatus | None:
    """A gateway's delivery report; unknown messages are acknowledged and ignored."""
    async with rt.pool.acquire() as conn, conn.transaction():
        message_id: UUID | None = None
        if receipt.request_id:
            try:
                message_id = UUID(receipt.request_id)
            except ValueError:
                message_id = None
        if message_id is None and receipt.provider_message_id:
            found = await conn.fetchval(
                "SELECT id FROM messages WHERE provider = $1 AND provider_message_id = $2",
                receipt.provider,
                receipt.provider_message_id,
            )
            message_id = found
        if message_id is None:
            log.warning("receipt from %s for an unknown message", receipt.provider)
            return None
        detail = f"receipt {receipt.provider}" + (f": {receipt.error}" if receipt.error else "")
        return await apply_status(
            conn,
            rt,
            message_id,
            receipt.status,
            detail,
            provider_message_id=receipt.provider_message_id,
        )
