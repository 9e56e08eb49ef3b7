"""The relay fills producer batches itself: one open batch per partition, rows in id
order, a full batch submitted before the next opens; one send span per row however the
rows fall into batches; rows too large for a request go alone to the producer's check."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast
from uuid import uuid4

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from services.runtime import outbox
from services.runtime.outbox import OutboxRelay
from tests.support.tracing import recording_tracer


class Builder:
    """A producer batch that holds three records."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, timestamp: Any, key: bytes, value: bytes, headers: Any) -> Any:
        if len(self.records) == 3:
            return None
        assert dict(headers)["traceparent"]
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class Producer:
    _max_request_size = 2_000

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, list[bytes]]] = []
        self.alone: list[bytes] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> Builder:
        return Builder()

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> Any:
        self.batches.append((topic, partition, [v for _, v in batch.records]))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send(self, topic: str, **record: Any) -> Any:
        raise MessageSizeTooLargeError(f"{len(record['value'])} bytes")


def rows(count: int, keys: list[str], big: int | None = None) -> list[dict[str, Any]]:
    made = []
    for n in range(count):
        body = {"dossier_id": keys[n % len(keys)], "payload": {"n": n}}
        value = json.dumps(body).encode() + (b" " * 3_000 if n == big else b"")
        made.append(
            {
                "id": n + 1,
                "topic": "t.dossier.routing",
                "key": keys[n % len(keys)],
                "event_type": "step.assigned",
                "value": value,
                "headers": json.dumps({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}),
            }
        )
    return made


async def test_rows_fill_batches_per_partition_in_order_with_one_span_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, tracer, exported = recording_tracer("t")
    monkeypatch.setattr(outbox, "tracer", lambda: tracer)
    producer = Producer()
    relay = OutboxRelay(cast("Any", None), "", "s", cast("Any", producer))
    keys = [str(uuid4()) for _ in range(2)]
    batch = rows(15, keys, big=6)

    sent, failed = await relay._send_all(cast("Any", batch))

    assert sorted(sent) == [r["id"] for r in batch if r["id"] != 7]
    assert [(row["id"], "MessageSizeTooLarge" in error) for row, error in failed] == [(7, True)]
    # Each dossier's rows (a key, so a partition) in id order, at most three per batch.
    for key in keys:
        mine = [
            json.loads(v)["payload"]["n"]
            for _, _, vs in producer.batches
            for v in vs
            if json.loads(v)["dossier_id"] == key
        ]
        assert mine == [n for n in range(15) if n != 6 and keys[n % 2] == key]
    assert all(len(vs) <= 3 for _, _, vs in producer.batches)
    assert sum(len(vs) for _, _, vs in producer.batches) == 14
    # One send span per row, a row that found its partition's batch full included; the
    # one too large failed in its own.
    spans = [s for s in exported.get_finished_spans() if s.name == "t.dossier.routing send"]
    assert len(spans) == len(batch)
    assert [s.status.status_code.name for s in spans].count("ERROR") == 1
