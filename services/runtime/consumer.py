"""Idempotent, batched Kafka consumer.

Batch first, one transaction per poll (every partition it returned, each partition's
records in order): every record is parsed once; the events not seen before are found with
one dedupe statement (``INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING RETURNING
event_id`` into ``processed_events``); their handlers run; one commit. Offsets are
committed after the transaction.

Only when that transaction fails because of a record (not of the infrastructure) is the
batch handled again one record at a time, each in a transaction of its own (so even an
error at commit, e.g. a deferred constraint, stays with its record): the record that
keeps failing (``max_attempts``) goes to ``<topic>.dlq`` with a ``dead_letters`` row that
keeps its key, bytes and headers; the others commit. If the dead letter itself cannot be
written, the record is *parked*: logged at error with its coordinates, counted in
``consumer_parked_total``, kept in :attr:`IdempotentConsumer.parked` and, in one more
transaction, in the ``parked_records`` table; the partition moves on.

Handlers are ``handler(conn, envelope)`` per record, or a :class:`BatchHandler` that
takes consecutive events of its types in one call, each with its payload parsed into the
handler's model (:class:`Envelope`), for set-based writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from opentelemetry import trace
from pydantic import BaseModel, ValidationError

from contracts.envelope import EventEnvelope
from contracts.topics import DLQ_SUFFIX
from services.runtime.db import DbConn
from services.runtime.metrics import (
    CONSUMED,
    CONSUMER_LAG,
    DEAD_LETTERED,
    ISOLATED_BATCHES,
    PARKED,
)
from services.runtime.outbox import append_raw
from services.runtime.tail_sampling import set_deferred_attributes, start_child_span
from services.runtime.telemetry import dossier_attributes, tracer
from services.runtime.transport import start_kafka_client

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

Handler = Callable[[DbConn, EventEnvelope], Awaitable[None]]


@dataclass(frozen=True)
class Envelope(Generic[P]):
    """An event as a batch handler receives it: the envelope and its payload, parsed."""

    event: EventEnvelope
    payload: P
    #: The trace context of the record's ``"{topic} process"`` span: the events a batch
    #: handler writes because of this one go out with it (``OutboxRecord.headers``).
    trace: dict[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> UUID:
        return self.event.event_id

    @property
    def dossier_id(self) -> UUID:
        return self.event.dossier_id


@dataclass(frozen=True)
class BatchHandler(Generic[P]):
    """Handles a run of consecutive events of its types in one call.

    ``payload`` is the model every event's payload is parsed into before the call; a
    payload that does not fit it is dead-lettered as malformed. A batch handler is also
    called with a single event when its batch is handled record by record.
    """

    payload: type[P]
    handle: Callable[[DbConn, Sequence[Envelope[P]]], Awaitable[None]]


# Errors of the infrastructure, not of the record: the batch is retried, never dead-lettered.
INFRASTRUCTURE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)

# Records parsed (and spans started) between two turns of the event loop.
_PARSE_SLICE = 25

_DEDUPE_MANY = (
    "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::uuid[])"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)
_DEDUPE_ONE = (
    "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
    " ON CONFLICT DO NOTHING RETURNING true"
)


@dataclass
class ConsumerConfig:
    name: str
    topics: list[str]
    handlers: Mapping[str, Handler]
    schema: str
    bootstrap_servers: str
    batch_max: int = 200
    max_attempts: int = 3
    # How long the broker may hold a fetch that finds nothing. While one is held, the
    # partitions whose records were just handled are not fetched again (aiokafka sends one
    # fetch per broker at a time), so this bounds what a quiet partition's next record
    # waits; the cost is an empty fetch per interval when idle.
    fetch_max_wait_ms: int = 50
    # Offsets of handled polls are committed at most this often (0: after every poll).
    # A crash redelivers what was handled since, and the dedupe skips it; each commit is
    # a request and a __consumer_offsets append on the broker.
    commit_interval_ms: int = 0
    retry_base_delay: float = 0.05
    lag_interval: float = 5.0
    # TLS / SASL (services.runtime.transport.kafka_client_options).
    client_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    batch_handlers: Mapping[str, BatchHandler[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = set(self.handlers) & set(self.batch_handlers)
        if both:
            raise ValueError(f"event types with two handlers: {sorted(both)}")


@dataclass(frozen=True)
class ParkedRecord:
    """Where to find a record that is neither handled nor dead-lettered."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event_id: UUID | None
    error: str
    cause: str


