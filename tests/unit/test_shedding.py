"""Load shedding at the door: refused at once while the oldest guarded request in flight
has waited too long, taken again once the backlog drained."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from services.intake.app import SUBMISSION_PATHS, build_app, is_submission
from services.runtime.shedding import TITLE, AgeShedder, LoopLag


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class HeldApp:
    """Answers 200 once released; counts the requests it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(app: Any, method: str = "POST", path: str = "/v1/dossiers") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await app(scope, receive, send)
    return sent


def status_of(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def shedder(inner: HeldApp, clock: Clock) -> AgeShedder:
    return AgeShedder(
        inner, is_submission, max_wait_seconds=0.5, retry_after_seconds=2, clock=clock
    )


async def test_a_backlog_older_than_the_promise_is_refused_at_once_and_drains() -> None:
    inner, clock = HeldApp(), Clock()
    app = shedder(inner, clock)
    first = asyncio.create_task(call(app))
    await asyncio.sleep(0)
    clock.now += 0.6  # the first submission has waited longer than 0.5 s

    refused = await call(app)
    assert status_of(refused) == 503
    headers = dict(refused[0]["headers"])
    assert headers[b"retry-after"] == b"2"
    assert headers[b"content-type"] == b"application/problem+json"
    problem = json.loads(refused[1]["body"])
    assert problem["title"] == TITLE and problem["status"] == 503
    assert inner.seen == 1  # the refused one never reached the application

    inner.release.set()
    assert status_of(await first) == 200
    assert status_of(await call(app)) == 200  # nothing old in flight any more
    assert inner.seen == 2


async def test_a_young_backlog_is_taken_whatever_its_size() -> None:
    inner, clock = HeldApp(), Clock()
    app = shedder(inner, clock)
    waiting = [asyncio.create_task(call(app)) for _ in range(200)]
    await asyncio.sleep(0)
    clock.now += 0.4
    late = asyncio.create_task(call(app))
    await asyncio.sleep(0)
    inner.release.set()
    answers = await asyncio.gather(*waiting, late)
    assert [status_of(a) for a in answers] == [200] * 201


async def test_other_requests_are_never_shed() -> None:
    inner, clock = HeldApp(), Clock()
    app = shedder(inner, clock)
    first = asyncio.create_task(call(app))
    await asyncio.sleep(0)
    clock.now += 5
    inner.release.set()
    for method, path in (("GET", "/v1/dossiers"), ("POST", "/v1/lookup"), ("GET", "/readyz")):
        assert status_of(await call(app, method, path)) == 200
    await first


class Lag:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


async def test_a_late_event_loop_sheds_even_with_nothing_old_in_flight() -> None:
    # The backlog sits in the sockets: every request read is young, but read late.
    inner, clock, lag = HeldApp(), Clock(), Lag()
    inner.release.set()
    app = AgeShedder(
        inner,
        is_submission,
        0.5,
        retry_after_seconds=2,
        clock=clock,
        max_lag_seconds=0.3,
        loop_lag=lag,
    )
    assert status_of(await call(app)) == 200
    lag.seconds = 0.4
    refused = await call(app)
    assert status_of(refused) == 503
    assert dict(refused[0]["headers"])[b"retry-after"] == b"2"
    assert status_of(await call(app, "GET", "/v1/dossiers")) == 200  # only submissions
    assert inner.seen == 2
    lag.seconds = 0.05  # caught up: taken again
    assert status_of(await call(app)) == 200


async def test_loop_lag_reads_a_stuck_loop_at_once_and_recovers() -> None:
    clock = Clock()
    lag = LoopLag(tick_seconds=0.001, clock=clock)
    assert lag() == 0.0  # starts its probe
    await asyncio.sleep(0)  # the probe is now asleep, due 1 ms after clock.now
    clock.now += 1.0  # the loop spends a second without coming back
    assert lag() >= 0.99  # counted while the probe still waits
    for _ in range(200):  # once the loop runs again, a probe on time reads no lag
        await asyncio.sleep(0.005)
        if lag() == 0.0:
            break
    assert lag() == 0.0


def test_loop_lag_starts_afresh_on_another_event_loop() -> None:
    clock = Clock()
    lag = LoopLag(tick_seconds=0.001, clock=clock)

    async def stuck() -> float:
        lag()
        await asyncio.sleep(0)
        clock.now += 5.0  # its loop then stops with the probe still waiting
        return lag()

    assert asyncio.run(stuck()) >= 4.99

    async def later() -> float:
        return lag()

    assert asyncio.run(later()) == 0.0  # a new loop: no reading left from the old one


def test_intake_guards_its_submission_routes_outermost() -> None:
    app = build_app()
    posts = {path for path, item in app.openapi()["paths"].items() if "post" in item}
    assert posts >= SUBMISSION_PATHS
    assert app.user_middleware[0].cls is AgeShedder  # the last added runs first
