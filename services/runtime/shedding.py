"""Shed load at the door: refuse a new request at once (503 with ``Retry-After``) while
the oldest request of the same kind in flight has waited longer than the service promises.

A bounded queue behind the handler only sheds when the writer is the bottleneck. When the
process's CPU is (parsing, validating, the event loop itself), requests pile up before
they reach any queue and every one of them waits seconds. Their age is the signal that
works for both (CoDel's idea): while the oldest guarded request in flight is younger than
``max_wait_seconds`` everything is taken; once it is older, new ones are refused until the
backlog drains.

When the process reads requests faster than anything behind it, the backlog forms before
the first byte is read: in the sockets of a saturated machine, where no request's age can
be seen. The event loop's own lateness (``LoopLag``) measures that wait: a request made
readable now is read about that late. So a loop running later than ``max_lag_seconds``
sheds too. Plain ASGI, outermost, so a refusal costs no parsing, no span and no
database round trip. A refused request stored nothing: the client retries after the delay
(a submission with the same ``Idempotency-Key``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from services.runtime.problems import problem_bytes, send_problem

TITLE = "Hệ thống đang quá tải, vui lòng gửi lại sau"
SHED = Counter("http_requests_shed_total", "Requests refused at the door (503) under overload.")
LAG = Gauge("event_loop_lag_seconds", "How late the event loop ran its last lag probe.")


def overloaded_body(retry_after: int) -> bytes:
    return problem_bytes(
        503,
        TITLE,
        "Too many requests are waiting; nothing was stored. Retry after"
        f" {retry_after} s (a submission with the same Idempotency-Key).",
    )


class LoopLag:
    """How late the running event loop is: a probe sleeps ``tick_seconds`` and notes how
    much later it woke. A probe still waiting counts while it waits, so a loop stuck in
    one long iteration reads as late at once, not only after it comes back."""

    def __init__(self, tick_seconds: float = 0.05, clock: Callable[[], float] = time.monotonic):
        self._tick = tick_seconds
        self._clock = clock
        self._last = 0.0
        self._due: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> float:
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe.done() or self._loop is not loop:
            # First call, or another loop than the probe's (an app served again by a new
            # loop, as test clients do): a probe of a stopped loop would read ever later.
            self._loop, self._due, self._last = loop, None, 0.0
            self._probe = loop.create_task(self._run())
        pending = 0.0 if self._due is None else self._clock() - self._due
        return max(self._last, pending)

    async def _run(self) -> None:
        while True:
            self._due = self._clock() + self._tick
            await asyncio.sleep(self._tick)
            self._last = max(0.0, self._clock() - self._due)
            LAG.set(self._last)


class AgeShedder:
    """Refuse guarded requests while the oldest guarded one in flight is too old, or the
    event loop runs too late (``max_lag_seconds``; ``None``: age alone)."""

    def __init__(
        self,
        app: ASGIApp,
        guarded: Callable[[str, str], bool],
        max_wait_seconds: float,
        retry_after_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
        max_lag_seconds: float | None = None,
        loop_lag: Callable[[], float] | None = None,
    ) -> None:
        self.app = app
        self._guarded = guarded
        self._max_wait = max_wait_seconds
        self._retry_after = retry_after_seconds
        self._clock = clock
        # In start order (dicts keep insertion order): the first is the oldest.
        self._in_flight: dict[int, float] = {}
        self._ids = itertools.count()
        self._body = overloaded_body(retry_after_seconds)
        self._max_lag = max_lag_seconds
        self._lag = loop_lag or LoopLag(clock=clock)

    @property
    def oldest_wait(self) -> float:
        started = next(iter(self._in_flight.values()), None)
        return 0.0 if started is None else self._clock() - started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.oldest_wait > self._max_wait or (
            self._max_lag is not None and self._lag() > self._max_lag
        ):
            SHED.inc()
            await self._refuse(send)
            return
        ticket = next(self._ids)
        self._in_flight[ticket] = self._clock()
        try:
            await self.app(scope, receive, send)
        finally:
            del self._in_flight[ticket]

    async def _refuse(self, send: Send) -> None:
        retry_after = ((b"retry-after", str(self._retry_after).encode()),)
        await send_problem(send, 503, self._body, retry_after)