@dataclass
class _Item:
    """One record of a batch, parsed once."""

    record: ConsumerRecord[bytes, bytes]
    envelope: EventEnvelope | None = None
    typed: Envelope[Any] | None = None  # set when a batch handler takes the event
    error: str | None = None  # malformed: dead-lettered at once

    @property
    def event_id(self) -> UUID:
        assert self.envelope is not None
        return self.envelope.event_id


class IdempotentConsumer:
    def __init__(self, config: ConsumerConfig, pool: asyncpg.Pool) -> None:
        self.config = config
        self._pool = pool
        self._consumer: AIOKafkaConsumer | None = None
        self._committing: asyncio.Task[None] | None = None
        self._uncommitted: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self.processed = 0
        self.isolated_batches = 0
        # The last parked records, also when the parked_records table could not be written.
        self.parked: deque[ParkedRecord] = deque(maxlen=100)

    @property
    def kafka(self) -> AIOKafkaConsumer | None:
        return self._consumer

    async def run(self) -> None:
        cfg = self.config
        self._consumer = AIOKafkaConsumer(
            *cfg.topics,
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.name,
            client_id=f"{cfg.name}-{uuid4().hex[:6]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.batch_max,
            fetch_max_wait_ms=cfg.fetch_max_wait_ms,
            **cfg.client_options,
            **cfg.extra,
        )
        lag_due = 0.0
        try:
            await start_kafka_client(self._consumer, cfg.bootstrap_servers, cfg.client_options)
            while True:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=cfg.batch_max)
                if batches:
                    await self._handle_poll(batches)
                await self._commit_if_due()
                if time.monotonic() >= lag_due:
                    await self.record_lag()
                    lag_due = time.monotonic() + cfg.lag_interval
        finally:
            await self._commit_before_stop()
            await self._consumer.stop()

    async def _commit_before_stop(self) -> None:
        """The commit in flight, then what is handled but not yet committed: a graceful
        stop leaves nothing to redeliver (a failure here only means some is redelivered,
        and deduped, by the next owner)."""
        if self._committing is not None:
            with contextlib.suppress(Exception):
                await self._committing
            self._committing = None
        if self._uncommitted:
            offsets, self._uncommitted = self._uncommitted, {}
            with contextlib.suppress(Exception):
                await self._commit(offsets)

    async def record_lag(self) -> dict[TopicPartition, int]:
        """Set ``consumer_lag`` for every assigned partition: high watermark - position."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched from this partition yet
            try:
                position = await consumer.position(tp)
            except Exception:  # partition revoked meanwhile; the next round sees it
                continue
            lags[tp] = max(highwater - position, 0)
            CONSUMER_LAG.labels(self.config.name, tp.topic, str(tp.partition)).set(lags[tp])
        return lags

    async def _handle_poll(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        """Every record of one poll, whatever its partition, in one transaction (each
        partition's records in their order; record by record once a record failed it);
        then the offsets of all its partitions in one request.

        One transaction per poll rather than per partition: at a steady rate a poll holds a
        few records of many partitions, and a transaction each (its dedupe, its handlers'
        statements, its commit) was most of a record's time. Partitions are never
        interleaved, so a dossier's events (one partition per topic) keep their order, and
        one instance never handles two events of a dossier at once."""
        assert self._consumer is not None
        consumer = self._consumer
        # A rebalance since the poll may have moved a partition to another instance: it
        # reads from the committed offset.
        owned = [(tp, records) for tp, records in batches.items() if tp in consumer.assignment()]
        if not owned:
            return
        await self._handle_records([r for _, records in owned for r in records])
        # Committed by the run loop once the interval has passed (`_commit_if_due`).
        self._uncommitted.update({tp: records[-1].offset + 1 for tp, records in owned})
        for tp, records in owned:
            self.processed += len(records)
            CONSUMED.labels(self.config.name, tp.topic).inc(len(records))

    async def _commit_if_due(self) -> None:
        """Commit what was handled since the last commit, once ``commit_interval_ms`` has
        passed since it (at once when the interval is 0). A partition's later offset
        replaces its earlier one, so one request covers many polls."""
        if not self._uncommitted:
            return
        now = time.monotonic()
        if now - self._committed_at < self.config.commit_interval_ms / 1000:
            return
        offsets, self._uncommitted = self._uncommitted, {}
        self._committed_at = now
        await self._commit_later(offsets)

    async def _commit_later(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the offsets of a handled poll while the next poll is fetched and handled.

        Their transaction has committed, so a crash before the broker records them only
        delivers those records again, and the dedupe skips them. One commit at a time, in
        order: the previous one is awaited first (and its failure, other than losing the
        partitions to a rebalance, stops the consumer as it always did)."""
        previous, self._committing = self._committing, None
        if previous is not None:
            await previous
        self._committing = asyncio.create_task(self._commit(offsets))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced while the batch was handled and a partition went to
            # another member. The transaction committed; the new owner reads the records
            # again from the last committed offset and its dedupe skips them.
            log.info("offsets of %s not committed (%s); new owners dedupe them", offsets, exc)

    async def _handle_records(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Records in one transaction (record by record once a record failed it); the
        caller commits their offsets."""
        items = await self._parse_all(records)
        where = sorted({f"{r.topic}[{r.partition}]" for r in records})
        delay = 0.2
        one_by_one = False
        while True:
            try:
                async with self._pool.acquire() as conn:
                    if one_by_one:
                        await self._handle_one_by_one(conn, items)
                    else:
                        async with conn.transaction():
                            await self._handle_batch(conn, items)
                break
            except INFRASTRUCTURE_ERRORS:
                log.warning("batch on %s failed; retrying", where, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                if one_by_one:
                    raise  # a record's errors are handled there; this is a bug of ours
                log.warning("batch on %s failed on a record; one by one now", where, exc_info=True)
                for topic in sorted({r.topic for r in records}):
                    ISOLATED_BATCHES.labels(self.config.name, topic).inc()
                self.isolated_batches += 1
                one_by_one = True

    async def _parse_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> list[_Item]:
        """Every record parsed, letting the loop run between slices: a poll of a few hundred
        records is milliseconds of CPU, which a service's HTTP requests should not wait for
        in one piece."""
        items: list[_Item] = []
        for start in range(0, len(records), _PARSE_SLICE):
            if start:
                await asyncio.sleep(0)
            items.extend(self._parse(r) for r in records[start : start + _PARSE_SLICE])
        return items

    def _parse(self, record: ConsumerRecord[bytes, bytes]) -> _Item:
        try:
            envelope = EventEnvelope.model_validate_json(record.value or b"")
        except ValidationError as exc:
            return _Item(record, error=f"malformed envelope: {exc}")
        batch = self.config.batch_handlers.get(envelope.event_type)
        if batch is None:
            return _Item(record, envelope)
        try:
            payload = batch.payload.model_validate(envelope.payload)
        except ValidationError as exc:
            return _Item(record, envelope, error=f"malformed payload: {exc}")
        return _Item(record, envelope, typed=Envelope(envelope, payload))

    def _wanted(self, item: _Item) -> bool:
        """A well-formed event this consumer has a handler for."""
        if item.envelope is None or item.error is not None:
            return False
        return item.typed is not None or item.envelope.event_type in self.config.handlers

    # ------------------------------------------------------------------ batch first

    async def _handle_batch(self, conn: DbConn, items: list[_Item]) -> None:
        """The whole batch in the caller's transaction; any record's error fails it."""
        for item in items:
            if item.error is not None:
                await self._dead_letter(conn, item, item.error, attempts=1)
        wanted = [item for item in items if self._wanted(item)]
        if not wanted:
            return
        ids = list(dict.fromkeys(item.event_id for item in wanted))
        rows = await conn.fetch(_DEDUPE_MANY, self.config.name, ids)
        fresh_ids = {row["event_id"] for row in rows}
        fresh: list[_Item] = []
        for item in wanted:
            if item.event_id in fresh_ids:
                fresh_ids.discard(item.event_id)  # a second copy in the batch is a duplicate
                fresh.append(item)
            else:
                with self._span(item) as (span, _):
                    span.set_attribute("onestop.duplicate", True)
        for run in self._runs(fresh):
            if run[0].typed is None:
                with self._span(run[0]):
                    await self._call(conn, run)
            else:
                await self._call_traced(conn, run)

    def _runs(self, items: list[_Item]) -> Iterator[list[_Item]]:
        """Consecutive events of one batch handler together; every other event alone."""
        run: list[_Item] = []
        for item in items:
            if run and (item.typed is None or self._batch_of(item) is not self._batch_of(run[0])):
                yield run
                run = []
            run.append(item)
            if item.typed is None:
                yield run
                run = []
        if run:
            yield run

    def _batch_of(self, item: _Item) -> BatchHandler[Any] | None:
        assert item.envelope is not None
        return self.config.batch_handlers.get(item.envelope.event_type)

    async def _call(
        self, conn: DbConn, run: list[_Item], carriers: Sequence[dict[str, str]] = ()
    ) -> None:
        first = run[0]
        assert first.envelope is not None
        batch = self._batch_of(first)
        if batch is None:
            await self.config.handlers[first.envelope.event_type](conn, first.envelope)
        else:
            typed = [item.typed for item in run if item.typed is not None]
            if carriers:  # what each event's handler writes hangs under its span
                typed = [replace(t, trace=c) for t, c in zip(typed, carriers, strict=True)]
            await batch.handle(conn, typed)

    async def _call_traced(self, conn: DbConn, run: list[_Item]) -> None:
        """A batch handler's call: each event keeps its own span (in its own trace)."""
        spans: list[trace.Span] = []
        carriers: list[dict[str, str]] = []
        for start in range(0, len(run), _PARSE_SLICE):
            if start:
                await asyncio.sleep(0)  # as in _parse_all
            for item in run[start : start + _PARSE_SLICE]:
                span, carrier = self._start_span(item)
                spans.append(span)
                carriers.append(carrier)
        try:
            await self._call(conn, run, carriers)
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, repr(exc)[:200]))
            raise
        finally:
            for span in spans:
                span.end()

    # ------------------------------------------------------------------ one by one

    async def _handle_one_by_one(self, conn: DbConn, items: list[_Item]) -> None:
        """Each record in a transaction of its own, so only the faulty one is set aside."""
        for item in items:
            if item.error is not None:
                await self._dead_letter_or_park(conn, item, item.error, attempts=1)
            elif self._wanted(item):
                await self._handle_alone(conn, item)

    async def _handle_alone(self, conn: DbConn, item: _Item) -> None:
        error = ""
        with self._span(item) as (span, carrier):
            for attempt in range(1, self.config.max_attempts + 1):
                try:
                    async with conn.transaction():
                        if not await conn.fetchval(_DEDUPE_ONE, self.config.name, item.event_id):
                            span.set_attribute("onestop.duplicate", True)
                            return
                        await self._call(conn, [item], [carrier])
                    return
                except INFRASTRUCTURE_ERRORS:
                    raise
                except Exception as exc:
                    span.record_exception(exc)
                    error = repr(exc)
                    if attempt < self.config.max_attempts:
                        await asyncio.sleep(self.config.retry_base_delay * 2 ** (attempt - 1))
        await self._dead_letter_or_park(conn, item, error, attempts=self.config.max_attempts)

    async def _dead_letter_or_park(
        self, conn: DbConn, item: _Item, error: str, attempts: int
    ) -> None:
        try:
            async with conn.transaction():
                await self._dead_letter(conn, item, error, attempts)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            await self._park(conn, item, error, exc)

    # ------------------------------------------------------------------ dead letters

    async def _dead_letter(self, conn: DbConn, item: _Item, error: str, attempts: int) -> None:
        """The ``dead_letters`` row (with the record), its ``<topic>.dlq`` copy through the
        outbox and, for an event, the dedupe row (replay deletes it), in ``conn``'s
        transaction."""
        record = item.record
        log.error(
            "dead-lettering %s[%s]@%s after %s attempt(s): %s",
            record.topic,
            record.partition,
            record.offset,
            attempts,
            error[:500],
        )
        DEAD_LETTERED.labels(self.config.name, record.topic).inc()
        original = decode_headers(record.headers)
        key = None if record.key is None else record.key.decode(errors="replace")
        await conn.execute(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", error, attempts,'
            " key, value, headers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
            self.config.name,
            record.topic,
            record.partition,
            record.offset,
            error[:4000],
            attempts,
            key,
            record.value,
            json.dumps(original),
        )
        headers = {
            **original,
            "dlq.consumer": self.config.name,
            "dlq.error": error[:1000],
            "dlq.attempts": str(attempts),
            "dlq.source": f"{record.topic}/{record.partition}/{record.offset}",
            "dlq.at": str(time.time()),
        }
        await append_raw(
            conn,
            self.config.schema,
            topic=record.topic + DLQ_SUFFIX,
            key=key or "",
            event_id=str(uuid4()),
            event_type="dead_letter",
            value=record.value or b"",
            headers=headers,
        )
        if item.envelope is not None:
            await conn.execute(
                "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                self.config.name,
                item.envelope.event_id,
            )

    async def _park(self, conn: DbConn, item: _Item, error: str, cause: Exception) -> None:
        """Set a record aside whose dead letter could not be written, so its batch commits.

        Found again from: the error log line (coordinates, key, event id), the
        ``consumer_parked_total`` counter, :attr:`parked`, and the ``parked_records``
        row written here in a transaction of its own (the record stays in Kafka too,
        for the retention period). No dedupe row: a later copy is handled again."""
        record = item.record
        key = None if record.key is None else record.key.decode(errors="replace")
        parked = ParkedRecord(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            event_id=item.envelope.event_id if item.envelope is not None else None,
            error=error[:4000],
            cause=repr(cause)[:4000],
        )
        self.parked.append(parked)
        PARKED.labels(self.config.name, record.topic).inc()
        log.error(
            "PARKED %s[%s]@%s (key %s, event %s): its dead letter could not be written (%s);"
            " the record failed with: %s",
            parked.topic,
            parked.partition,
            parked.offset,
            parked.key,
            parked.event_id,
            parked.cause[:500],
            parked.error[:500],
        )
        try:
            async with conn.transaction():
                await conn.execute(
                    'INSERT INTO parked_records (consumer, topic, partition, "offset", key,'
                    " value, headers, error) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)"
                    ' ON CONFLICT (consumer, topic, partition, "offset") DO UPDATE'
                    " SET error = EXCLUDED.error, parked_at = now(), resolved_at = NULL",
                    self.config.name,
                    record.topic,
                    record.partition,
                    record.offset,
                    key,
                    record.value,
                    json.dumps(decode_headers(record.headers)),
                    f"{parked.error}\n(dead letter not written: {parked.cause})"[:4000],
                )
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception:
            log.exception(
                "parked record %s[%s]@%s is kept only in this log and in memory",
                parked.topic,
                parked.partition,
                parked.offset,
            )

    # ------------------------------------------------------------------ tracing

    def _start_span(self, item: _Item) -> tuple[trace.Span, dict[str, str]]:
        """The record's ``"{topic} process"`` span and the trace carrier of what its
        handler writes (this span as the parent)."""
        record = item.record
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.consumer.group.name": self.config.name,
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        }
        span, carrier = start_child_span(
            tracer(),
            f"{record.topic} process",
            decode_headers(record.headers),
            trace.SpanKind.CONSUMER,
            attributes,
        )
        if item.envelope is not None:
            env = item.envelope
            # Read from the payload only for spans that are kept (nearly none are).
            set_deferred_attributes(
                span, lambda: dossier_attributes(env.event_type, env.dossier_id, env.payload)
            )
        return span, carrier

    @contextmanager
    def _span(self, item: _Item) -> Iterator[tuple[trace.Span, dict[str, str]]]:
        """A record's ``"{topic} process"`` span, current while its handler runs, and the
        carrier of what the handler writes."""
        span, carrier = self._start_span(item)
        with trace.use_span(span, end_on_exit=True):
            yield span, carrier


def decode_headers(headers: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in headers or []}


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
