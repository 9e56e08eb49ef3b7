"""The group-commit writer with an in-memory store: batches, shedding, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import date

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.intake.domain.batch import counts, key_leaders, numbers, replays
from services.intake.entrypoints.unavailable import install_unavailable_handlers
from services.intake.groupcommit import GroupCommit, RetryBatch, ServiceUnavailable
from services.runtime.problems import ProblemError, install_problem_handlers

D = date(2026, 11, 22)


def test_the_first_submission_with_a_key_speaks_for_it() -> None:
    keys = [("p", "a"), None, ("p", "b"), ("p", "a"), None, ("q", "a"), ("p", "b")]
    assert key_leaders(keys) == [0, 1, 2, 0, 4, 5, 2]


def test_numbers_are_consecutive_per_agency_and_day_in_batch_order() -> None:
    groups = [("A", D), ("B", D), ("A", D), ("A", D), ("B", D)]
    assert counts(groups) == {("A", D): 3, ("B", D): 2}
    # After adding 3 and 2 the sequences hold 12 and 2: A had 9, B was new.
    assert numbers(groups, {("A", D): 12, ("B", D): 2}) == [10, 1, 11, 12, 2]


def test_a_retry_replays_only_with_the_same_body() -> None:
    assert replays("h1", "h1")
    assert not replays("h2", "h1")


class Store:
    """Answers each item with itself doubled; fails as told."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_with: BaseException | None = None
        self.bad: set[int] = set()
        self.gate: asyncio.Event | None = None
        self.transient_left = 0
        self.delay = 0.0

    async def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if self.transient_left:
            self.transient_left -= 1
            raise RetryBatch("collided")
        if self.bad & set(items):
            raise asyncpg.exceptions.UntranslatableCharacterError("\\u0000 cannot be converted")
        return [i * 2 if i >= 0 else ProblemError(409, "Xung đột") for i in items]


@pytest.fixture
async def store() -> Store:
    return Store()


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[GroupCommit[int, int]]:
    group: GroupCommit[int, int] = GroupCommit(
        store, window_seconds=0.05, max_batch=4, capacity=6, timeout_seconds=2.0
    )
    task = asyncio.create_task(group.run())
    yield group
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_submissions_arriving_together_share_one_batch_and_keep_their_answers(
    writer: GroupCommit[int, int], store: Store
) -> None:
    answers = await asyncio.gather(*(writer.submit(i) for i in (1, 2, 3)))
    assert answers == [2, 4, 6]
    assert store.batches == [[1, 2, 3]]


async def test_a_full_batch_is_written_without_waiting_for_the_window(store: Store) -> None:
    group: GroupCommit[int, int] = GroupCommit(
        store, window_seconds=30, max_batch=4, capacity=100, timeout_seconds=2.0
    )
    task = asyncio.create_task(group.run())
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(group.submit(i) for i in range(1, 9))), timeout=5
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert answers == [2 * i for i in range(1, 9)]
    assert store.batches == [[1, 2, 3, 4], [5, 6, 7, 8]]


async def test_an_answer_that_is_a_refusal_is_raised_in_its_request_only(
    writer: GroupCommit[int, int],
) -> None:
    results = await asyncio.gather(writer.submit(1), writer.submit(-1), return_exceptions=True)
    assert results[0] == 2
    assert isinstance(results[1], ProblemError) and results[1].status == 409


async def test_beyond_its_capacity_the_queue_refuses_at_once_with_503(
    writer: GroupCommit[int, int], store: Store
) -> None:
    store.gate = asyncio.Event()
    first = asyncio.create_task(writer.submit(100))  # taken by the writer, held at the gate
    await asyncio.sleep(0.1)
    queued = [asyncio.create_task(writer.submit(i)) for i in range(6)]
    await asyncio.sleep(0)
    assert writer.waiting == 6
    with pytest.raises(ServiceUnavailable) as refused:
        await writer.submit(7)
    assert refused.value.status == 503 and refused.value.retry_after == 1
    assert refused.value.title == "Hệ thống đang quá tải, vui lòng gửi lại sau"
    store.gate.set()
    assert await first == 200
    assert await asyncio.gather(*queued) == [0, 2, 4, 6, 8, 10]
    assert [7] not in store.batches and all(7 not in b for b in store.batches)


async def _paced_writer(
    store: Store, max_wait_seconds: float
) -> tuple[GroupCommit[int, int], asyncio.Task[None]]:
    """A writer that learnt from one full batch that it stores 40 submissions a second."""
    group: GroupCommit[int, int] = GroupCommit(
        store,
        window_seconds=0.05,
        max_batch=4,
        capacity=100,
        timeout_seconds=5.0,
        max_wait_seconds=max_wait_seconds,
    )
    task = asyncio.create_task(group.run())
    store.delay = 0.1
    assert await asyncio.gather(*(group.submit(i) for i in range(4))) == [0, 2, 4, 6]
    store.delay = 0.0
    return group, task


