"""Shed load at the door: refuse a new request at once (503 with ``Retry-After``) while
the oldest request of the same kind in flight has waited longer than the service promises.

A bounded queue behind the handler only sheds when the writer is the bottleneck. When the
process's CPU is (parsing, validating, the event loop itself), requests pile up before
they reach any queue and every one of them waits seconds. Their age is the signal that
works for both (CoDel's idea): while the oldest guarded request in flight is younger than
``max_wait_seconds`` everything is taken; once it is older, new ones are refused until the
backlog drains. Plain ASGI, outermost, so a refusal costs no parsing, no span and no
database round trip. A refused request stored nothing: the client retries after the delay
(a submission with the same ``Idempotency-Key``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from services.runtime.problems import problem_bytes, send_problem

TITLE = "Hệ thống đang quá tải, vui lòng gửi lại sau"
SHED = Counter("http_requests_shed_total", "Requests refused at the door (503) under overload.")


def overloaded_body(retry_after: int) -> bytes:
    return problem_bytes(
        503,
        TITLE,
        "Too many requests are waiting; nothing was stored. Retry after"
        f" {retry_after} s (a submission with the same Idempotency-Key).",
    )


class AgeShedder:
    """Refuse guarded requests while the oldest guarded one in flight is too old."""

    def __init__(
        self,
        app: ASGIApp,
        guarded: Callable[[str, str], bool],
        max_wait_seconds: float,
        retry_after_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
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

    @property
    def oldest_wait(self) -> float:
        started = next(iter(self._in_flight.values()), None)
        return 0.0 if started is None else self._clock() - started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.oldest_wait > self._max_wait:
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
