"""WeightedFailover with in-memory providers and a hand-driven clock."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from services.notify.providers.base import ProviderResult
from services.notify.providers.failover import (
    BreakerSettings,
    WeightedFailover,
    WeightedProvider,
    weighted_order,
)

OK = ProviderResult(accepted=True, provider_message_id="m")
DOWN = ProviderResult(accepted=False, retryable=True, error="http 503")
BAD_NUMBER = ProviderResult(accepted=False, error="bad phone", recipient_rejected=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Stub:
    def __init__(self, name: str, clock: Clock, result: ProviderResult, takes: float = 0.1):
        self.name = name
        self.clock = clock
        self.result = result
        self.takes = takes
        self.calls: list[tuple[str, str | None]] = []

    async def send(
        self, request_id: str, phone: str, text: str, template_id: str | None
    ) -> ProviderResult:
        self.calls.append((request_id, template_id))
        self.clock.now += self.takes
        return self.result


class Fixed:
    def random(self) -> float:
        return 0.5


SETTINGS = BreakerSettings(failure_threshold=2, open_seconds=60, slow_seconds=2)


def make(
    a: ProviderResult, b: ProviderResult, a_takes: float = 0.1
) -> tuple[WeightedFailover, Stub, Stub, Clock]:
    clock = Clock()
    first, second = Stub("a", clock, a, a_takes), Stub("b", clock, b)
    failover = WeightedFailover(
        [WeightedProvider(first, 5), WeightedProvider(second, 1)],
        settings=SETTINGS,
        clock=clock,
        rng=Fixed(),
    )
    return failover, first, second, clock


async def test_first_accepting_provider_wins_with_its_template_id() -> None:
    failover, a, b, _ = make(OK, OK)
    outcome = await failover.send("r1", "0912345678", "x", {"a": "TA", "b": "TB"})
    assert outcome.provider == "a"
    assert a.calls == [("r1", "TA")] and b.calls == []


async def test_breaker_opens_after_failures_and_closes_after_the_pause() -> None:
    failover, a, _, clock = make(DOWN, OK)
    for n in range(2):
        outcome = await failover.send(f"r{n}", "0912345678", "x")
        assert outcome.provider == "b"
        assert [x.provider for x in outcome.attempts] == ["a", "b"]
    assert failover.breaker("a").is_open(clock.now)
    skipped = await failover.send("r3", "0912345678", "x")
    assert [x.provider for x in skipped.attempts] == ["b"]
    clock.now += 61  # half-open: tried again, and one more failure re-opens it
    retried = await failover.send("r4", "0912345678", "x")
    assert [x.provider for x in retried.attempts] == ["a", "b"]
    assert failover.breaker("a").is_open(clock.now)
    a.result = OK
    clock.now += 61
    assert (await failover.send("r5", "0912345678", "x")).provider == "a"
    assert not failover.breaker("a").is_open(clock.now)
    assert failover.breaker("a").consecutive_failures == 0


async def test_slow_answers_open_the_breaker_even_when_accepted() -> None:
    failover, _, _, clock = make(OK, OK, a_takes=3.0)
    for n in range(2):
        assert (await failover.send(f"s{n}", "0912345678", "x")).provider == "a"
    assert failover.breaker("a").is_open(clock.now)
    assert (await failover.send("s3", "0912345678", "x")).provider == "b"


async def test_recipient_errors_stop_failover_and_spare_the_breaker() -> None:
    failover, _, b, clock = make(BAD_NUMBER, OK)
    for n in range(3):
        outcome = await failover.send(f"p{n}", "123", "x")
        assert outcome.provider is None and outcome.result.recipient_rejected
    assert b.calls == []
    assert not failover.breaker("a").is_open(clock.now)


async def test_all_open_still_tries_as_last_resort() -> None:
    failover, a, b, _ = make(DOWN, DOWN)
    for n in range(2):
        await failover.send(f"d{n}", "0912345678", "x")
    outcome = await failover.send("d3", "0912345678", "x")
    assert outcome.provider is None
    assert [x.provider for x in outcome.attempts] == ["a", "b"]
    assert outcome.result == DOWN
    assert len(a.calls) == len(b.calls) == 3


def test_weighted_order_follows_weights() -> None:
    rng = random.Random(42)
    firsts = Counter(weighted_order({"a": 3, "b": 1, "off": 0}, rng)[0] for _ in range(4000))
    assert "off" not in firsts
    assert 0.70 < firsts["a"] / 4000 < 0.80  # expected 3/4


def test_names_must_be_unique() -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="unique"):
        WeightedFailover(
            [WeightedProvider(Stub("a", clock, OK), 1), WeightedProvider(Stub("a", clock, OK), 1)]
        )
