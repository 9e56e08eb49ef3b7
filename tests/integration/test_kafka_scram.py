"""Kafka with SASL/SCRAM-SHA-512: the runtime's clients get in with the right password only.

A throw-away broker (tests/support/scram_broker.py) accepts clients only on a
SASL_PLAINTEXT listener with SCRAM-SHA-512. The services reach it through the transport
settings (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*), which every client the runtime makes
takes: the admin client creating topics, the outbox producer, the idempotent consumers,
the dead-letter reader.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from contracts.envelope import EventEnvelope
from services.runtime.consumer import IdempotentConsumer
from services.runtime.db import DbConn, create_pool, migrate
from services.runtime.deadletters import fetch_record
from services.runtime.outbox import OutboxRelay
from services.runtime.service import Runtime, _start_producer
from services.runtime.settings import ServiceSettings
from services.runtime.setup import ensure_topics
from services.runtime.transport import KafkaAuthenticationError
from tests.conftest import unique_prefix
from tests.support.infra import Infra
from tests.support.runtime import bare_runtime
from tests.support.scram_broker import MECHANISM, USERNAME, ScramBroker, scram_broker

pytestmark = pytest.mark.integration
EMPTY_MIGRATIONS = Path(__file__).parent / "no_migrations"


@pytest.fixture(scope="session")
def scram() -> Iterator[ScramBroker]:
    broker = scram_broker()
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()  # and its data is deleted


def sasl_settings(infra: Infra, broker: ScramBroker, prefix: str, password: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="svc",
        environment="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=prefix,
        schema_prefix=prefix,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=MECHANISM,
        kafka_sasl_username=USERNAME,
        kafka_sasl_password=password,
    )


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    prefix = unique_prefix()
    schema = f"{prefix}svc"
    pool = await create_pool(infra.database_url, schema, 1, 4)
    async with pool.acquire() as conn:
        await migrate(conn, schema, EMPTY_MIGRATIONS)
        await conn.execute("CREATE TABLE handled (event_id uuid PRIMARY KEY)")
    try:
        yield prefix, pool
    finally:
        await pool.close()


async def record_handled(conn: DbConn, env: EventEnvelope) -> None:
    await conn.execute("INSERT INTO handled (event_id) VALUES ($1)", env.event_id)


async def consume(consumer: IdempotentConsumer, count: int, limit: float = 60.0) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.monotonic() + limit
        while consumer.processed < count and time.monotonic() < deadline:
            if task.done():
                task.result()  # the consumer died: show why
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_with_the_right_password_the_runtime_publishes_and_consumes_over_scram(
    infra: Infra, scram: ScramBroker, pool: tuple[str, asyncpg.Pool]
) -> None:
    prefix, db = pool
    settings = sasl_settings(infra, scram, prefix, scram.password)
    created = await ensure_topics(
        scram.bootstrap, prefix, client_options=settings.kafka_client_options()
    )
    assert f"{prefix}dossier.intake" in created

    producer = await _start_producer(settings)
    try:
        relay = OutboxRelay(db, settings.database_dsn, settings.db_schema, producer)
        rt = Runtime(
            settings=settings,
            pool=db,
            producer=producer,
            relay=relay,
            auth=cast("Any", None),
            credentials=cast("Any", None),
        )
        dossier_id = uuid4()
        async with db.acquire() as conn, conn.transaction():
            sent = await rt.publish(
                conn, "dossier.intake", "dossier.received", dossier_id, {"dossier_code": "X-1"}
            )
        assert await relay.drain() == 1
        consumer = IdempotentConsumer(
            rt.consumer("routing", ["dossier.intake"], {"dossier.received": record_handled}),
            db,
        )
        await consume(consumer, 1)
    finally:
        await producer.stop()

    assert consumer.processed == 1
    assert [r["event_id"] for r in await db.fetch("SELECT event_id FROM handled")] == [
        sent.event_id
    ]
    # The group's offset was committed on the broker, after the transaction.
    committed = await committed_offsets(settings, f"{prefix}routing")
    assert list(committed.values()) == [1]
    # The dead-letter replay reads records back with the same settings.
    (partition,) = committed
    record = await fetch_record(
        scram.bootstrap,
        f"{prefix}dossier.intake",
        partition,
        0,
        client_options=settings.kafka_client_options(),
    )
    assert EventEnvelope.model_validate_json(record.value or b"").event_id == sent.event_id


async def committed_offsets(settings: ServiceSettings, group: str) -> dict[int, int]:
    """Partition -> committed offset of a consumer group, asked with ``settings``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def test_a_wrong_password_is_refused_and_nothing_is_consumed(
    infra: Infra, scram: ScramBroker, pool: tuple[str, asyncpg.Pool]
) -> None:
    prefix, db = pool
    good = sasl_settings(infra, scram, prefix, scram.password)
    await ensure_topics(scram.bootstrap, prefix, client_options=good.kafka_client_options())
    topic = good.topic("dossier.intake")
    # A record is waiting on the topic for whoever may read it.
    producer = await _start_producer(good)
    try:
        waiting = EventEnvelope(
            event_type="dossier.received",
            dossier_id=uuid4(),
            correlation_id=uuid4(),
            producer="intake",
            payload={"dossier_code": "X-2"},
        )
        await producer.send_and_wait(topic, waiting.model_dump_json().encode(), key=b"k")
    finally:
        await producer.stop()

    bad = sasl_settings(infra, scram, prefix, "not-" + scram.password)

    # The outbox producer: refused at once as an authentication failure, not retried
    # for a minute as if the broker were down.
    started = time.monotonic()
    with pytest.raises(KafkaAuthenticationError) as refused:
        await _start_producer(bad)
    assert isinstance(refused.value.__cause__, SaslAuthenticationFailed)
    assert time.monotonic() - started < 30

    # The consumer: refused too; its handler never ran and its group committed nothing.
    bad_rt = bare_runtime(bad, db)
    consumer = IdempotentConsumer(
        bad_rt.consumer("routing", ["dossier.intake"], {"dossier.received": record_handled}),
        db,
    )
    with pytest.raises(KafkaAuthenticationError) as refused:
        await asyncio.wait_for(consumer.run(), 60)
    assert isinstance(refused.value.__cause__, SaslAuthenticationFailed)
    assert consumer.processed == 0
    assert await db.fetchval("SELECT count(*) FROM handled") == 0
    assert await db.fetchval("SELECT count(*) FROM processed_events") == 0

    # The admin client and the dead-letter reader are refused as well.
    with pytest.raises(KafkaAuthenticationError):
        await ensure_topics(
            scram.bootstrap, f"{prefix}x", client_options=bad.kafka_client_options()
        )
    with pytest.raises(KafkaAuthenticationError):
        await fetch_record(scram.bootstrap, topic, 0, 0, client_options=bad.kafka_client_options())

    # A client that does not authenticate at all gets nothing either.
    plain = AIOKafkaProducer(bootstrap_servers=scram.bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await plain.start()
    await plain.stop()

    # Nothing changed on the broker: no topic of the refused admin client, no offsets of
    # the refused consumer's group.
    assert await committed_offsets(good, f"{prefix}routing") == {}
    admin = AIOKafkaAdminClient(bootstrap_servers=scram.bootstrap, **good.kafka_client_options())
    await admin.start()
    try:
        assert not [t for t in await admin.list_topics() if t.startswith(f"{prefix}x")]
    finally:
        await admin.close()
