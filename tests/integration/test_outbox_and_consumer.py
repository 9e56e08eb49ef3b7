"""The delivery guarantees every service stands on, against real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.envelope import EventEnvelope
from services.runtime.consumer import ConsumerConfig, IdempotentConsumer
from services.runtime.db import DbConn, create_pool, migrate
from services.runtime.outbox import OutboxRelay, append_event
from services.runtime.setup import ensure_topics
from tests.conftest import unique_prefix
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
EMPTY_MIGRATIONS = Path(__file__).parent / "no_migrations"


class RelayKilled(Exception):
    """Stands for the process dying between the broker's ack and the database update."""


@pytest.fixture
async def isolated(infra: Infra) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    prefix = unique_prefix()
    schema = f"{prefix}svc"
    await ensure_topics(infra.kafka_bootstrap, prefix)
    pool = await create_pool(infra.database_url, schema, 1, 5)
    async with pool.acquire() as conn:
        await migrate(conn, schema, EMPTY_MIGRATIONS)
        await conn.execute(
            "CREATE TABLE handled (event_id uuid, dossier_id uuid, handled_at timestamptz"
            " DEFAULT now())"
        )
    try:
        yield prefix, pool
    finally:
        await pool.close()


async def start_producer(infra: Infra) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    return producer


async def run_until(consumer: IdempotentConsumer, done: asyncio.Event, limit: float) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(done.wait(), limit)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def event(event_type: str, dossier_id: UUID, producer: str, code: str) -> EventEnvelope:
    return EventEnvelope(
        event_type=event_type,
        dossier_id=dossier_id,
        correlation_id=dossier_id,
        producer=producer,
        payload={"dossier_code": code},
    )


async def wait_processed(consumer: IdempotentConsumer, count: int, limit: float = 30) -> None:
    """Run the consumer until ``count`` records were processed and committed."""
    done = asyncio.Event()

    async def watch() -> None:
        while consumer.processed < count:
            await asyncio.sleep(0.05)
        done.set()

    watcher = asyncio.create_task(watch())
    try:
        await run_until(consumer, done, limit)
    finally:
        watcher.cancel()


async def test_an_event_committed_before_the_relay_dies_arrives_once_in_effect(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.intake"
    dossier_id = uuid4()
    envelope = event("dossier.received", dossier_id, "intake", "000.00.01.H22-261122-0001")
    async with pool.acquire() as conn, conn.transaction():
        await append_event(conn, schema, topic, envelope)

    def kill(point: str) -> None:
        raise RelayKilled(point)

    producer = await start_producer(infra)
    try:
        # First relay: the broker acknowledges, then the process "dies" before marking.
        doomed = OutboxRelay(pool, infra.database_url, schema, producer, fault_hook=kill)
        with pytest.raises(RelayKilled):
            await doomed.drain()
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
        # After restart the row is still unpublished, so it goes out a second time.
        restarted = OutboxRelay(pool, infra.database_url, schema, producer)
        assert await restarted.drain() == 1
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await producer.stop()

    async def handle(conn: DbConn, env: EventEnvelope) -> None:
        await conn.execute(
            "INSERT INTO handled (event_id, dossier_id) VALUES ($1, $2)",
            env.event_id,
            env.dossier_id,
        )

    consumer = IdempotentConsumer(
        ConsumerConfig(
            name=f"{prefix}routing",
            topics=[topic],
            handlers={"dossier.received": handle},
            schema=schema,
            bootstrap_servers=infra.kafka_bootstrap,
        ),
        pool,
    )

    await wait_processed(consumer, 2)
    # Two copies on the topic, one effect in the database.
    assert consumer.processed == 2
    rows = await pool.fetch("SELECT event_id, dossier_id FROM handled")
    assert [(r["event_id"], r["dossier_id"]) for r in rows] == [(envelope.event_id, dossier_id)]


async def test_a_malformed_event_goes_to_the_dead_letter_topic_and_the_next_one_is_handled(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.routing"
    dossier_id = uuid4()
    good = event("step.assigned", dossier_id, "routing", "X")
    poison = event("step.assigned", dossier_id, "routing", "boom")
    producer = await start_producer(infra)
    key = str(dossier_id).encode()
    try:
        # Same key, so the same partition: garbage, a record the handler always rejects,
        # then a good one.
        await producer.send_and_wait(topic, b"{not json", key=key)
        await producer.send_and_wait(topic, poison.model_dump_json().encode(), key=key)
        await producer.send_and_wait(topic, good.model_dump_json().encode(), key=key)
    finally:
        await producer.stop()

    async def handle(conn: DbConn, env: EventEnvelope) -> None:
        if env.payload["dossier_code"] == "boom":
            raise ValueError("cannot route dossier boom")
        await conn.execute("INSERT INTO handled (event_id) VALUES ($1)", env.event_id)

    consumer = IdempotentConsumer(
        ConsumerConfig(
            name=f"{prefix}sla",
            topics=[topic],
            handlers={"step.assigned": handle},
            schema=schema,
            bootstrap_servers=infra.kafka_bootstrap,
            retry_base_delay=0.01,
        ),
        pool,
    )

    await wait_processed(consumer, 3)
    assert [r["event_id"] for r in await pool.fetch("SELECT event_id FROM handled")] == [
        good.event_id
    ]
    dead = await pool.fetch('SELECT error, attempts FROM dead_letters ORDER BY "offset"')
    assert [d["attempts"] for d in dead] == [1, 3]
    assert "malformed envelope" in dead[0]["error"]
    assert "cannot route dossier boom" in dead[1]["error"]

    # The dead letters reach <topic>.dlq through the outbox, with the original bytes.
    relay_producer = await start_producer(infra)
    try:
        await OutboxRelay(pool, infra.database_url, schema, relay_producer).drain()
    finally:
        await relay_producer.stop()
    reader = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        records: list[Any] = []
        while len(records) < 2:
            batch = await reader.getmany(timeout_ms=5000)
            assert batch, "dead-letter records did not arrive"
            for recs in batch.values():
                records.extend(recs)
    finally:
        await reader.stop()
    assert records[0].value == b"{not json"
    assert json.loads(records[1].value)["event_id"] == str(poison.event_id)
    headers = dict(records[1].headers)
    assert headers["dlq.attempts"] == b"3"
    assert headers["dlq.source"].startswith(topic.encode())
