"""Transactional outbox: events are rows written with the state change, then relayed.

The relay wakes on LISTEN/NOTIFY (no polling delay), publishes with an idempotent
producer (acks=all) and marks rows published only after the broker acknowledged them.
It fills the producer's batches itself (one open batch per partition, in row order) and
awaits one future per batch; a batch the broker refuses is sent again row by row.
A crash between the two re-publishes the rows; consumers dedupe on event_id. A row that
can never be published (too large, unserialisable headers) is set aside (``failed_at``,
``error`` and a ``dead_letters`` row) and the rows behind it go on. Only the holder of
the schema's advisory lock publishes, and it stops as soon as it loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from opentelemetry import trace

from contracts.envelope import EventEnvelope
from services.runtime.db import DbConn
from services.runtime.metrics import OUTBOX_FAILED
from services.runtime.tail_sampling import producer_span, set_deferred_attributes
from services.runtime.telemetry import (
    current_trace_headers,
    dossier_attributes,
    to_kafka_headers,
    tracer,
)

log = logging.getLogger(__name__)


def outbox_channel(schema: str) -> str:
    return f"{schema}_outbox"


async def append_event(
    conn: DbConn, schema: str, topic: str, envelope: EventEnvelope, key: str | None = None
) -> None:
    """Add an event to the outbox inside the caller's transaction (keyed by dossier)."""
    name_dossier_on_current_span(envelope)
    await append_raw(
        conn,
        schema,
        topic=topic,
        key=key or str(envelope.dossier_id),
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        value=envelope.model_dump_json().encode(),
        headers=current_trace_headers(),
    )


def name_dossier_on_current_span(envelope: EventEnvelope) -> None:
    """The span that writes an event (an HTTP request, a consumer) names the dossier too,
    so the console finds the trace from a dossier code. Attributes the span already has
    (a consumer's own event) are left as they are."""
    current = trace.get_current_span()
    if current.is_recording():
        known = getattr(current, "attributes", None) or {}
        for name, value in dossier_attributes(
            envelope.event_type, envelope.dossier_id, envelope.payload
        ).items():
            if name != "onestop.event_type" and name not in known:
                current.set_attribute(name, value)


@dataclass(frozen=True)
class OutboxRecord:
    """One record for Kafka, as the relay will send it.

    ``headers`` (the trace context that wrote it) overrides the call's headers: a writer
    that stores the records of several requests at once keeps each request's trace.
    """

    topic: str
    key: str
    event_id: UUID | str
    event_type: str
    value: bytes
    # This record's own trace headers (e.g. one per message of a batch); None: the
    # headers given to `append_records` for the whole call.
    headers: Mapping[str, str] | None = None


def event_record(
    topic: str,
    key: str,
    *,
    event_type: str,
    dossier_id: UUID,
    payload: Mapping[str, Any],
    producer: str,
    occurred_at: str,
    sequence: int = 0,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    headers: Mapping[str, str] | None = None,
    event_id: UUID | None = None,
) -> OutboxRecord:
    """An ``EventEnvelope`` as the relay will send it, serialised straight from its
    fields (a tenth of the model's cost, on every hot path that writes events):
    ``payload`` is already JSON-ready (a contract model's ``model_dump(mode="json")``)
    and ``occurred_at`` an ISO 8601 instant; the correlation is the dossier's unless
    given; the event id is a new one unless given."""
    event_id = event_id or uuid4()
    body = orjson.dumps(
        {
            "event_id": str(event_id),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": occurred_at,
            "dossier_id": str(dossier_id),
            "sequence": sequence,
            "correlation_id": str(correlation_id or dossier_id),
            "causation_id": str(causation_id) if causation_id is not None else None,
            "producer": producer,
            "payload": payload,
        }
    )
    return OutboxRecord(topic, key, event_id, event_type, body, headers)


def outbox_insert(first: int, where: str = "") -> str:
    """The outbox ``INSERT`` for one statement of its writer (a data-modifying CTE of a
    larger statement, say), its six array parameters numbered from ``first`` (see
    ``outbox_columns``): the rows keep the records' order. ``where`` (a ``WHERE`` clause)
    lets that statement add the rows only if its own change was made."""
    t, k, e, y, v, h = (f"${first + i}" for i in range(6))
    return (
        "INSERT INTO outbox (topic, key, event_id, event_type, value, headers)"
        f" SELECT t, k, e, y, v, h::jsonb FROM unnest({t}::text[], {k}::text[], {e}::uuid[],"
        f" {y}::text[], {v}::bytea[], {h}::text[]) WITH ORDINALITY AS u(t, k, e, y, v, h, n)"
        f" {where} ORDER BY n RETURNING id"
    )


