"""What the runtime does when one record, one row or one connection goes wrong, against
real Kafka and PostgreSQL: the rest of the work goes on, nothing is lost, order holds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from prometheus_client import REGISTRY

from contracts.envelope import EventEnvelope
from contracts.events import Payload
from services.runtime.consumer import BatchHandler, ConsumerConfig, Envelope, IdempotentConsumer
from services.runtime.db import DbConn, create_pool, migrate
from services.runtime.deadletters import ReplayError, fetch_record, replay, replay_parked
from services.runtime.outbox import (
    RELAY_DEAD_LETTER_CONSUMER,
    OutboxRecord,
    OutboxRelay,
    append_event,
    append_records,
)
from services.runtime.setup import ensure_topics
from tests.conftest import unique_prefix
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
EMPTY_MIGRATIONS = Path(__file__).parent / "no_migrations"


class Code(Payload):
    """The payload the test handlers read."""

    dossier_code: str


@pytest.fixture
async def isolated(infra: Infra) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    prefix = unique_prefix()
    schema = f"{prefix}svc"
    await ensure_topics(infra.kafka_bootstrap, prefix)
    pool = await create_pool(infra.database_url, schema, 1, 5)
    async with pool.acquire() as conn:
        await migrate(conn, schema, EMPTY_MIGRATIONS)
        await conn.execute("CREATE TABLE handled (n bigserial, event_id uuid, code text, via text)")
    try:
        yield prefix, pool
    finally:
        await pool.close()


def event(dossier_id: UUID, code: str, event_type: str = "step.assigned") -> EventEnvelope:
    return EventEnvelope(
        event_type=event_type,
        dossier_id=dossier_id,
        correlation_id=dossier_id,
        producer="routing",
        payload={"dossier_code": code},
    )


async def start_producer(infra: Infra, **options: Any) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, **options
    )
    await producer.start()
    return producer


async def produce(
    infra: Infra, topic: str, values: Sequence[bytes], key: bytes, headers: list[Any]
) -> list[int]:
    """Send the records in order to one partition (one key); return their offsets."""
    producer = await start_producer(infra)
    try:
        offsets = []
        for value in values:
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers)
            offsets.append(meta.offset)
        return offsets
    finally:
        await producer.stop()


async def run_until_processed(consumer: IdempotentConsumer, count: int, limit: float = 30) -> None:
    """Run the consumer until ``count`` records were processed and their offsets committed."""
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.monotonic() + limit
        while consumer.processed < count:
            assert time.monotonic() < deadline, f"only {consumer.processed} of {count} processed"
            assert not task.done(), task
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make_consumer(
    infra: Infra, prefix: str, pool: asyncpg.Pool, topic: str, **config: Any
) -> IdempotentConsumer:
    return IdempotentConsumer(
        ConsumerConfig(
            name=f"{prefix}sla",
            topics=[topic],
            schema=f"{prefix}svc",
            bootstrap_servers=infra.kafka_bootstrap,
            retry_base_delay=0.01,
            **config,
        ),
        pool,
    )


async def handle_unless_boom(conn: DbConn, env: EventEnvelope) -> None:
    code = env.payload["dossier_code"]
    if code == "boom":
        raise ValueError("cannot route dossier boom")
    await conn.execute(
        "INSERT INTO handled (event_id, code, via) VALUES ($1, $2, 'record')", env.event_id, code
    )


async def read_topic(
    infra: Infra, topic: str, until: Callable[[list[Any]], bool], limit: float = 20
) -> list[Any]:
    """Every record of a topic from the start (in order per partition), until ``until``
    holds, plus whatever else arrives within a second (copies sent twice)."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + limit
        while not until(records):
            assert time.monotonic() < deadline, f"only {len(records)} records arrived"
            for recs in (await reader.getmany(timeout_ms=500)).values():
                records.extend(recs)
        for recs in (await reader.getmany(timeout_ms=1000)).values():
            records.extend(recs)
    finally:
        await reader.stop()
    return records