async def test_a_burst_the_writer_could_not_store_in_time_is_refused_long_before_capacity(
    store: Store,
) -> None:
    writer, task = await _paced_writer(store, max_wait_seconds=0.2)
    try:
        store.gate = asyncio.Event()
        first = asyncio.create_task(writer.submit(100))  # taken by the writer, held
        await asyncio.sleep(0.1)
        queued: list[asyncio.Task[int]] = []
        refused: ServiceUnavailable | None = None
        for i in range(1000, 1100):
            try:
                queued.append(asyncio.create_task(writer.submit(i)))
                await asyncio.sleep(0)
                if queued[-1].done():
                    queued.pop().result()
            except ServiceUnavailable as exc:
                refused = exc
                break
        # At 40/s or less, more than 0.2 s of queue is at most a dozen submissions; the
        # queue itself would have taken a hundred.
        assert refused is not None and refused.status == 503 and refused.retry_after == 1
        assert 4 <= len(queued) <= 12 and writer.predicted_wait > 0.2
        store.gate.set()
        assert await first == 200
        assert await asyncio.gather(*queued) == [2 * i for i in range(1000, 1000 + len(queued))]
        stored = [i for b in store.batches for i in b]
        assert stored.count(1000 + len(queued)) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_less_than_a_full_batch_waiting_is_never_refused_for_the_writers_pace(
    store: Store,
) -> None:
    writer, task = await _paced_writer(store, max_wait_seconds=0.001)
    try:
        store.gate = asyncio.Event()
        first = asyncio.create_task(writer.submit(100))
        await asyncio.sleep(0.1)
        queued = [asyncio.create_task(writer.submit(i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        assert writer.waiting == 3 and writer.predicted_wait == 0.0
        store.gate.set()
        assert await first == 200
        assert await asyncio.gather(*queued) == [2, 4, 6]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_one_submissions_bad_data_fails_alone_and_the_others_are_stored(
    writer: GroupCommit[int, int], store: Store
) -> None:
    store.bad = {3}
    results = await asyncio.gather(
        *(writer.submit(i) for i in (1, 2, 3, 4)), return_exceptions=True
    )
    assert results[:2] == [2, 4] and results[3] == 8
    refused = results[2]
    assert isinstance(refused, ProblemError) and refused.status == 422
    assert refused.title == "Dữ liệu không hợp lệ"
    # The whole batch, then halves, then the bad one alone.
    assert store.batches[0] == [1, 2, 3, 4]
    assert [1, 2] in store.batches and [3] in store.batches and [4] in store.batches


async def test_colliding_transactions_are_tried_again(
    writer: GroupCommit[int, int], store: Store
) -> None:
    store.transient_left = 2
    assert await writer.submit(5) == 10
    assert store.batches == [[5], [5], [5]]


@pytest.mark.parametrize(
    "outage",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        TimeoutError(),
    ],
)
async def test_a_database_outage_answers_every_waiting_request_503_not_500(
    writer: GroupCommit[int, int], store: Store, outage: BaseException
) -> None:
    store.fail_with = outage
    results = await asyncio.gather(*(writer.submit(i) for i in (1, 2)), return_exceptions=True)
    for result in results:
        assert isinstance(result, ServiceUnavailable)
        assert result.status == 503 and result.retry_after >= 1
    assert store.batches == [[1, 2]], "an outage is not retried item by item"


async def test_a_transaction_that_hangs_answers_503_after_the_timeout(store: Store) -> None:
    store.gate = asyncio.Event()  # never opened
    group: GroupCommit[int, int] = GroupCommit(
        store, window_seconds=0, max_batch=4, capacity=4, timeout_seconds=0.2
    )
    task = asyncio.create_task(group.run())
    try:
        with pytest.raises(ServiceUnavailable):
            await asyncio.wait_for(group.submit(1), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_what_waits_when_the_writer_stops_is_answered_503(store: Store) -> None:
    store.gate = asyncio.Event()
    group: GroupCommit[int, int] = GroupCommit(
        store, window_seconds=0, max_batch=1, capacity=4, timeout_seconds=5
    )
    task = asyncio.create_task(group.run())
    waiting = [asyncio.create_task(group.submit(i)) for i in range(3)]
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ServiceUnavailable) for r in results)


async def test_a_lost_database_on_any_route_is_a_503_problem_with_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    install_unavailable_handlers(app)

    @app.get("/reads")
    async def reads() -> None:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    @app.get("/connects")
    async def connects() -> None:
        raise OSError(113, "Connect call failed ('10.0.0.9', 5432)")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/reads", "/connects"):
            answer = await client.get(path)
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) >= 1
            body = answer.json()
            assert body["title"] == "Hệ thống tạm thời gián đoạn, vui lòng gửi lại sau"
            assert "10.0.0.9" not in answer.text, "no internals leak"
