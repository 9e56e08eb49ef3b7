"""Dead letters: list them, and replay one to its consumer after the cause is fixed.

A dead-lettered record is still in its topic (Kafka keeps it for the retention period):
replaying reads it back by topic, partition and offset, forgets that the consumer saw
its event (the dedupe row), and publishes it again through the outbox, so only the
consumer that failed handles it again (the others dedupe it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.runtime.logs import mask_personal_data
from services.runtime.outbox import append_raw
from services.runtime.transport import start_kafka_client


class ReplayError(Exception):
    pass


async def list_dead_letters(pool: asyncpg.Pool, limit: int = 200) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, consumer, topic, partition, "offset", error, attempts, recorded_at,'
        " replayed_at FROM dead_letters ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [{**dict(r), "error": mask_personal_data(r["error"])} for r in rows]


async def fetch_record(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    wait_s: float = 10.0,
    *,
    client_options: Mapping[str, Any] | None = None,
) -> ConsumerRecord[bytes, bytes]:
    options = dict(client_options or {})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **options
    )
    try:
        await start_kafka_client(consumer, bootstrap, options)
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if record.offset == offset:
                    return record
                if record.offset > offset:
                    break
        raise ReplayError(f"{topic}/{partition}/{offset} is no longer in Kafka")
    finally:
        await consumer.stop()


async def replay(
    pool: asyncpg.Pool,
    schema: str,
    bootstrap: str,
    letter_id: int,
    *,
    client_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    letter = await pool.fetchrow("SELECT * FROM dead_letters WHERE id = $1", letter_id)
    if letter is None:
        raise LookupError(letter_id)
    if letter["replayed_at"] is not None:
        raise ReplayError("already replayed")
    record = await fetch_record(
        bootstrap,
        letter["topic"],
        letter["partition"],
        letter["offset"],
        client_options=client_options,
    )
    try:
        event_id = str(json.loads(record.value or b"{}")["event_id"])
        event_type = str(json.loads(record.value or b"{}").get("event_type", "replay"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReplayError("the record is not an event envelope; fix it at its producer") from exc
    headers = {
        k: v.decode(errors="replace") for k, v in (record.headers or []) if not k.startswith("dlq.")
    }
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM processed_events WHERE consumer = $1 AND event_id = $2::uuid",
            letter["consumer"],
            event_id,
        )
        await append_raw(
            conn,
            schema,
            topic=letter["topic"],
            key=(record.key or b"").decode(errors="replace"),
            event_id=event_id,
            event_type=event_type,
            value=record.value or b"",
            headers=headers,
        )
        row = await conn.fetchrow(
            "UPDATE dead_letters SET replayed_at = now() WHERE id = $1 RETURNING replayed_at",
            letter_id,
        )
    assert row is not None
    return {"id": letter_id, "event_id": event_id, "replayed_at": row["replayed_at"]}