def outbox_columns(records: Sequence[OutboxRecord], headers: Mapping[str, str]) -> list[list[Any]]:
    """The six arrays ``outbox_insert`` takes; a record without headers of its own gets
    ``headers``."""
    shared = json.dumps(dict(headers))
    return [
        [r.topic for r in records],
        [r.key for r in records],
        [r.event_id for r in records],
        [r.event_type for r in records],
        [r.value for r in records],
        [shared if r.headers is None else json.dumps(dict(r.headers)) for r in records],
    ]


async def append_records(
    conn: DbConn, schema: str, records: Sequence[OutboxRecord], headers: Mapping[str, str]
) -> None:
    """Add records to the outbox in the caller's transaction, in order, in one round trip
    with the relay's wake-up (delivered at commit; wake-ups of one transaction collapse)."""
    if not records:
        return
    await conn.execute(
        f"WITH added AS ({outbox_insert(1)}) SELECT pg_notify($7, '')",
        *outbox_columns(records, headers),
        outbox_channel(schema),
    )


async def append_raw(
    conn: DbConn,
    schema: str,
    *,
    topic: str,
    key: str,
    event_id: str,
    event_type: str,
    value: bytes,
    headers: dict[str, str],
) -> None:
    record = OutboxRecord(topic, key, event_id, event_type, value)
    await append_records(conn, schema, [record], headers)


FaultHook = Callable[[str], None]

# The ``dead_letters.consumer`` of an outbox row the relay set aside.
RELAY_DEAD_LETTER_CONSUMER = "outbox-relay"


class UnpublishableRecord(Exception):
    """An outbox row that can never be sent as it is (e.g. its headers)."""


# The producer's own partitioner (murmur2 of the key, as Kafka's Java clients): the relay
# picks each row's partition itself to fill one producer batch per partition.
_PARTITIONER = DefaultPartitioner()

# Errors of one record that no retry cures (the broker's or producer's limits, a bad topic).
UNPUBLISHABLE_ERRORS: tuple[type[Exception], ...] = (
    UnpublishableRecord,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
)
# Is the relay's advisory lock (key $1) held by backend $2? Asked from the batch's own
# connection: the server's answer, whatever the relay process believes.
_LOCK_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1 AND pid = $2)"
)


# The pending rows in id order, locked, with whether the lock is held (no row is read, and
# none locked, when it is not; one row of NULLs when none is pending).
_PENDING = (
    f"WITH relay_lock AS (SELECT ({_LOCK_HELD.removeprefix('SELECT ')}) AS held)"
    " SELECT relay_lock.held, o.id, o.topic, o.key, o.event_type, o.value, o.headers"
    " FROM relay_lock"
    " LEFT JOIN LATERAL (SELECT id, topic, key, event_type, value, headers FROM outbox"
    " WHERE relay_lock.held AND published_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT $3"
    " FOR UPDATE) AS o ON true ORDER BY o.id"
)
# Mark the acknowledged rows published. The server is not asked again whether the lock
# is held (pg_locks costs a quarter of a millisecond of its CPU, a scan of every
# backend's lock slots): a successor waits on these rows' locks until this commits, and
# the next batch asks before it reads a row.
_MARK_PUBLISHED = "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])"


class LockLost(Exception):
    """The connection holding the relay's advisory lock is gone: stop publishing."""


class RelayLockBusy(Exception):
    """Another relay holds the schema's lock."""


