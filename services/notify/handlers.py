"""Notify's use cases: turn citizen-facing events into messages, send them once."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from opentelemetry import trace

from contracts.envelope import EventEnvelope
from contracts.events import NotificationStatusChanged
from services.notify.adapters.contacts import ContactDirectory
from services.notify.adapters.email import SmtpSender
from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.masking import mask_email, mask_phone
from services.notify.domain.quiet_hours import quiet_hours_defer
from services.notify.domain.templates import RenderedMessage, render
from services.notify.providers.base import SmsProvider
from services.runtime.db import DbConn
from services.runtime.service import Runtime
from services.runtime.telemetry import context_from_carrier, current_trace_headers, tracer

log = logging.getLogger(__name__)
CHANNELS = ("email", "sms")
MAX_ATTEMPTS = 5


@dataclass
class NotifyContext:
    runtime: Runtime
    procedure_names: dict[str, str]
    contacts: ContactDirectory
    smtp: SmtpSender
    sms: SmsProvider
    quiet_window: tuple[time, time] | None = None


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` → (22:00, 07:00); empty → None (no quiet hours)."""
    if not text.strip():
        return None
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def params_for(ctx: NotifyContext, env: EventEnvelope) -> dict[str, Any]:
    p = env.payload
    params: dict[str, Any] = {
        "dossier_code": p["dossier_code"],
        "procedure_name": ctx.procedure_names.get(
            p.get("procedure_code", ""), "thủ tục hành chính"
        ),
    }
    if env.event_type == "dossier.received":
        params["appointment_date"] = p["appointment_at"]
    return params


async def on_citizen_event(ctx: NotifyContext, conn: DbConn, env: EventEnvelope) -> None:
    params = params_for(ctx, env)
    contact_ref = str(env.payload.get("contact_ref") or env.dossier_id)
    now = datetime.now(UTC)
    for channel in CHANNELS:
        rendered = render(env.event_type, channel, params)
        deferred = quiet_hours_defer(now, channel, ctx.quiet_window) if ctx.quiet_window else None
        send_at = deferred or now
        await _create_message(conn, env, channel, contact_ref, rendered, send_at)


async def _create_message(
    conn: DbConn,
    env: EventEnvelope,
    channel: str,
    contact_ref: str,
    rendered: RenderedMessage,
    send_at: datetime,
) -> None:
    message_id = uuid4()
    text = rendered.text
    if rendered.sms is not None:
        text = rendered.sms.unaccented.text
    inserted = await conn.fetchval(
        "INSERT INTO messages (id, event_id, event_type, channel, contact_ref, dossier_id,"
        " dossier_code, template_id, template_version, provider_template, subject, body_text,"
        " body_html, status, next_attempt_at, trace_headers)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb,$11,$12,$13,'created',$14,$15::jsonb)"
        " ON CONFLICT (event_id, channel, contact_ref) DO NOTHING RETURNING true",
        message_id,
        env.event_id,
        env.event_type,
        channel,
        contact_ref,
        env.dossier_id,
        env.payload["dossier_code"],
        rendered.template_id,
        rendered.template_version,
        _json(dict(rendered.provider_template_ids)),
        rendered.subject,
        text,
        rendered.html,
        send_at,
        # The send happens later, in the sender job; this keeps it in the dossier's trace.
        _json(current_trace_headers()),
    )
    if inserted:
        await conn.execute(
            "INSERT INTO message_status_history (message_id, status) VALUES ($1, 'created')",
            message_id,
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def send_due_messages(ctx: NotifyContext, now: datetime, limit: int = 50) -> int:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = now()"
            " WHERE id IN (SELECT id FROM messages WHERE status IN ('created','temporary_failure')"
            " AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            now,
            limit,
        )
        for row in rows:
            await conn.execute(
                "INSERT INTO message_status_history (message_id, status) VALUES ($1, 'sending')",
                row["id"],
            )
    for row in rows:
        await _deliver(ctx, dict(row))
    return len(rows)


