"""Dead letters and parked records: list them, and replay one after the cause is fixed.

A dead letter keeps the record it stands for (key, bytes, headers), so replaying needs
no copy in Kafka (whose retention may have removed it): it forgets that the consumer saw
the event (the dedupe row) and publishes the stored bytes again through the outbox, so
only the consumer that failed handles it again (the others dedupe it). Rows written
before the record was stored (no ``headers``) are read back from Kafka by topic,
partition and offset, as long as Kafka still has them.

A dead letter of the outbox relay (a row that could never be published) is replayed by
handing the same outbox row back to the relay, e.g. after the topic's size limit was
raised. A parked record (its dead letter could not be written) is replayed like a dead
letter, from the bytes in ``parked_records``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.runtime.db import DbConn
from services.runtime.logs import mask_personal_data
from services.runtime.outbox import RELAY_DEAD_LETTER_CONSUMER, append_raw, outbox_channel
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


async def list_parked(pool: asyncpg.Pool, limit: int = 200) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, consumer, topic, partition, "offset", key, error, parked_at, resolved_at'
        " FROM parked_records ORDER BY id DESC LIMIT $1",
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
    if letter["consumer"] == RELAY_DEAD_LETTER_CONSUMER and letter["outbox_id"] is not None:
        return await _retry_outbox_row(pool, schema, letter)
    if letter["headers"] is not None:  # the record is stored with its dead letter
        key = letter["key"] or ""
        value = bytes(letter["value"] or b"")
        headers: dict[str, str] = json.loads(letter["headers"])
    elif letter["partition"] is not None and letter["offset"] is not None:
        record = await fetch_record(
            bootstrap,
            letter["topic"],
            letter["partition"],
            letter["offset"],
            client_options=client_options,
        )
        key = (record.key or b"").decode(errors="replace")
        value = record.value or b""
        headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
    else:
        raise ReplayError("the dead letter keeps no record to replay")
    async with pool.acquire() as conn, conn.transaction():
        event_id = await _republish(
            conn, schema, letter["consumer"], letter["topic"], key, value, headers
        )
        row = await conn.fetchrow(
            "UPDATE dead_letters SET replayed_at = now() WHERE id = $1 AND replayed_at IS NULL"
            " RETURNING replayed_at",
            letter_id,
        )
        if row is None:
            raise ReplayError("already replayed")
    return {"id": letter_id, "event_id": event_id, "replayed_at": row["replayed_at"]}


async def replay_parked(pool: asyncpg.Pool, schema: str, parked_id: int) -> dict[str, Any]:
    """Hand a parked record back to its consumer, from the bytes kept when it was parked."""
    async with pool.acquire() as conn, conn.transaction():
        parked = await conn.fetchrow(
            "SELECT * FROM parked_records WHERE id = $1 FOR UPDATE", parked_id
        )
        if parked is None:
            raise LookupError(parked_id)
        if parked["resolved_at"] is not None:
            raise ReplayError("already replayed")
        event_id = await _republish(
            conn,
            schema,
            parked["consumer"],
            parked["topic"],
            parked["key"] or "",
            bytes(parked["value"] or b""),
            json.loads(parked["headers"]),
        )
        resolved_at = await conn.fetchval(
            "UPDATE parked_records SET resolved_at = now() WHERE id = $1 RETURNING resolved_at",
            parked_id,
        )
    return {"id": parked_id, "event_id": event_id, "replayed_at": resolved_at}


async def _republish(
    conn: DbConn,
    schema: str,
    consumer: str,
    topic: str,
    key: str,
    value: bytes,
    headers: dict[str, str],
) -> str:
    """Forget that ``consumer`` saw the event and publish its bytes again (outbox)."""
    try:
        envelope = json.loads(value or b"{}")
        event_id = str(envelope["event_id"])
        event_type = str(envelope.get("event_type", "replay"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReplayError("the record is not an event envelope; fix it at its producer") from exc
    try:
        await conn.execute(
            "DELETE FROM processed_events WHERE consumer = $1 AND event_id = $2::uuid",
            consumer,
            event_id,
        )
    except asyncpg.DataError as exc:
        raise ReplayError("the record's event_id is not a UUID") from exc
    await append_raw(
        conn,
        schema,
        topic=topic,
        key=key,
        event_id=event_id,
        event_type=event_type,
        value=value,
        headers={k: v for k, v in headers.items() if not k.startswith("dlq.")},
    )
    return event_id


async def _retry_outbox_row(
    pool: asyncpg.Pool, schema: str, letter: asyncpg.Record
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE outbox SET failed_at = NULL, error = NULL WHERE id = $1"
            " AND failed_at IS NOT NULL RETURNING event_id",
            letter["outbox_id"],
        )
        if row is None:
            raise ReplayError("the outbox row is gone or no longer failed")
        replayed_at = await conn.fetchval(
            "UPDATE dead_letters SET replayed_at = now() WHERE id = $1 RETURNING replayed_at",
            letter["id"],
        )
        await conn.execute("SELECT pg_notify($1, '')", outbox_channel(schema))
    return {"id": letter["id"], "event_id": str(row["event_id"]), "replayed_at": replayed_at}