class OutboxRelay:
    """Publishes a schema's outbox rows in id order, one relay at a time.

    The single-writer advisory lock lives on the relay's listener connection. Its loss
    (a termination callback, or a periodic check of that connection) stops publishing at
    once; besides, each batch asks the server whether the lock holder still holds it
    before it reads a row. Rows are locked ``FOR UPDATE`` (never ``SKIP LOCKED``), so a
    relay that takes over waits for a batch still in flight and publishes only what comes
    after it; the relay that lost the lock stops at its next batch at the latest.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        schema: str,
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        fault_hook: FaultHook | None = None,
        lock_poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._producer = producer
        # aiokafka keeps it private; Kafka's default when a stand-in producer lacks it.
        self._max_request_size: int = getattr(producer, "_max_request_size", 1_048_576)
        self._batch_size = batch_size
        self._fault_hook = fault_hook
        self._lock_poll = lock_poll_interval
        self._lock_key = zlib.crc32(f"outbox:{schema}".encode())
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._holder: asyncpg.Connection | None = None
        self._holder_pid: int | None = None
        self.published = 0
        self.failed = 0

    @property
    def holds_lock(self) -> bool:
        holder = self._holder
        return holder is not None and not holder.is_closed() and not self._lost.is_set()

    @property
    def lock_holder_pid(self) -> int | None:
        """The backend of the connection holding this relay's lock, if it holds it."""
        return self._holder_pid if self.holds_lock else None

    async def run(self) -> None:
        """Publish forever while holding the schema's advisory lock, so that exactly one
        relay publishes and one dossier's events leave in the order they were written.
        After losing the lock, wait a little (a standby relay takes over) and compete
        for it again."""
        while True:
            try:
                await self._publish_while_holding_lock()
            except LockLost as exc:
                log.warning("outbox relay of %s lost its lock (%s); stopped", self._schema, exc)
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay of %s lost PostgreSQL (%r); stopped", self._schema, exc)
            await asyncio.sleep(3 * self._lock_poll)

    async def _publish_while_holding_lock(self) -> None:
        listener: asyncpg.Connection = await asyncpg.connect(self._dsn)
        watch: asyncio.Task[None] | None = None
        try:
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                await asyncio.sleep(self._lock_poll)
            self._lost.clear()
            listener.add_termination_listener(self._on_terminated)
            await listener.add_listener(outbox_channel(self._schema), self._on_notify)
            self._holder, self._holder_pid = listener, listener.get_server_pid()
            log.info("outbox relay of %s holds the lock (pid %s)", self._schema, self._holder_pid)
            watch = asyncio.create_task(self._watch_holder(listener))
            while True:
                if not self.holds_lock:
                    raise LockLost("lock connection closed")
                self._wake.clear()
                await self.drain()
                # The timeout only covers a lost notification (e.g. across a reconnect).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            self._holder = self._holder_pid = None
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            with contextlib.suppress(Exception):
                await listener.close()

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    def _on_terminated(self, *_args: Any) -> None:
        self._lost.set()
        self._wake.set()

    async def _watch_holder(self, listener: asyncpg.Connection) -> None:
        """Notice a lock connection that died silently (no termination callback)."""
        pid = listener.get_server_pid()
        while not self._lost.is_set():
            await asyncio.sleep(self._lock_poll)
            try:
                held = await asyncio.wait_for(
                    listener.fetchval(_LOCK_HELD, self._lock_key, pid),
                    timeout=max(2.0, 2 * self._lock_poll),
                )
            except Exception:  # any failure: the lock is not known to be held
                log.warning("outbox relay lock check of %s failed", self._schema, exc_info=True)
                held = False
            if not held:
                self._on_terminated()

    async def drain(self) -> int:
        """Publish every pending row. Under :meth:`run` the relay's lock covers it; called
        on its own (tools, tests) it takes the lock for the pass (waiting a few seconds at
        most, then :class:`RelayLockBusy`)."""
        if self._holder is not None:
            return await self._drain()
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            for _ in range(50):
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                    break
                await asyncio.sleep(0.1)
            else:
                raise RelayLockBusy(f"another relay publishes the outbox of {self._schema}")
            self._lost.clear()
            self._holder, self._holder_pid = conn, conn.get_server_pid()
            try:
                return await self._drain()
            finally:
                self._holder = self._holder_pid = None
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_key)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _drain(self) -> int:
        total = 0
        while True:
            sent = await self._publish_batch()
            total += sent
            if sent < self._batch_size:
                return total

    async def _publish_batch(self) -> int:
        # Two round trips besides the sends: the server's answer whether the lock is still
        # held comes with the rows (none are locked when it is not), then their marking.
        async with self._pool.acquire() as conn, conn.transaction():
            if self._holder_pid is None or not self.holds_lock:
                raise LockLost("not held before a batch")
            found = await conn.fetch(_PENDING, self._lock_key, self._holder_pid, self._batch_size)
            if not found or not found[0]["held"]:
                raise LockLost("not held before a batch")
            rows = [row for row in found if row["id"] is not None]
            if not rows:
                return 0
            sent, failed = await self._send_all(rows)
            if self._fault_hook is not None:
                self._fault_hook("after_send_before_mark")
            # Lost meanwhile: the rows were acknowledged, so mark them anyway (a successor
            # waits on these row locks and would only send them twice), then stop.
            await conn.execute(_MARK_PUBLISHED, sent)
            still_held = self.holds_lock
            for row, error in failed:
                await self._set_aside(conn, row, error)
        self.published += len(sent)
        if not still_held:
            raise LockLost("lost during a batch")
        return len(rows)

    async def _send_all(
        self, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[int], list[tuple[asyncpg.Record, str]]]:
        """Send the rows, await every acknowledgement together; return the ids sent and
        the rows that can never be sent. Any other error fails the whole batch.

        Rows go into producer batches of their own making, one open batch per partition
        (in row order, so a dossier's events keep theirs), each submitted when full and
        the rest at the end: one future per producer batch rather than per record."""
        sent: list[int] = []
        failed: list[tuple[asyncpg.Record, str]] = []
        submitted: list[tuple[list[asyncpg.Record], asyncio.Future[Any]]] = []
        open_batches: dict[tuple[str, int], tuple[BatchBuilder, list[asyncpg.Record]]] = {}
        partitions: dict[str, list[int]] = {}
        alone: list[asyncpg.Record] = []
        for row in rows:
            topic = row["topic"]
            try:
                carrier = _carrier(row)
                if topic not in partitions:
                    partitions[topic] = sorted(await self._producer.partitions_for(topic))
            except UNPUBLISHABLE_ERRORS as exc:
                failed.append((row, repr(exc)))
                continue
            key, value = row["key"].encode(), bytes(row["value"])
            if self._larger_than_a_request(key, value, carrier):
                alone.append(row)  # the producer refuses it, with its own error
                continue
            partition = _PARTITIONER(key, partitions[topic], partitions[topic])
            with _send_span(row, carrier) as outgoing:
                headers = to_kafka_headers(outgoing)
                opened = open_batches.get((topic, partition))
                if (
                    opened is not None
                    and opened[0].append(timestamp=None, key=key, value=value, headers=headers)
                    is not None
                ):
                    opened[1].append(row)
                    continue
                if opened is not None:  # full: it goes now, before the batch this row opens
                    future = await self._producer.send_batch(opened[0], topic, partition=partition)
                    submitted.append((opened[1], future))
                builder = self._producer.create_batch()
                # The first record always fits.
                builder.append(timestamp=None, key=key, value=value, headers=headers)
                open_batches[(topic, partition)] = (builder, [row])
        for (topic, partition), (builder, members) in open_batches.items():
            future = await self._producer.send_batch(builder, topic, partition=partition)
            submitted.append((members, future))
        results = await asyncio.gather(*(f for _, f in submitted), return_exceptions=True)
        refused = alone
        for (members, _), result in zip(submitted, results, strict=True):
            if isinstance(result, UNPUBLISHABLE_ERRORS):
                refused.extend(members)
            elif isinstance(result, BaseException):
                raise result
            else:
                sent.extend(r["id"] for r in members)
        # The broker refuses a whole producer batch for one record (e.g. larger than the
        # topic's max.message.bytes): send those rows alone to find the one at fault.
        for row in sorted(refused, key=lambda r: int(r["id"])):
            try:
                await (await self._send(row))
                sent.append(row["id"])
            except UNPUBLISHABLE_ERRORS as exc:
                failed.append((row, repr(exc)))
        failed.sort(key=lambda f: int(f[0]["id"]))  # set aside (and dead-lettered) in order
        return sent, failed

    async def _set_aside(self, conn: DbConn, row: asyncpg.Record, error: str) -> None:
        """Mark a row failed and record it as a dead letter, so the rows behind it go on."""
        log.error(
            "outbox row %s (%s to %s) can never be published, set aside: %s",
            row["id"],
            row["event_type"],
            row["topic"],
            error[:500],
        )
        OUTBOX_FAILED.labels(row["topic"]).inc()
        self.failed += 1
        await conn.execute(
            "UPDATE outbox SET failed_at = clock_timestamp(), error = $2 WHERE id = $1",
            row["id"],
            error[:4000],
        )
        try:
            async with conn.transaction():
                await conn.execute(
                    'INSERT INTO dead_letters (consumer, topic, partition, "offset", error,'
                    " attempts, key, value, headers, outbox_id)"
                    " VALUES ($1, $2, NULL, NULL, $3, 1, $4, $5, $6::jsonb, $7)",
                    RELAY_DEAD_LETTER_CONSUMER,
                    row["topic"],
                    error[:4000],
                    row["key"],
                    row["value"],
                    row["headers"],
                    row["id"],
                )
        except asyncpg.PostgresError:
            log.exception("no dead letter for outbox row %s; it keeps failed_at", row["id"])

    def _larger_than_a_request(self, key: bytes, value: bytes, carrier: dict[str, str]) -> bool:
        """What the producer's ``send`` checks before it takes a record (its batches skip
        the check): the record's size against the producer's ``max_request_size``."""
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            key, value, to_kafka_headers(carrier)
        )
        return bool(size > self._max_request_size)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        """One row on its own (the producer's own checks of its size apply)."""
        with _send_span(row, _carrier(row)) as carrier:
            future: asyncio.Future[Any] = await self._producer.send(
                row["topic"],
                value=bytes(row["value"]),
                key=row["key"].encode(),
                headers=to_kafka_headers(carrier),
            )
            return future


