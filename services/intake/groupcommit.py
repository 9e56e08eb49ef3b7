"""Group commit: one writer per process stores the submissions that arrive together in one
transaction, behind a bounded queue that sheds load instead of letting it pile up.

A request joins the queue only after its pure checks passed, then awaits its answer,
which the writer gives after the batch's commit (never a 201 before it). Beyond the
queue's capacity, or when the queue ahead would take the writer longer than the promised
wait to store (its length over the rate the writer has been storing at), a request is
refused at once (503 with ``Retry-After``). An outage of
PostgreSQL answers the batch 503; an error caused by one submission's data splits the
batch in halves until that submission is alone, so the others still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.runtime import shedding
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

# PostgreSQL is unreachable, refuses connections or is shutting down: answer 503.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # includes TimeoutError: no answer in time
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
ATTEMPTS = 3
OUTAGE_RETRY_AFTER = 5  # seconds: PostgreSQL restarts or fails over in about that time

BATCH_SIZE = Histogram(
    "intake_submit_batch_size",
    "Submissions stored per group-commit transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
QUEUE_DEPTH = Gauge("intake_submit_queue_depth", "Submissions waiting for the writer.")
SHED = Counter(
    "intake_submissions_shed_total",
    "Submissions answered 503 (reason: overload, unavailable).",
    ["reason"],
)


class ServiceUnavailable(ProblemError):
    """503 with ``Retry-After``: the client should come back, nothing was stored."""

    def __init__(self, title: str, detail: str, retry_after: int) -> None:
        super().__init__(503, title, detail)
        self.retry_after = retry_after


def overloaded(retry_after: int) -> ServiceUnavailable:
    return ServiceUnavailable(
        shedding.TITLE,
        "Too many submissions are waiting; nothing was stored. Retry after the given delay"
        " with the same Idempotency-Key.",
        retry_after,
    )


def unavailable(retry_after: int = OUTAGE_RETRY_AFTER) -> ServiceUnavailable:
    return ServiceUnavailable(
        "Hệ thống tạm thời gián đoạn, vui lòng gửi lại sau",
        "The database cannot be reached; retry with the same Idempotency-Key, which answers"
        " the original receipt if the dossier was received.",
        retry_after,
    )


class RetryBatch(Exception):
    """Raised by a store function when the batch must simply be tried again."""


# Two transactions collided (deadlock, serialisation): the same batch will most likely
# pass when tried again.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.TransactionRollbackError,
    RetryBatch,
)


def refusal_for(exc: Exception) -> Exception:
    """What a submission alone in its batch is answered when the database refused it."""
    if isinstance(exc, asyncpg.DataError):
        return ProblemError(
            422,
            "Dữ liệu không hợp lệ",
            "The database refused a value of this dossier (for example a NUL character);"
            " nothing was received.",
        )
    return exc  # a defect: the caller's generic handler logs it and answers 500


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    answer: asyncio.Future[R]
    since: float


Store = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]


class GroupCommit(Generic[T, R]):
    """A bounded queue and the single task that stores its items in batches.

    ``store(items)`` runs one transaction for the batch and returns, per item, its answer
    or the exception to raise in its request; it raises when the transaction failed.
    """

    def __init__(
        self,
        store: Store[T, R],
        *,
        window_seconds: float,
        max_batch: int,
        capacity: int,
        timeout_seconds: float,
        retry_after_seconds: int = 1,
        max_wait_seconds: float | None = None,
    ) -> None:
        self._store = store
        self._window = window_seconds
        self._max_batch = max_batch
        self._capacity = capacity
        self._timeout = timeout_seconds
        self._retry_after = retry_after_seconds
        self._max_wait = max_wait_seconds
        # Submissions stored per second of the writer's full batches, smoothed; None until
        # a full batch was written (a small batch's rate says nothing about a burst's).
        self._drain_rate: float | None = None
        self._queue: deque[_Waiting[T, R]] = deque()
        self._arrived = asyncio.Event()
        self._filled = asyncio.Event()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def predicted_wait(self) -> float:
        """How long a newcomer would wait for the queue ahead of it to be stored, at the
        rate the writer has been storing. Less than a full batch ahead is never a backlog:
        it goes in the next transaction."""
        if self._drain_rate is None or len(self._queue) < self._max_batch:
            return 0.0
        return len(self._queue) / self._drain_rate

    async def submit(self, item: T) -> R:
        """The item's answer once its batch committed; raises what the item is refused
        with (503 at once when the queue is full)."""
        # The queue's age cannot see a burst: a thousand requests arriving in the same
        # instant are all young, yet the last of them would wait seconds for the writer.
        if len(self._queue) >= self._capacity or (
            self._max_wait is not None and self.predicted_wait > self._max_wait
        ):
            SHED.labels("overload").inc()
            raise overloaded(self._retry_after)
        loop = asyncio.get_running_loop()
        waiting = _Waiting[T, R](item, loop.create_future(), loop.time())
        self._queue.append(waiting)
        QUEUE_DEPTH.set(len(self._queue))
        self._arrived.set()
        if len(self._queue) >= self._max_batch:
            self._filled.set()
        return await waiting.answer

    async def run(self) -> None:
        """Write batches until cancelled; whatever is left then is answered 503."""
        loop = asyncio.get_running_loop()
        batch: list[_Waiting[T, R]] = []
        try:
            while True:
                while not self._queue:
                    self._arrived.clear()
                    await self._arrived.wait()
                # Wait for company until the oldest has waited a window (what arrived while
                # the previous batch was written has waited already) or a batch is full.
                remaining = self._queue[0].since + self._window - loop.time()
                if remaining > 0 and len(self._queue) < self._max_batch:
                    self._filled.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._filled.wait(), remaining)
                take = min(self._max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(take)]
                QUEUE_DEPTH.set(len(self._queue))
                # A request that gave up (client gone) was promised nothing: skip it.
                live = [w for w in batch if not w.answer.done()]
                if live:
                    BATCH_SIZE.observe(len(live))
                    await self._write(live)
                batch = []
        finally:
            left = batch + list(self._queue)
            self._queue.clear()
            self._fail(left, unavailable)

    async def _write(self, batch: list[_Waiting[T, R]]) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                began = loop.time()
                async with asyncio.timeout(self._timeout):
                    results = await self._store([w.item for w in batch])
                if len(batch) >= self._max_batch:
                    self._note_rate(len(batch), loop.time() - began)
            except TRANSIENT_ERRORS as exc:
                if attempt < ATTEMPTS:
                    log.info("submission batch of %d retried: %r", len(batch), exc)
                    continue
                log.warning("submission batch of %d failed %d times: %r", len(batch), attempt, exc)
                self._fail(batch, unavailable)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("submission batch of %d not stored: %r", len(batch), exc)
                self._fail(batch, unavailable)
            except Exception as exc:
                if len(batch) > 1:
                    # One submission's data, most likely: halve until it is alone.
                    log.info("submission batch of %d split after %r", len(batch), exc)
                    half = len(batch) // 2
                    await self._write(batch[:half])
                    await self._write(batch[half:])
                else:
                    log.warning("submission refused by the database: %r", exc)
                    refusal = refusal_for(exc)
                    self._fail(batch, lambda: refusal)  # noqa: B023 - called right here
            else:
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.answer.done():
                        continue
                    if isinstance(result, Exception):
                        waiting.answer.set_exception(result)
                    else:
                        waiting.answer.set_result(result)
            return

    def _note_rate(self, stored: int, seconds: float) -> None:
        rate = stored / max(seconds, 1e-4)
        previous = self._drain_rate
        self._drain_rate = rate if previous is None else 0.7 * previous + 0.3 * rate

    @staticmethod
    def _fail(batch: list[_Waiting[T, R]], error: Callable[[], Exception]) -> None:
        """Answer each waiting request with its own exception (one instance per request:
        a shared one would collect every request's traceback)."""
        for waiting in batch:
            if not waiting.answer.done():
                refusal = error()
                if isinstance(refusal, ServiceUnavailable):
                    SHED.labels("unavailable").inc()
                waiting.answer.set_exception(refusal)