def at_least(count: int) -> Callable[[list[Any]], bool]:
    return lambda records: len(records) >= count


async def test_one_poison_record_in_a_batch_is_dead_lettered_and_the_others_commit(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    topic = f"{prefix}dossier.routing"
    dossier_id = uuid4()
    codes = ["A-1", "A-2", "A-3", "boom", "A-5", "A-6"]
    events = [event(dossier_id, code) for code in codes]
    offsets = await produce(
        infra,
        topic,
        [e.model_dump_json().encode() for e in events],
        str(dossier_id).encode(),
        [("x-origin", b"desk-7")],
    )

    consumer = make_consumer(
        infra, prefix, pool, topic, handlers={"step.assigned": handle_unless_boom}
    )
    await run_until_processed(consumer, len(events))

    # The five good records are handled once each, in their order; the batch that held
    # the poison record was handled again record by record.
    handled = await pool.fetch("SELECT event_id, code FROM handled ORDER BY n")
    good = [e for e in events if e.payload["dossier_code"] != "boom"]
    assert [(r["event_id"], r["code"]) for r in handled] == [
        (e.event_id, e.payload["dossier_code"]) for e in good
    ]
    assert consumer.isolated_batches >= 1
    # Every record is deduped, the poison one too (a replay deletes its row).
    deduped = await pool.fetch("SELECT event_id FROM processed_events")
    assert {r["event_id"] for r in deduped} == {e.event_id for e in events}
    # One dead letter, for the poison record only, after every attempt.
    poison = events[3]
    letters = await pool.fetch(
        'SELECT topic, partition, "offset", attempts, error FROM dead_letters'
    )
    assert len(letters) == 1
    assert (letters[0]["topic"], letters[0]["offset"], letters[0]["attempts"]) == (
        topic,
        offsets[3],
        3,
    )
    assert "cannot route dossier boom" in letters[0]["error"]

    # Its copy reaches <topic>.dlq through the outbox, with the original bytes.
    producer = await start_producer(infra)
    try:
        await OutboxRelay(pool, infra.database_url, f"{prefix}svc", producer).drain()
    finally:
        await producer.stop()
    [dlq] = await read_topic(infra, topic + ".dlq", at_least(1))
    assert json.loads(dlq.value)["event_id"] == str(poison.event_id)
    assert dict(dlq.headers)["dlq.attempts"] == b"3"
    assert dict(dlq.headers)["x-origin"] == b"desk-7"


async def test_a_batch_handler_gets_typed_events_in_order_and_duplicates_are_dropped(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    topic = f"{prefix}dossier.routing"
    dossier_id = uuid4()
    received = event(dossier_id, "R-0", event_type="dossier.received")
    steps = [event(dossier_id, f"S-{i}") for i in range(4)]
    # The relay re-sent step 1 (a crash before marking): the copy is in the same batch.
    records = [received, steps[0], steps[1], steps[1], steps[2], steps[3]]
    await produce(
        infra, topic, [e.model_dump_json().encode() for e in records], str(dossier_id).encode(), []
    )
    calls: list[list[Envelope[Code]]] = []

    async def on_steps(conn: DbConn, envelopes: Sequence[Envelope[Code]]) -> None:
        calls.append(list(envelopes))
        await conn.execute(
            "INSERT INTO handled (event_id, code, via) SELECT e, c, 'batch'"
            " FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS u(e, c, i) ORDER BY i",
            [e.event_id for e in envelopes],
            [e.payload.dossier_code for e in envelopes],
        )

    async def on_received(conn: DbConn, env: EventEnvelope) -> None:
        await conn.execute(
            "INSERT INTO handled (event_id, code, via) VALUES ($1, $2, 'record')",
            env.event_id,
            env.payload["dossier_code"],
        )

    consumer = make_consumer(
        infra,
        prefix,
        pool,
        topic,
        handlers={"dossier.received": on_received},
        batch_handlers={"step.assigned": BatchHandler(Code, on_steps)},
    )
    await run_until_processed(consumer, len(records))

    handled = await pool.fetch("SELECT event_id, code, via FROM handled ORDER BY n")
    assert [(r["code"], r["via"]) for r in handled] == [
        ("R-0", "record"),
        ("S-0", "batch"),
        ("S-1", "batch"),
        ("S-2", "batch"),
        ("S-3", "batch"),
    ]
    delivered = [e for call in calls for e in call]
    assert [e.event_id for e in delivered] == [e.event_id for e in steps]
    assert all(isinstance(e.payload, Code) for e in delivered)
    assert consumer.isolated_batches == 0
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 5


async def test_what_a_batch_handler_writes_goes_out_in_the_trace_of_the_event_it_caused(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    topic = f"{prefix}dossier.routing"
    traces = [f"{n:032x}" for n in (0xA1, 0xB2)]
    dossiers = [uuid4(), uuid4()]
    for trace_id, dossier_id in zip(traces, dossiers, strict=True):
        await produce(
            infra,
            topic,
            [event(dossier_id, f"T-{trace_id[-2:]}").model_dump_json().encode()],
            str(dossier_id).encode(),
            [("traceparent", f"00-{trace_id}-{'1' * 16}-01".encode())],
        )

    async def on_steps(conn: DbConn, envelopes: Sequence[Envelope[Code]]) -> None:
        records = [
            OutboxRecord("out", str(e.dossier_id), uuid4(), "seen", b"{}", e.trace)
            for e in envelopes
        ]
        await append_records(conn, f"{prefix}svc", records, {"traceparent": "unused"})

    consumer = make_consumer(
        infra,
        prefix,
        pool,
        topic,
        handlers={},
        batch_handlers={"step.assigned": BatchHandler(Code, on_steps)},
    )
    await run_until_processed(consumer, len(dossiers))

    rows = await pool.fetch("SELECT key, headers FROM outbox ORDER BY id")
    sent = {UUID(r["key"]): json.loads(r["headers"])["traceparent"] for r in rows}
    assert set(sent) == set(dossiers)
    for trace_id, dossier_id in zip(traces, dossiers, strict=True):
        assert sent[dossier_id].split("-")[1] == trace_id


async def test_a_dead_letter_keeps_the_record_and_replays_after_kafka_dropped_the_original(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.routing"
    dossier_id = uuid4()
    poison = event(dossier_id, "boom")
    value = poison.model_dump_json().encode()
    headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [offset] = await produce(infra, topic, [value], str(dossier_id).encode(), headers)

    consumer = make_consumer(
        infra, prefix, pool, topic, handlers={"step.assigned": handle_unless_boom}
    )
    await run_until_processed(consumer, 1)
    letter = await pool.fetchrow("SELECT * FROM dead_letters")
    assert letter is not None
    assert bytes(letter["value"]) == value
    assert letter["key"] == str(dossier_id)
    assert json.loads(letter["headers"]) == {"traceparent": headers[0][1].decode()}

    # Kafka's retention removes the original record.
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        tp = TopicPartition(topic, letter["partition"])
        await admin.delete_records({tp: RecordsToDelete(before_offset=offset + 1)})
    finally:
        await admin.close()
    with pytest.raises(ReplayError):
        await fetch_record(infra.kafka_bootstrap, topic, letter["partition"], offset, wait_s=2.0)

    # The cause is fixed; the operator replays the letter from its stored bytes.
    answer = await replay(pool, schema, infra.kafka_bootstrap, letter["id"])
    assert answer["event_id"] == str(poison.event_id)
    again = await pool.fetchrow(
        "SELECT topic, key, value, headers FROM outbox WHERE event_id = $1 AND topic = $2",
        poison.event_id,
        topic,
    )
    assert again is not None
    assert (again["key"], bytes(again["value"])) == (str(dossier_id), value)
    assert json.loads(again["headers"]) == {"traceparent": headers[0][1].decode()}
    assert await pool.fetchval("SELECT replayed_at IS NOT NULL FROM dead_letters") is True
    with pytest.raises(ReplayError):
        await replay(pool, schema, infra.kafka_bootstrap, letter["id"])

    producer = await start_producer(infra)
    try:
        await OutboxRelay(pool, infra.database_url, schema, producer).drain()
    finally:
        await producer.stop()

    async def fixed(conn: DbConn, env: EventEnvelope) -> None:
        await conn.execute(
            "INSERT INTO handled (event_id, code, via) VALUES ($1, 'fixed', 'record')",
            env.event_id,
        )

    consumer = make_consumer(infra, prefix, pool, topic, handlers={"step.assigned": fixed})
    await run_until_processed(consumer, 1)
    assert [r["event_id"] for r in await pool.fetch("SELECT event_id FROM handled")] == [
        poison.event_id
    ]


async def test_a_record_whose_dead_letter_cannot_be_written_is_parked_and_the_rest_commit(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.routing"
    # Writing a dead letter fails today (a full disk, a broken table: here, a trigger).
    await pool.execute(
        "CREATE FUNCTION refuse_dead_letter() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RAISE EXCEPTION 'dead letters cannot be written'; END$$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON dead_letters"
        " FOR EACH ROW EXECUTE FUNCTION refuse_dead_letter()"
    )
    dossier_id = uuid4()
    events = [event(dossier_id, code) for code in ["P-1", "boom", "P-3"]]
    values = [e.model_dump_json().encode() for e in events]
    offsets = await produce(infra, topic, values, str(dossier_id).encode(), [("x-origin", b"k")])

    consumer = make_consumer(
        infra, prefix, pool, topic, handlers={"step.assigned": handle_unless_boom}
    )
    parked_before = REGISTRY.get_sample_value(
        "consumer_parked_total", {"consumer": f"{prefix}sla", "topic": topic}
    )
    await run_until_processed(consumer, 3)

    # The good records committed and the partition moved on.
    assert [r["code"] for r in await pool.fetch("SELECT code FROM handled ORDER BY n")] == [
        "P-1",
        "P-3",
    ]
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM processed_events")} == {
        events[0].event_id,
        events[2].event_id,
    }
    # The poison record is parked: counted, in memory and in its table, with its bytes.
    assert (parked_before or 0) + 1 == REGISTRY.get_sample_value(
        "consumer_parked_total", {"consumer": f"{prefix}sla", "topic": topic}
    )
    [in_memory] = consumer.parked
    assert (in_memory.topic, in_memory.offset, in_memory.event_id) == (
        topic,
        offsets[1],
        events[1].event_id,
    )
    [parked] = await pool.fetch("SELECT * FROM parked_records")
    assert (parked["topic"], parked["offset"], parked["key"]) == (
        topic,
        offsets[1],
        str(dossier_id),
    )
    assert bytes(parked["value"]) == values[1]
    assert json.loads(parked["headers"]) == {"x-origin": "k"}
    assert "cannot route dossier boom" in parked["error"]
    assert "dead letters cannot be written" in parked["error"]

    # Found again, it is handed back to its consumer through the outbox.
    await replay_parked(pool, schema, parked["id"])
    assert (
        await pool.fetchval(
            "SELECT value FROM outbox WHERE event_id = $1 AND topic = $2", events[1].event_id, topic
        )
        == values[1]
    )
    assert await pool.fetchval("SELECT resolved_at IS NOT NULL FROM parked_records") is True


async def test_an_outbox_row_too_large_to_publish_is_set_aside_and_the_rows_behind_it_go_on(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.intake"
    dossier_id = uuid4()
    good = [event(dossier_id, f"G-{i}", "dossier.received") for i in range(3)]
    huge = event(dossier_id, "H" * 20_000, "dossier.received")
    async with pool.acquire() as conn, conn.transaction():
        await append_event(conn, schema, topic, good[0])
        await append_event(conn, schema, topic, huge)
        await append_event(conn, schema, topic, good[1])
        # A row whose headers can never become Kafka headers.
        await conn.execute(
            "INSERT INTO outbox (topic, key, event_id, event_type, value, headers)"
            " VALUES ($1, $2, $3, 'dossier.received', $4, '{\"traceparent\": 5}')",
            topic,
            str(dossier_id),
            uuid4(),
            event(dossier_id, "bad-headers").model_dump_json().encode(),
        )
        await append_event(conn, schema, topic, good[2])

    producer = await start_producer(infra, max_request_size=16_384)
    try:
        relay = OutboxRelay(pool, infra.database_url, schema, producer)
        assert await relay.drain() == 5
        assert await relay.drain() == 0  # set-aside rows are not tried again
    finally:
        await producer.stop()

    rows = await pool.fetch(
        "SELECT id, event_id, published_at IS NOT NULL AS sent, failed_at IS NOT NULL AS failed,"
        " error FROM outbox ORDER BY id"
    )
    assert [(r["sent"], r["failed"]) for r in rows] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
        (True, False),
    ]
    assert "MessageSizeTooLarge" in rows[1]["error"]
    assert "headers" in rows[3]["error"]
    assert relay.failed == 2
    letters = await pool.fetch(
        "SELECT id, consumer, topic, outbox_id, value, partition FROM dead_letters ORDER BY id"
    )
    assert [(d["consumer"], d["topic"], d["outbox_id"]) for d in letters] == [
        (RELAY_DEAD_LETTER_CONSUMER, topic, rows[1]["id"]),
        (RELAY_DEAD_LETTER_CONSUMER, topic, rows[3]["id"]),
    ]
    assert json.loads(bytes(letters[0]["value"]))["event_id"] == str(huge.event_id)
    assert letters[0]["partition"] is None

    # The rows around it went out once each, in order, none sent again.
    published = await read_topic(infra, topic, at_least(3))
    assert [json.loads(r.value)["event_id"] for r in published] == [str(e.event_id) for e in good]

    # With a producer that allows it, replaying the letter publishes the row after all.
    await replay(pool, schema, infra.kafka_bootstrap, letters[0]["id"])
    roomy = await start_producer(infra)
    try:
        assert await OutboxRelay(pool, infra.database_url, schema, roomy).drain() == 1
    finally:
        await roomy.stop()
    published = await read_topic(infra, topic, at_least(4))
    assert json.loads(published[-1].value)["event_id"] == str(huge.event_id)


class RecordingProducer:
    """A producer that notes which relay sent when (the relay hands it producer batches,
    and single records when it isolates one the broker refused)."""

    def __init__(self, name: str, inner: AIOKafkaProducer, sends: list[tuple[str, float]]) -> None:
        self.name = name
        self.inner = inner
        self.sends = sends

    async def partitions_for(self, topic: str) -> Any:
        return await self.inner.partitions_for(topic)

    def create_batch(self) -> Any:
        return self.inner.create_batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        future = await self.inner.send_batch(batch, topic, partition=partition)
        self.sends.extend((self.name, time.monotonic()) for _ in range(batch.record_count()))
        return future

    async def send(self, topic: str, **kwargs: Any) -> Any:
        future = await self.inner.send(topic, **kwargs)
        self.sends.append((self.name, time.monotonic()))
        return future


async def test_a_relay_whose_lock_connection_dies_stops_and_a_standby_takes_over_in_order(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.intake"
    dossiers = [uuid4() for _ in range(3)]
    per_dossier = 40
    sends: list[tuple[str, float]] = []
    kafka = await start_producer(infra, linger_ms=2)
    first = OutboxRelay(
        pool,
        infra.database_url,
        schema,
        RecordingProducer("first", kafka, sends),
        batch_size=5,
        lock_poll_interval=1.0,
    )
    standby = OutboxRelay(
        pool,
        infra.database_url,
        schema,
        RecordingProducer("standby", kafka, sends),
        batch_size=5,
        lock_poll_interval=0.1,
    )

    async def write() -> None:
        for n in range(per_dossier):
            for dossier_id in dossiers:
                envelope = EventEnvelope(
                    event_type="dossier.received",
                    dossier_id=dossier_id,
                    correlation_id=dossier_id,
                    sequence=n,
                    producer="intake",
                    payload={"dossier_code": f"{dossier_id}-{n}"},
                )
                async with pool.acquire() as conn, conn.transaction():
                    await append_event(conn, schema, topic, envelope)
            await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(first.run())]
    started = time.monotonic()
    try:
        while not first.holds_lock:
            await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(standby.run()))
        writer = asyncio.create_task(write())
        tasks.append(writer)
        while first.published < 30:
            assert time.monotonic() < started + 20, "the first relay did not publish"
            await asyncio.sleep(0.01)
        # The lock's connection dies (a network cut, an operator, a failover).
        pid = first.lock_holder_pid
        assert pid is not None
        assert await pool.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        killed_at = time.monotonic()
        deadline = killed_at + 30
        await writer
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            assert time.monotonic() < deadline, "the standby did not publish the rest"
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kafka.stop()

    assert standby.published > 0
    assert not first.holds_lock
    # Never two relays at once: the first sent nothing after the standby's first send,
    # and nothing after its lock's death but the batch it had in flight.
    standby_start = min(t for name, t in sends if name == "standby")
    assert all(t < standby_start for name, t in sends if name == "first")
    assert sum(1 for name, t in sends if name == "first" and t > killed_at) <= 5

    # Each dossier's events arrive in the order they were written (copies sent twice
    # around the take-over only repeat an event already delivered).
    total = per_dossier * len(dossiers)
    records = await read_topic(
        infra, topic, lambda rs: len({json.loads(r.value)["event_id"] for r in rs}) >= total
    )
    seen: dict[str, list[int]] = {str(d): [] for d in dossiers}
    delivered: set[str] = set()
    for record in records:
        envelope = json.loads(record.value)
        if envelope["event_id"] not in delivered:
            delivered.add(envelope["event_id"])
            seen[record.key.decode()].append(envelope["sequence"])
    assert seen == {str(d): list(range(per_dossier)) for d in dossiers}


async def test_rows_filling_many_producer_batches_keep_each_dossiers_order_around_a_huge_one(
    infra: Infra, isolated: tuple[str, asyncpg.Pool]
) -> None:
    prefix, pool = isolated
    schema = f"{prefix}svc"
    topic = f"{prefix}dossier.intake"
    dossiers = [uuid4() for _ in range(4)]
    per_dossier = 60
    written: dict[UUID, list[str]] = {d: [] for d in dossiers}
    async with pool.acquire() as conn, conn.transaction():
        for n in range(per_dossier):
            for d in dossiers:
                # ~1 KB each: a producer batch (16 KB) holds about fifteen.
                code = f"{d}-{n:03d}-" + "x" * 1000
                if d == dossiers[0] and n == 30:  # larger than a request: set aside alone
                    await append_event(conn, schema, topic, event(d, "H" * 40_000, "x.big"))
                await append_event(conn, schema, topic, event(d, code, "dossier.received"))
                written[d].append(code)
    producer = await start_producer(infra, max_request_size=32_768)
    try:
        relay = OutboxRelay(pool, infra.database_url, schema, producer, batch_size=500)
        assert await relay.drain() == per_dossier * len(dossiers) + 1
    finally:
        await producer.stop()
    assert relay.failed == 1
    published = await read_topic(infra, topic, at_least(per_dossier * len(dossiers)))
    heard: dict[UUID, list[str]] = {d: [] for d in dossiers}
    for record in published:
        envelope = json.loads(record.value)
        heard[UUID(envelope["dossier_id"])].append(envelope["payload"]["dossier_code"])
    assert heard == written  # every row once, each dossier's in the order written
    # The case in point: some partition's records took more than one producer batch.
    per_partition: dict[int, int] = {}
    for record in published:
        per_partition[record.partition] = per_partition.get(record.partition, 0) + len(record.value)
    assert max(per_partition.values()) > 2 * 16_384