@contextlib.contextmanager
def _send_span(row: asyncpg.Record, carrier: dict[str, str]) -> Iterator[dict[str, str]]:
    """A row's ``"{topic} send"`` span; the carrier its record goes with."""
    with producer_span(
        tracer(),
        f"{row['topic']} send",
        carrier,
        {"messaging.system": "kafka", "messaging.destination.name": row["topic"]},
    ) as (span, outgoing):
        # Parsing the envelope for its dossier attributes (~7 µs a record) would be
        # wasted on the send spans dropped at their end, which is nearly all of them.
        set_deferred_attributes(span, functools.partial(_event_attributes, row))
        yield outgoing


def _carrier(row: asyncpg.Record) -> dict[str, str]:
    """The row's headers: a JSON object of strings, or the row can never be sent."""
    carrier = json.loads(row["headers"])
    if not isinstance(carrier, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in carrier.items()
    ):
        raise UnpublishableRecord(f"headers are not an object of strings: {row['headers'][:200]}")
    return carrier


def _event_attributes(row: asyncpg.Record) -> dict[str, str | int]:
    """Dossier, procedure, unit and step of an outbox row, read from its envelope."""
    try:
        envelope = json.loads(bytes(row["value"]))
        payload = envelope.get("payload") or {}
        dossier_id = envelope.get("dossier_id") or row["key"]
    except (ValueError, AttributeError):  # a dead-lettered record's original bytes
        payload, dossier_id = {}, row["key"]
    if not isinstance(payload, dict):
        payload = {}
    return dossier_attributes(row["event_type"], dossier_id, payload)


