"""The sender: claims due messages, sends them concurrently, records each outcome.

Once: the claim marks a message 'sending' with a lease and the provider it will try
first; the request id every gateway sees is the message id. A process killed mid-send
leaves the message 'sending'; when the lease runs out another claim re-sends it with the
same request id to the same gateway first, which answers "already have it" instead of
sending again. (SMTP has no such id: an email whose 250 came just before a crash is sent
again; its Message-ID header is stable so mail systems can drop the copy.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx
from opentelemetry import trace

from services.notify.adapters.contacts import Contact, ContactNotFound
from services.notify.domain.lifecycle import DeliveryStatus, RetryPolicy, plan_retry
from services.notify.domain.masking import mask_email, mask_phone
from services.notify.domain.quiet_hours import VN_TZ
from services.notify.domain.rate_limit import rate_limit_decision
from services.notify.domain.templates import TemplateError, render
from services.notify.handlers import (
    NotifyContext,
    create_message,
    quiet_hours_defer_for,
    render_params,
)
from services.notify.status import apply_status
from services.runtime.db import DbConn
from services.runtime.telemetry import context_from_carrier, tracer

log = logging.getLogger(__name__)
_rng = random.Random()

_CLAIM_COLUMNS = (
    "id, event_id, event_type, channel, contact_ref, dossier_id, dossier_code, unit_code,"
    " template_id, template_version, params, trace_headers, attempts, status, provider"
)


async def send_due_messages(ctx: NotifyContext, now: datetime | None = None) -> int:
    """One round: claim a batch, send it, record outcomes. Returns messages claimed."""
    rows = await claim(ctx, now or datetime.now(UTC))
    if not rows:
        return 0
    contacts = await _fetch_contacts(ctx, {r["contact_ref"] for r in rows})
    gate = asyncio.Semaphore(ctx.concurrency)

    async def one(row: dict[str, Any]) -> None:
        async with gate:
            try:
                await deliver(ctx, row, contacts.get(row["contact_ref"]))
            except Exception:
                # The lease brings it back; a bug in one message must not stop the batch.
                log.exception("delivering message %s failed", row["id"])

    await asyncio.gather(*(one(r) for r in rows))
    return len(rows)


async def claim(ctx: NotifyContext, now: datetime) -> list[dict[str, Any]]:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        rows = [
            dict(r)
            for r in await conn.fetch(
                f"SELECT {_CLAIM_COLUMNS} FROM messages"
                " WHERE (status IN ('created', 'temporary_failure') AND sent_at IS NULL"
                "        AND next_attempt_at <= $1 AND contact_ref <> '')"
                "    OR (status = 'sending' AND lease_until < $1)"
                " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                ctx.batch_size,
            )
        ]
        if not rows:
            return []
        refs = list({r["contact_ref"] for r in rows})
        opted = {
            (r["contact_ref"], r["channel"])
            for r in await conn.fetch(
                "SELECT contact_ref, channel FROM opt_outs WHERE contact_ref = ANY($1::text[])",
                refs,
            )
        }
        recent: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        if ctx.rate_limits:
            horizon = now - max(limit.per for limit in ctx.rate_limits)
            # Messages still in flight count too: another batch may be sending them now.
            for r in await conn.fetch(
                "SELECT contact_ref, channel, COALESCE(sent_at, updated_at) AS sent_at"
                " FROM messages WHERE contact_ref = ANY($1::text[])"
                " AND (sent_at > $2 OR status = 'sending')",
                refs,
                horizon,
            ):
                recent[(r["contact_ref"], r["channel"])].append(r["sent_at"])
        to_send: list[dict[str, Any]] = []
        deferred: list[tuple[UUID, datetime]] = []
        for row in rows:
            key = (row["contact_ref"], row["channel"])
            if row["status"] == "sending" and row["attempts"] >= ctx.max_attempts:
                # Crashed (or crashed us) every time: stop, and leave it to an operator.
                await apply_status(
                    conn, rt, row["id"], DeliveryStatus.TECHNICAL_FAILURE, "lease expired"
                )
                await _dead_letter(conn, row, "lease expired on every attempt")
                continue
            if row["status"] == "sending":  # lease ran out: re-send as it was
                log.warning("message %s re-sent after its lease expired", row["id"])
                to_send.append(row)
                continue
            if key in opted:
                await apply_status(
                    conn, rt, row["id"], DeliveryStatus.PERMANENT_FAILURE, "opted out"
                )
                continue
            later = quiet_hours_defer_for(ctx, now, row["channel"], row["unit_code"])
            if later is None and ctx.rate_limits:
                decision = rate_limit_decision(now, recent[key], ctx.rate_limits)
                later = decision.retry_at
            if later is not None:
                deferred.append((row["id"], later))
                continue
            recent[key].append(now)
            row["provider"] = _planned_provider(ctx, row)
            to_send.append(row)
        if deferred:
            await conn.executemany(
                "UPDATE messages SET next_attempt_at = $2 WHERE id = $1", deferred
            )
        if to_send:
            await conn.execute(
                "UPDATE messages m SET status = 'sending', attempts = m.attempts + 1,"
                " lease_until = $3, provider = c.provider, updated_at = now()"
                " FROM unnest($1::uuid[], $2::text[]) AS c(id, provider) WHERE m.id = c.id",
                [r["id"] for r in to_send],
                [r["provider"] for r in to_send],
                now + timedelta(seconds=ctx.lease_seconds),
            )
            fresh = [r["id"] for r in to_send if r["status"] != "sending"]
            if fresh:
                await conn.execute(
                    "INSERT INTO message_status_history (message_id, status)"
                    " SELECT unnest($1::uuid[]), 'sending'",
                    fresh,
                )
        for row in to_send:
            row["attempts"] += 1
        return to_send


def _planned_provider(ctx: NotifyContext, row: dict[str, Any]) -> str:
    if row["channel"] == "email":
        return "smtp"
    if row["channel"] == "zalo":
        return "zalo"
    if row["provider"]:  # a retry after an answer that left it unclear: same gateway first
        return str(row["provider"])
    return ctx.sms.order(time.monotonic())[0]


async def _fetch_contacts(ctx: NotifyContext, refs: set[str]) -> dict[str, Contact | Exception]:
    async def one(ref: str) -> tuple[str, Contact | Exception]:
        try:
            return ref, await ctx.contacts.fetch(ref)
        except (ContactNotFound, httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            return ref, exc

    gate = asyncio.Semaphore(ctx.concurrency)

    async def bounded(ref: str) -> tuple[str, Contact | Exception]:
        async with gate:
            return await one(ref)

    return dict(await asyncio.gather(*(bounded(r) for r in refs)))


async def deliver(
    ctx: NotifyContext, row: dict[str, Any], contact: Contact | Exception | None
) -> None:
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
        await _deliver(ctx, row, contact)


async def _deliver(
    ctx: NotifyContext, row: dict[str, Any], contact: Contact | Exception | None
) -> None:
    if isinstance(contact, ContactNotFound):
        await _final(ctx, row, DeliveryStatus.PERMANENT_FAILURE, "contact not found")
        return
    if not isinstance(contact, Contact):
        await _failed(ctx, row, f"contact lookup: {type(contact).__name__}", retryable=True)
        return
    link = (
        ctx.links.url(row["contact_ref"], row["channel"], datetime.now(VN_TZ).date())
        if ctx.links is not None
        else None
    )
    params = render_params(json.loads(row["params"]), ctx.procedure_names, contact, link)
    try:
        rendered = render(row["event_type"], row["channel"], params)
    except TemplateError as exc:
        await _failed(ctx, row, str(exc), retryable=False)
        return
    message_id = str(row["id"])
    channel = row["channel"]
    try:
        if channel == "email":
            if not contact.email:
                await _final(ctx, row, DeliveryStatus.PERMANENT_FAILURE, "no email address")
                return
            provider_id = await ctx.smtp.send(
                message_id, contact.email, rendered.subject or "", rendered.text, rendered.html
            )
            log.info("email %s sent to %s", message_id, mask_email(contact.email))
            await _sent(ctx, row, "smtp", provider_id)
            return
        if channel == "zalo":
            await _deliver_zalo(
                ctx, row, contact, rendered.provider_template_ids, rendered.zns_template_data
            )
            return
        outcome = await ctx.sms.send(
            message_id,
            contact.phone,
            rendered.text,
            rendered.provider_template_ids,
            first=row["provider"],
        )
        result = outcome.result
        log.info(
            "sms %s to %s via %s: accepted=%s",
            message_id,
            mask_phone(contact.phone),
            outcome.provider or "-",
            result.accepted,
        )
        if result.accepted and outcome.provider is not None:
            await _sent(ctx, row, outcome.provider, result.provider_message_id)
            return
        await _failed(
            ctx,
            row,
            result.error or "no gateway accepted",
            retryable=result.retryable,
            recipient_rejected=result.recipient_rejected,
            provider=outcome.attempts[-1].provider if result.ambiguous else None,
        )
    except (TimeoutError, httpx.HTTPError, OSError, aiosmtplib.SMTPException) as exc:
        await _failed(ctx, row, f"transport: {type(exc).__name__}", retryable=True)


async def _deliver_zalo(
    ctx: NotifyContext,
    row: dict[str, Any],
    contact: Contact,
    template_ids: Any,
    data: Any,
) -> None:
    if ctx.zalo is None:
        await _fall_back_to_sms(ctx, row, "zalo not configured")
        return
    result = await ctx.zalo.send(str(row["id"]), contact.phone, template_ids["zalo"], data or {})
    log.info("zns %s to %s: accepted=%s", row["id"], mask_phone(contact.phone), result.accepted)
    if result.accepted:
        await _sent(ctx, row, "zalo", result.provider_message_id)
        return
    if result.fallback_to_sms or not result.retryable or row["attempts"] >= ctx.max_attempts:
        await _fall_back_to_sms(ctx, row, result.error or "zns failed")
        return
    await _failed(ctx, row, result.error or "zns failed", retryable=True)


async def _fall_back_to_sms(ctx: NotifyContext, row: dict[str, Any], why: str) -> None:
    """The Zalo message ends; the same notice goes by SMS (deduplicated like any other)."""
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        await apply_status(
            conn,
            rt,
            row["id"],
            DeliveryStatus.PERMANENT_FAILURE,
            f"{why}; falling back to SMS",
            provider="zalo",
        )
        opted = await conn.fetchval(
            "SELECT true FROM opt_outs WHERE contact_ref = $1 AND channel = 'sms'",
            row["contact_ref"],
        )
        if opted:
            return
        await create_message(
            conn,
            event_id=row["event_id"],
            event_type=row["event_type"],
            dossier_id=row["dossier_id"],
            channel="sms",
            contact_ref=row["contact_ref"],
            unit_code=row["unit_code"],
            params=json.loads(row["params"]),
            procedure_names=ctx.procedure_names,
            send_at=datetime.now(UTC),
            fallback_of=row["id"],
        )


async def _sent(
    ctx: NotifyContext, row: dict[str, Any], provider: str, provider_id: str | None
) -> None:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        await apply_status(
            conn,
            rt,
            row["id"],
            DeliveryStatus.SENT,
            f"accepted by {provider}",
            provider=provider,
            provider_message_id=provider_id,
            sent=True,
        )


async def _final(
    ctx: NotifyContext, row: dict[str, Any], status: DeliveryStatus, detail: str
) -> None:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        await apply_status(conn, rt, row["id"], status, detail)
        if status is DeliveryStatus.TECHNICAL_FAILURE:
            await _dead_letter(conn, row, detail)


async def _dead_letter(conn: DbConn, row: dict[str, Any], error: str) -> None:
    await conn.execute(
        "INSERT INTO message_dead_letters (message_id, channel, error, attempts)"
        " VALUES ($1,$2,$3,$4) ON CONFLICT (message_id) DO NOTHING",
        row["id"],
        row["channel"],
        error[:4000],
        row["attempts"],
    )
    log.error("message %s dead-lettered after %s attempts", row["id"], row["attempts"])


async def _failed(
    ctx: NotifyContext,
    row: dict[str, Any],
    error: str,
    *,
    retryable: bool,
    recipient_rejected: bool = False,
    provider: str | None = None,
) -> None:
    plan = plan_retry(
        row["attempts"],
        retryable=retryable,
        recipient_rejected=recipient_rejected,
        policy=RetryPolicy(ctx.max_attempts, ctx.retry_base_seconds, ctx.retry_cap_seconds),
        rng=_rng,
    )
    if plan.delay_seconds is None:
        await _final(ctx, row, plan.status, error)
        return
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        await apply_status(
            conn,
            rt,
            row["id"],
            DeliveryStatus.TEMPORARY_FAILURE,
            f"attempt {row['attempts']}: {error}",
            provider=provider,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=plan.delay_seconds),
        )
