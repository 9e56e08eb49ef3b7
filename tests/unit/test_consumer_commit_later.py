"""A poll's offsets are committed while the next poll is handled: one commit at a time,
in order; losing partitions to a rebalance is only logged, any other failure stops the
consumer at its next poll as before."""

from __future__ import annotations

import asyncio

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
