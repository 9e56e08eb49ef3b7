"""A poll's offsets are committed while the next poll is handled: one commit at a time,
in order; losing partitions to a rebalance is only logged, any other failure stops the
consumer at its next poll as before."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from services.runtime.consumer import ConsumerConfig, IdempotentConsumer

TP = TopicPartition("t.dossier.intake", 0)


class Broker:
    """Stands in for the consumer's group coordinator: commits wait until released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.done: list[int] = []
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.started.append(offsets[TP])
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.done.append(offsets[TP])


def consumer(broker: Broker) -> IdempotentConsumer:
    config = ConsumerConfig(
        name="routing", topics=[TP.topic], handlers={}, schema="s", bootstrap_servers="x"
    )
    made = IdempotentConsumer(config, pool=None)  # type: ignore[arg-type]
    made._consumer = broker
    return made


async def test_the_next_poll_does_not_wait_for_the_commit_but_commits_stay_in_order() -> None:
    broker = Broker()
    c = consumer(broker)
    await c._commit_later({TP: 10})  # returns with the commit still in flight
    await asyncio.sleep(0)
    assert broker.started == [10] and broker.done == []
    second = asyncio.create_task(c._commit_later({TP: 20}))
    await asyncio.sleep(0.01)
    assert broker.started == [10] and not second.done()  # waits for the first
    broker.release.set()
    await second
    assert c._committing is not None
    await c._committing
    assert broker.done == [10, 20]


async def test_a_rebalance_is_logged_any_other_failure_surfaces_at_the_next_poll() -> None:
    broker = Broker()
    broker.release.set()
    c = consumer(broker)
    broker.fail_with = CommitFailedError("rebalanced")
    await c._commit_later({TP: 10})
    await c._commit_later({TP: 11})  # the rebalance did not stop it
    broker.fail_with = KafkaConnectionError("broker gone")
    await asyncio.sleep(0.01)
    with pytest.raises(KafkaConnectionError):
        await c._commit_later({TP: 12})


def every(broker: Broker, interval_ms: int) -> IdempotentConsumer:
    made = consumer(broker)
    made.config.commit_interval_ms = interval_ms
    return made


async def test_polls_within_the_interval_share_one_commit_of_their_latest_offsets() -> None:
    broker = Broker()
    broker.release.set()
    other = TopicPartition(TP.topic, 1)
    c = every(broker, 200)
    c._committed_at = time.monotonic()  # a commit has just gone out
    c._uncommitted.update({TP: 10})
    await c._commit_if_due()
    c._uncommitted.update({TP: 20, other: 5})
    await c._commit_if_due()
    assert broker.started == []  # still within the interval
    c._committed_at -= 0.2
    await c._commit_if_due()
    assert c._committing is not None
    await c._committing
    assert broker.started == [20] and c._uncommitted == {}


async def test_without_an_interval_every_poll_is_committed() -> None:
    broker = Broker()
    broker.release.set()
    c = every(broker, 0)
    for offset in (10, 11):
        c._uncommitted.update({TP: offset})
        await c._commit_if_due()
    assert c._committing is not None
    await c._committing
    assert broker.done == [10, 11]


async def test_a_graceful_stop_commits_what_the_interval_held_back() -> None:
    broker = Broker()
    broker.release.set()
    c = every(broker, 60_000)
    c._committed_at = time.monotonic()
    c._uncommitted.update({TP: 30})
    await c._commit_if_due()
    assert broker.started == []
    await c._commit_before_stop()
    assert broker.done == [30] and c._uncommitted == {}
