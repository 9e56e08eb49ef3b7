"""Idempotent, batched Kafka consumer.

Per partition batch: one PostgreSQL transaction; each record in its own savepoint with
the dedupe row (consumer, event_id) and the handler's state change and outbox writes.
Offsets are committed after the transaction. A record that keeps failing goes to
``<topic>.dlq`` (through the outbox, in the same transaction) and the partition moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from opentelemetry import trace
from pydantic import ValidationError

from contracts.envelope import EventEnvelope
from contracts.topics import DLQ_SUFFIX
from services.runtime.db import DbConn
from services.runtime.metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERED
from services.runtime.outbox import append_raw
from services.runtime.telemetry import context_from_kafka_headers, dossier_attributes, tracer
from services.runtime.transport import start_kafka_client

log = logging.getLogger(__name__)

Handler = Callable[[DbConn, EventEnvelope], Awaitable[None]]
# Errors of the infrastructure, not of the record: the batch is retried, never dead-lettered.
INFRASTRUCTURE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
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
    retry_base_delay: float = 0.05
    lag_interval: float = 5.0
    # TLS / SASL (services.runtime.transport.kafka_client_options).
    client_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class IdempotentConsumer:
    def __init__(self, config: ConsumerConfig, pool: asyncpg.Pool) -> None:
        self.config = config
        self._pool = pool
        self._consumer: AIOKafkaConsumer | None = None
        self.processed = 0

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
            **cfg.client_options,
            **cfg.extra,
        )
        lag_due = 0.0
        try:
            await start_kafka_client(self._consumer, cfg.bootstrap_servers, cfg.client_options)
            while True:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=cfg.batch_max)
                for tp, records in batches.items():
                    await self._handle_partition_batch(tp, records)
                if time.monotonic() >= lag_due:
                    await self.record_lag()
                    lag_due = time.monotonic() + cfg.lag_interval
        finally:
            await self._consumer.stop()

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

    async def _handle_partition_batch(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        assert self._consumer is not None
        delay = 0.2
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    for record in records:
                        await self._handle_record(conn, record)
                break
            except INFRASTRUCTURE_ERRORS:
                log.warning("batch on %s failed; retrying", tp, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self._consumer.commit({tp: records[-1].offset + 1})
        self.processed += len(records)
        CONSUMED.labels(self.config.name, tp.topic).inc(len(records))

    async def _handle_record(self, conn: DbConn, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(conn, record, f"malformed envelope: {exc}", attempts=1)
            return
        handler = self.config.handlers.get(envelope.event_type)
        if handler is None:
            return  # not an event this consumer cares about
        parent = context_from_kafka_headers(record.headers)
        with tracer().start_as_current_span(
            f"{record.topic} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.consumer.group.name": self.config.name,
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                **dossier_attributes(envelope.event_type, envelope.dossier_id, envelope.payload),
            },
        ) as span:
            await self._run_with_retries(conn, record, envelope, handler, span)

    async def _run_with_retries(
        self,
        conn: DbConn,
        record: ConsumerRecord[bytes, bytes],
        envelope: EventEnvelope,
        handler: Handler,
        span: trace.Span,
    ) -> None:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                async with conn.transaction():  # a savepoint inside the batch transaction
                    first_time = await conn.fetchval(
                        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
                        " ON CONFLICT DO NOTHING RETURNING true",
                        self.config.name,
                        envelope.event_id,
                    )
                    if not first_time:
                        span.set_attribute("onestop.duplicate", True)
                        return
                    await handler(conn, envelope)
                return
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                span.record_exception(exc)
                if attempt == self.config.max_attempts:
                    await self._dead_letter(conn, record, repr(exc), attempts=attempt)
                    await conn.execute(
                        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
                        " ON CONFLICT DO NOTHING",
                        self.config.name,
                        envelope.event_id,
                    )
                    return
                await asyncio.sleep(self.config.retry_base_delay * 2 ** (attempt - 1))

    async def _dead_letter(
        self,
        conn: DbConn,
        record: ConsumerRecord[bytes, bytes],
        error: str,
        attempts: int,
    ) -> None:
        log.error(
            "dead-lettering %s[%s]@%s after %s attempt(s): %s",
            record.topic,
            record.partition,
            record.offset,
            attempts,
            error[:500],
        )
        DEAD_LETTERED.labels(self.config.name, record.topic).inc()
        await conn.execute(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", error, attempts)'
            " VALUES ($1, $2, $3, $4, $5, $6)",
            self.config.name,
            record.topic,
            record.partition,
            record.offset,
            error[:4000],
            attempts,
        )
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or [])}
        headers.update(
            {
                "dlq.consumer": self.config.name,
                "dlq.error": error[:1000],
                "dlq.attempts": str(attempts),
                "dlq.source": f"{record.topic}/{record.partition}/{record.offset}",
                "dlq.at": str(time.time()),
            }
        )
        await append_raw(
            conn,
            self.config.schema,
            topic=record.topic + DLQ_SUFFIX,
            key=(record.key or b"").decode(errors="replace"),
            event_id=str(uuid4()),
            event_type="dead_letter",
            value=record.value or b"",
            headers=headers,
        )


def decode_headers(headers: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in headers or []}


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