async def _deliver(ctx: NotifyContext, row: dict[str, Any]) -> None:
    parent = context_from_carrier(json.loads(row["trace_headers"]))
    with tracer().start_as_current_span(
        f"notify deliver {row['channel']}",
        context=parent,
        kind=trace.SpanKind.CLIENT,
        attributes={
            "onestop.dossier_code": row["dossier_code"],
            "onestop.channel": row["channel"],
            "onestop.template": f"{row['template_id']}@{row['template_version']}",
            "onestop.attempt": row["attempts"],
        },
    ):
        await _deliver_in_span(ctx, row)


async def _deliver_in_span(ctx: NotifyContext, row: dict[str, Any]) -> None:
    message_id = str(row["id"])
    provider: str | None = None
    provider_id: str | None = None
    try:
        contact = await ctx.contacts.fetch(row["contact_ref"])
        if row["channel"] == "email":
            provider = "smtp"
            if not contact.email:
                await _finish(ctx, row, DeliveryStatus.PERMANENT_FAILURE, None, None, "no email")
                return
            provider_id = await ctx.smtp.send(
                message_id, contact.email, row["subject"] or "", row["body_text"], row["body_html"]
            )
            log.info("email %s sent to %s", message_id, mask_email(contact.email))
            await _finish(ctx, row, DeliveryStatus.SENT, provider, provider_id, "")
            return
        provider = ctx.sms.name
        template_ids = json.loads(row["provider_template"])
        result = await ctx.sms.send(
            message_id, contact.phone, row["body_text"], template_ids.get(provider)
        )
        log.info(
            "sms %s to %s: accepted=%s", message_id, mask_phone(contact.phone), result.accepted
        )
        if result.accepted:
            await _finish(ctx, row, DeliveryStatus.SENT, provider, result.provider_message_id, "")
        elif result.retryable:
            await _retry_later(ctx, row, result.error or "provider error")
        else:
            await _finish(
                ctx,
                row,
                DeliveryStatus.PERMANENT_FAILURE,
                provider,
                None,
                result.error or "rejected",
            )
    except (httpx.HTTPError, OSError) as exc:
        await _retry_later(ctx, row, type(exc).__name__)


async def _retry_later(ctx: NotifyContext, row: dict[str, Any], error: str) -> None:
    if row["attempts"] >= MAX_ATTEMPTS:
        await _finish(ctx, row, DeliveryStatus.TECHNICAL_FAILURE, None, None, error)
        return
    delay = timedelta(seconds=min(2 ** row["attempts"], 300))
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE messages SET status = 'temporary_failure', next_attempt_at = now() + $2,"
            " last_error = $3, updated_at = now() WHERE id = $1",
            row["id"],
            delay,
            error,
        )
        await conn.execute(
            "INSERT INTO message_status_history (message_id, status, detail)"
            " VALUES ($1, 'temporary_failure', $2)",
            row["id"],
            error,
        )


async def _finish(
    ctx: NotifyContext,
    row: dict[str, Any],
    status: DeliveryStatus,
    provider: str | None,
    provider_id: str | None,
    detail: str,
) -> None:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE messages SET status = $2, provider = $3, provider_message_id = $4,"
            " last_error = NULLIF($5, ''), updated_at = now() WHERE id = $1",
            row["id"],
            status.value,
            provider,
            provider_id,
            detail,
        )
        await conn.execute(
            "INSERT INTO message_status_history (message_id, status, detail) VALUES ($1,$2,$3)",
            row["id"],
            status.value,
            detail,
        )
        event = NotificationStatusChanged(
            dossier_code=row["dossier_code"],
            message_id=row["id"],
            channel=row["channel"],
            status=status.value,
            template_id=row["template_id"],
            template_version=row["template_version"],
            provider=provider,
        )
        await rt.publish(
            conn,
            "dossier.notify",
            "notification.status_changed",
            UUID(str(row["dossier_id"])),
            event.model_dump(mode="json"),
        )
