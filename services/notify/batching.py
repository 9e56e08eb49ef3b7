"""Group commit for requests that arrive one at a time (the gateways' receipts).

Each caller `submit`s one item and awaits its own answer; what arrived while the previous
batch ran (and `linger` seconds more) goes to `run` together, up to `max_batch`. When a
batch fails, its items are run again one at a time, so one bad item fails only its own
caller (a receipt answered 500 is retried by its gateway) and the others still get
theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`run(items)` returns one result per item, in order."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 200,
        linger: float = 0.002,
        name: str = "batch",
    ) -> None:
        self._run = run
        self._max = max(1, max_batch)
        self._linger = linger
        self._name = name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._pending) < self._max and self._linger > 0:
                await asyncio.sleep(self._linger)
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            if not self._pending:
                self._wake.clear()
            live = [(item, f) for item, f in batch if not f.done()]  # a caller gone: skip
            if live:
                await self._run_safely(live)

    async def _run_safely(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self._name}: {len(results)} results for {len(batch)}")
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            log.warning("%s of %s failed; one by one now", self._name, len(batch), exc_info=True)
        else:
            for (_, future), result in zip(batch, results, strict=False):
                if not future.done():
                    future.set_result(result)
            return
        for item, future in batch:
            try:
                (result,) = await self._run([item])
            except Exception as exc:
                _fail(future, exc)
            else:
                if not future.done():
                    future.set_result(result)


def _fail(future: asyncio.Future[R], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
