"""Transactional outbox: events are rows written with the state change, then relayed.

The relay wakes on LISTEN/NOTIFY (no polling delay), publishes with an idempotent
producer (acks=all) and marks rows published only after the broker acknowledged them.
A crash between the two re-publishes the rows; consumers dedupe on event_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from contracts.envelope import EventEnvelope
from services.runtime.db import DbConn
from services.runtime.telemetry import (
    context_from_carrier,
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
    # The span that wrote the event (an HTTP request, a consumer) names the dossier too,
    # so the console finds the trace from a dossier code.
    # Attributes the span already has (a consumer's own event) are left as they are.
    current = trace.get_current_span()
    if current.is_recording():
        known = getattr(current, "attributes", None) or {}
        for name, value in dossier_attributes(
            envelope.event_type, envelope.dossier_id, envelope.payload
        ).items():
            if name != "onestop.event_type" and name not in known:
                current.set_attribute(name, value)
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


@dataclass(frozen=True)
class OutboxRecord:
    """One record for Kafka, as the relay will send it."""

    topic: str
    key: str
    event_id: UUID | str
    event_type: str
    value: bytes


async def append_records(
    conn: DbConn, schema: str, records: Sequence[OutboxRecord], headers: dict[str, str]
) -> None:
    """Add records to the outbox in the caller's transaction, in order, in one round trip
    with the relay's wake-up (delivered at commit; wake-ups of one transaction collapse)."""
    if not records:
        return
    await conn.execute(
        "WITH added AS (INSERT INTO outbox (topic, key, event_id, event_type, value, headers)"
        " SELECT t, k, e, y, v, $6::jsonb FROM unnest($1::text[], $2::text[], $3::uuid[],"
        " $4::text[], $5::bytea[]) WITH ORDINALITY AS u(t, k, e, y, v, n) ORDER BY n"
        " RETURNING id) SELECT pg_notify($7, '')",
        [r.topic for r in records],
        [r.key for r in records],
        [r.event_id for r in records],
        [r.event_type for r in records],
        [r.value for r in records],
        json.dumps(headers),
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


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        schema: str,
        producer: AIOKafkaProducer,
        batch_size: int = 500,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._producer = producer
        self._batch_size = batch_size
        self._fault_hook = fault_hook
        self._wake = asyncio.Event()
        self.published = 0

    async def run(self) -> None:
        """Publish forever. Only one relay per schema is active (advisory lock) so that
        one dossier's events leave in the order they were written."""
        listener: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            await listener.add_listener(outbox_channel(self._schema), self._on_notify)
            lock_key = zlib.crc32(f"outbox:{self._schema}".encode())
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", lock_key):
                await asyncio.sleep(1.0)
            while True:
                self._wake.clear()
                await self.drain()
                # The timeout only covers a lost notification (e.g. across a reconnect).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            with contextlib.suppress(Exception):
                await listener.close()

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def drain(self) -> int:
        total = 0
        while True:
            sent = await self._publish_batch()
            total += sent
            if sent < self._batch_size:
                return total

    async def _publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, event_type, value, headers FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            deliveries = [await self._send(row) for row in rows]
            await asyncio.gather(*deliveries)
            if self._fault_hook is not None:
                self._fault_hook("after_send_before_mark")
            await conn.execute(
                "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        self.published += len(rows)
        return len(rows)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        carrier: dict[str, str] = json.loads(row["headers"])
        parent = context_from_carrier(carrier)
        with tracer().start_as_current_span(
            f"{row['topic']} send",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row["topic"],
                **_event_attributes(row),
            },
        ):
            headers = to_kafka_headers({**carrier, **current_trace_headers()})
            future: asyncio.Future[Any] = await self._producer.send(
                row["topic"], value=bytes(row["value"]), key=row["key"].encode(), headers=headers
            )
            return future


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


async def delete_published(pool: asyncpg.Pool, older_than_seconds: int = 3600) -> int:
    result: str = await pool.execute(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
        older_than_seconds,
    )
    return int(result.rsplit(maxsplit=1)[-1])