# Published rows older than the window, read from the start of the primary key up to the
# first row still kept (pending, or published within the window): rows are published in
# id order, so that prefix is what the window let go. Rows set aside (never published)
# stay, and so does an old row behind a young one until the prefix reaches it. The pass
# reads the rows it deletes and a few more, not the whole table: with an hour of events
# at 200 rows/s (720,000 rows), 2–3 ms a pass against 250–350 ms for a whole-table read.
# Its batch is small enough that PostgreSQL does not JIT-compile the statement (~10 ms).
_DELETE_PUBLISHED = (
    "WITH cutoff AS (SELECT now() - make_interval(secs => $1) AS at),"
    " keep AS (SELECT o.id FROM outbox o, cutoff"
    " WHERE (o.published_at IS NULL AND o.failed_at IS NULL) OR o.published_at >= cutoff.at"
    " ORDER BY o.id LIMIT 1),"
    " gone AS (SELECT o.id FROM outbox o, cutoff"
    " WHERE o.id < COALESCE((SELECT id FROM keep), 9223372036854775807)"
    " AND o.published_at < cutoff.at ORDER BY o.id LIMIT $2)"
    # An array of ids: the rows are found by the key (a join may read the whole table).
    " DELETE FROM outbox WHERE id = ANY(ARRAY(SELECT id FROM gone))"
)


async def delete_published(
    pool: asyncpg.Pool, older_than_seconds: int = 3600, batch: int = 10_000, batches: int = 10
) -> int:
    """Delete the published rows older than the window, ``batch`` rows a statement and at
    most ``batches`` statements a call (a backlog, e.g. after a long stop, goes over
    several calls); how many were deleted."""
    deleted = 0
    for _ in range(batches):
        result: str = await pool.execute(_DELETE_PUBLISHED, older_than_seconds, batch)
        n = int(result.rsplit(maxsplit=1)[-1])
        deleted += n
        if n < batch:
            break
    return deleted
