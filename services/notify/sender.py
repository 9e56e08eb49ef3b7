"""The sender: claims due messages in batches, sends them concurrently, records outcomes
in batches.

A round claims up to a batch of due messages in one transaction (FOR UPDATE SKIP
LOCKED; admission decides send / hold / drop), looks up all their contacts in one
request to intake, and starts one task per message; at most `concurrency` messages are
in flight and each gateway has its own bound (its connection pool: SMTP sessions and
gateway HTTP connections are kept open and reused). Each outcome is a `StatusChange`;
the `Recorder` writes them in batches (one UPDATE, one history INSERT, one outbox
INSERT) a few milliseconds after they arrive, well before the gateways' receipts.

Once: the claim marks a message 'sending' with a lease and the provider it will try
first; the request id every gateway sees is the message id. A process killed mid-send
leaves the message 'sending'; when the lease runs out another claim re-sends it with the
same request id to the same gateway first, which answers "already have it" instead of
sending again. (SMTP has no such id: an email whose 250 came just before a crash is sent
again; its Message-ID header is stable so mail systems can drop the copy.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import aiosmtplib
import asyncpg
from opentelemetry import trace

from contracts.vietnam import VN_TZ
from services.notify.adapters import store
from services.notify.adapters.contacts import Contact, ContactNotFound, LookupResult
from services.notify.domain import outcome
from services.notify.domain.catalog import RESULT_READY
from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.masking import mask_email, mask_phone
from services.notify.domain.model import ClaimedMessage, Rules, StatusChange
from services.notify.domain.plan import render_params, sms_fallback
from services.notify.domain.templates import TemplateError, render
from services.notify.handlers import NotifyContext
from services.runtime import clock
from services.runtime.http_client import TransportError
from services.runtime.telemetry import context_from_carrier, current_trace_headers, tracer

log = logging.getLogger(__name__)
_rng = random.Random()
RECORD_LINGER_SECONDS = 0.005
SETTLE_SECONDS = 5.0  # a receipt waits this long at most for its send result
LISTEN_RETRY_SECONDS = 5.0  # a lost announcement connection is opened again this often


class Recorder:
    """Collects status changes and writes them in batches: whatever arrived while the
    previous batch was written (and `linger` seconds more), up to `max_batch`."""

    def __init__(
        self,
        write: Callable[[Sequence[StatusChange]], Awaitable[object]],
        *,
        max_batch: int = 200,
        linger: float = RECORD_LINGER_SECONDS,
    ) -> None:
        self._write = write
        self._max = max(1, max_batch)
        self._linger = linger
        self._pending: list[StatusChange] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # Messages with a change not written yet, and a wake-up for who waits on one.
        self._holding: dict[UUID, int] = {}
        self._written = asyncio.Condition()

    def holds(self, message_id: UUID) -> bool:
        return message_id in self._holding

    async def settled(self, message_id: UUID) -> None:
        """Wait until this message's changes are written (a receipt that raced its send
        result waits here instead of being lost)."""
        async with self._written:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._written.wait_for(lambda: message_id not in self._holding),
                    SETTLE_SECONDS,
                )

    def expect(self, message_id: UUID) -> None:
        """A change of this message will come (its send started): until it is written,
        `holds` says so."""
        self._holding[message_id] = self._holding.get(message_id, 0) + 1

    async def release(self, message_id: UUID) -> None:
        """The expected change will not come (the send failed in a way we cannot tell)."""
        self._forget([message_id])
        async with self._written:
            self._written.notify_all()

    def _forget(self, ids: Sequence[UUID]) -> None:
        for message_id in ids:
            left = self._holding.pop(message_id, 1) - 1
            if left > 0:
                self._holding[message_id] = left

    def add(self, change: StatusChange) -> None:
        """Record `change` soon (after `expect` of its message, if a receipt may race it)."""
        self._pending.append(change)
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def flush(self) -> None:
        """Return once everything added so far is written (or failed to be)."""
        await self._idle.wait()

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 5.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._pending) < self._max and self._linger > 0:
                await asyncio.sleep(self._linger)
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            if not self._pending:
                self._wake.clear()
            try:
                await self._write_safely(batch)
            finally:
                self._forget([c.message_id for c in batch if c.message_id in self._holding])
                async with self._written:
                    self._written.notify_all()
            if not self._pending:
                self._idle.set()

    async def _write_safely(self, batch: list[StatusChange]) -> None:
        try:
            await self._write(batch)
            return
        except Exception:
            if len(batch) == 1:
                log.exception("recording the outcome of message %s failed", batch[0].message_id)
                return
            log.exception("recording %s outcomes failed; recording them one by one", len(batch))
        for change in batch:
            try:
                await self._write([change])
            except Exception:
                # The message stays 'sending'; its lease brings it back (same request id).
                log.exception("recording the outcome of message %s failed", change.message_id)


class Sender:
    def __init__(self, ctx: NotifyContext, *, linger: float = RECORD_LINGER_SECONDS) -> None:
        self.ctx = ctx
        self.recorder = Recorder(
            lambda changes: store.record_changes(ctx.runtime, changes),
            max_batch=ctx.batch_size,
            linger=linger,
        )
        self._rules: Rules = ctx.rules
        # Messages wait for a gateway's session or request slot here, before their
        # delivery span starts: under load the wait is most of the time, and a span that
        # held it would be kept as slow (exported exactly when the box has least to spare).
        # The wait is the span's `onestop.slot_wait_ms`.
        self._gates = {
            "email": asyncio.Semaphore(max(1, ctx.smtp.connections)),
            "zalo": asyncio.Semaphore(max(1, ctx.zalo_concurrency)),
        }
        self._claiming = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._due = asyncio.Event()

    # --- rounds ---------------------------------------------------------------------

    async def dispatch(self, now: datetime | None = None) -> list[asyncio.Task[None]]:
        """Claim a batch and start sending it; the tasks of its messages."""
        ctx = self.ctx
        async with self._claiming:  # one claim at a time: each sees the last one's sends
            room = ctx.concurrency - len(self._in_flight)
            if room <= 0:
                return []
            claimed = await store.claim(
                ctx.runtime,
                now or datetime.now(UTC),
                limit=min(ctx.batch_size, room),
                lease_seconds=ctx.lease_seconds,
                policy=ctx.admission,
                first_provider=self._first_provider,
            )
        if not claimed:
            return []
        contacts = await ctx.contacts.fetch_many(m.contact_ref for m in claimed)
        loop = asyncio.get_running_loop()
        tasks = []
        for message in claimed:
            self.recorder.expect(message.id)
            task = loop.create_task(self._one(message, contacts.get(message.contact_ref)))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
            tasks.append(task)
        if len(self._in_flight) * 2 > ctx.concurrency:
            self._room.clear()
        return tasks

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) * 2 <= self.ctx.concurrency:
            self._room.set()

    async def round(self, now: datetime | None = None) -> int:
        """Claim a batch, send it, record every outcome. Returns messages claimed."""
        tasks = await self.dispatch(now)
        if tasks:
            await asyncio.gather(*tasks)
            await self.recorder.flush()
        return len(tasks)

    async def run(self, interval: float) -> None:
        """Forever: claim whenever at most half of `concurrency` is in flight; when
        nothing is due, wait until new messages are announced (`store.due_channel`, at
        the commit that created them), or `interval` at most (retries, quiet hours)."""
        listener: asyncpg.Connection | None = None
        retry_at = 0.0
        try:
            while True:
                await self._room.wait()
                if (listener is None or listener.is_closed()) and time.monotonic() >= retry_at:
                    listener = await self._listen()
                    retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
                self._due.clear()  # before the claim: what commits meanwhile wakes the wait
                if not await self.dispatch():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._due.wait(), interval)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()
            await self.recorder.close()

    async def _listen(self) -> asyncpg.Connection | None:
        """A connection of its own that hears new messages announced; None (polling at
        the interval until the next try) while PostgreSQL cannot be reached."""
        rt = self.ctx.runtime
        try:
            conn: asyncpg.Connection = await asyncpg.connect(rt.settings.database_dsn)
            await conn.add_listener(store.due_channel(rt.schema), self._announced)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("sender cannot listen for new messages (%r); polling", exc)
            return None
        return conn

    def _announced(self, *_args: object) -> None:
        self._due.set()

    def _first_provider(self, channel: str, provider: str | None) -> str:
        if channel == "email":
            return "smtp"
        if channel == "zalo":
            return "zalo"
        if provider:  # a retry after an answer that left it unclear: same gateway first
            return provider
        return self.ctx.sms.order(time.monotonic())[0]

    # --- one message ------------------------------------------------------------------

    async def _one(self, message: ClaimedMessage, contact: LookupResult | None) -> None:
        try:
            change = await self.deliver(message, contact)
        except Exception:
            # The lease brings it back; a bug in one message must not stop the batch.
            log.exception("delivering message %s failed", message.id)
            await self.recorder.release(message.id)
            return
        self.recorder.add(change)

    async def deliver(self, message: ClaimedMessage, contact: LookupResult | None) -> StatusChange:
        gate = self._gates.get(message.channel)
        waiting_since = time.monotonic()
        async with gate if gate is not None else contextlib.nullcontext():
            waited_ms = (time.monotonic() - waiting_since) * 1000
            parent = context_from_carrier(dict(message.trace_headers))
            with tracer().start_as_current_span(
                f"notify deliver {message.channel}",
                context=parent,
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "onestop.dossier_code": message.dossier_code,
                    "onestop.channel": message.channel,
                    "onestop.template": f"{message.template_id}@{message.template_version}",
                    "onestop.attempt": message.attempts,
                    "onestop.slot_wait_ms": round(waited_ms, 1),
                },
            ):
                # The status change is announced in this span (the dossier's trace).
                return await self._deliver(message, contact, current_trace_headers())

    async def _deliver(
        self, m: ClaimedMessage, contact: LookupResult | None, headers: dict[str, str]
    ) -> StatusChange:
        ctx = self.ctx

        def failed(
            error: str,
            *,
            retryable: bool,
            recipient_rejected: bool = False,
            provider: str | None = None,
        ) -> StatusChange:
            return outcome.failed(
                m,
                error,
                retryable=retryable,
                recipient_rejected=recipient_rejected,
                provider=provider,
                now=datetime.now(UTC),
                policy=ctx.retry_policy,
                rng=_rng,
                trace_headers=headers,
            )

        if isinstance(contact, ContactNotFound):
            return outcome.final(m, DeliveryStatus.PERMANENT_FAILURE, "contact not found", headers)
        if not isinstance(contact, Contact):
            return failed(f"contact lookup: {type(contact).__name__}", retryable=True)
        # The signed opt-out link for this contact and channel, made now (never stored).
        link = (
            ctx.links.url(m.contact_ref, m.channel, datetime.now(VN_TZ).date())
            if ctx.links is not None
            else None
        )
        rating = (
            ctx.rating_links.url(m.dossier_id, clock.now().astimezone(VN_TZ).date())
            if ctx.rating_links is not None and m.event_type == RESULT_READY
            else None
        )
        params = render_params(m.params, ctx.procedure_names, contact, link, rating)
        try:
            rendered = render(m.event_type, m.channel, params)
        except TemplateError as exc:
            return failed(str(exc), retryable=False)
        message_id = str(m.id)
        try:
            if m.channel == "email":
                if not contact.email:
                    return outcome.final(
                        m, DeliveryStatus.PERMANENT_FAILURE, "no email address", headers
                    )
                provider_id = await ctx.smtp.send(
                    message_id, contact.email, rendered.subject or "", rendered.text, rendered.html
                )
                if log.isEnabledFor(logging.INFO):
                    log.info("email %s sent to %s", message_id, mask_email(contact.email))
                return outcome.sent(m, "smtp", provider_id, headers)
            if m.channel == "zalo":
                return await self._zalo(
                    m,
                    contact,
                    rendered.provider_template_ids,
                    rendered.zns_template_data,
                    headers,
                    failed,
                )
            result_of = await ctx.sms.send(
                message_id,
                contact.phone,
                rendered.text,
                rendered.provider_template_ids,
                first=m.provider,
            )
            result = result_of.result
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "sms %s to %s via %s: accepted=%s",
                    message_id,
                    mask_phone(contact.phone),
                    result_of.provider or "-",
                    result.accepted,
                )
            if result.accepted and result_of.provider is not None:
                return outcome.sent(m, result_of.provider, result.provider_message_id, headers)
            return failed(
                result.error or "no gateway accepted",
                retryable=result.retryable,
                recipient_rejected=result.recipient_rejected,
                provider=result_of.attempts[-1].provider if result.ambiguous else None,
            )
        except (TimeoutError, TransportError, OSError, aiosmtplib.SMTPException) as exc:
            return failed(f"transport: {type(exc).__name__}", retryable=True)

    async def _zalo(
        self,
        m: ClaimedMessage,
        contact: Contact,
        template_ids: Mapping[str, str],
        data: Mapping[str, str] | None,
        headers: dict[str, str],
        failed: Callable[..., StatusChange],
    ) -> StatusChange:
        ctx = self.ctx
        now = datetime.now(UTC)
        if ctx.zalo is None:
            return outcome.fell_back(
                m, "zalo not configured", sms_fallback(m, self._rules, now), headers
            )
        # In flight under the channel's gate (`deliver`).
        result = await ctx.zalo.send(str(m.id), contact.phone, template_ids["zalo"], data or {})
        log.info("zns %s to %s: accepted=%s", m.id, mask_phone(contact.phone), result.accepted)
        if result.accepted:
            return outcome.sent(m, "zalo", result.provider_message_id, headers)
        enough = min(ctx.zalo_max_attempts, ctx.max_attempts)
        if result.fallback_to_sms or not result.retryable or m.attempts >= enough:
            why = result.error or "zns failed"
            return outcome.fell_back(m, why, sms_fallback(m, self._rules, now), headers)
        return failed(result.error or "zns failed", retryable=True)


async def send_due_messages(ctx: NotifyContext, now: datetime | None = None) -> int:
    """One round with a sender of its own (tests, scripts); the service runs `Sender.run`."""
    sender = Sender(ctx)
    try:
        return await sender.round(now)
    finally:
        await sender.recorder.close()
