"""Weighted choice among SMS gateways with a per-gateway circuit breaker.

A gateway that keeps failing or answering slowly is skipped for a while, so one bad
gateway does not add its timeout to every notice. Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from services.notify.domain.lifecycle import UniformRandom
from services.notify.providers.base import ProviderResult, SmsProvider


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 3  # consecutive failures (or slow answers) that open it
    open_seconds: float = 30.0  # how long an open breaker skips the gateway
    slow_seconds: float = 5.0  # an answer slower than this counts as a failure


@dataclass(slots=True)
class BreakerState:
    """Mutable, but each transition is a plain function of (state, outcome, now)."""

    consecutive_failures: int = 0
    open_until: float | None = None

    def is_open(self, now: float) -> bool:
        return self.open_until is not None and now < self.open_until

    def record(self, ok: bool, now: float, settings: BreakerSettings) -> None:
        if ok:
            self.consecutive_failures, self.open_until = 0, None
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= settings.failure_threshold:
            # Half-open after the pause: one more failure re-opens it at once.
            self.open_until = now + settings.open_seconds
            self.consecutive_failures = settings.failure_threshold - 1


@dataclass(frozen=True, slots=True)
class WeightedProvider:
    provider: SmsProvider
    weight: float
    # Requests in flight to this gateway at most (its connection pool); None: no bound.
    # Waiting for a slot is not counted in the gateway's answer time.
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    result: ProviderResult
    seconds: float


@dataclass(frozen=True, slots=True)
class FailoverResult:
    result: ProviderResult  # the accepting answer, or the last failure
    provider: str | None  # who accepted; None when nobody did
    attempts: tuple[Attempt, ...] = field(default=())


def weighted_order(weights: Mapping[str, float], rng: UniformRandom) -> list[str]:
    """A random order where heavier names tend to come first (Efraimidis-Spirakis);
    a weight of 0 disables a provider."""
    keys = {name: rng.random() ** (1.0 / w) for name, w in weights.items() if w > 0}
    return sorted(keys, key=lambda name: keys[name], reverse=True)


class WeightedFailover:
    def __init__(
        self,
        providers: Sequence[WeightedProvider],
        settings: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: UniformRandom | None = None,
    ) -> None:
        names = [p.provider.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError("provider names must be unique")
        if not providers:
            raise ValueError("at least one provider is required")
        self._providers = {p.provider.name: p for p in providers}
        self._settings = settings or BreakerSettings()
        self._clock = clock
        self._rng: UniformRandom = rng or random.Random()
        self._breakers = {name: BreakerState() for name in names}
        self._gates = {
            p.provider.name: asyncio.Semaphore(p.concurrency)
            for p in providers
            if p.concurrency is not None
        }

    def _gate(self, name: str) -> AbstractAsyncContextManager[object]:
        gate = self._gates.get(name)
        return gate if gate is not None else contextlib.nullcontext()

    def breaker(self, name: str) -> BreakerState:
        return self._breakers[name]

    def order(self, now: float) -> list[str]:
        """Providers to try, best first; open breakers only as a last resort."""
        ranked = weighted_order({n: p.weight for n, p in self._providers.items()}, self._rng)
        closed = [n for n in ranked if not self._breakers[n].is_open(now)]
        # Sending late through a doubtful gateway beats not sending at all.
        return closed or ranked

    async def send(
        self,
        request_id: str,
        phone: str,
        text: str,
        template_ids: Mapping[str, str] | None = None,
        first: str | None = None,
    ) -> FailoverResult:
        """Try providers in order until one accepts.

        The same request id goes to every gateway; each dedupes only its own, so a
        gateway that timed out but did send can cause one duplicate SMS. ``first``
        puts one provider at the head of the order: a message re-sent after a crash goes
        back to the gateway that may already hold its request id.
        """
        attempts: list[Attempt] = []
        last = ProviderResult(accepted=False, retryable=True, error="no provider available")
        order = self.order(self._clock())
        if first is not None and first in self._providers:
            order = [first, *(n for n in order if n != first)]
        for name in order:
            async with self._gate(name):
                started = self._clock()
                result = await self._providers[name].provider.send(
                    request_id, phone, text, (template_ids or {}).get(name)
                )
                finished = self._clock()
            seconds = finished - started
            attempts.append(Attempt(name, result, seconds))
            healthy = (result.accepted or result.recipient_rejected) and (
                seconds <= self._settings.slow_seconds
            )
            self._breakers[name].record(healthy, finished, self._settings)
            last = result
            if result.accepted:
                return FailoverResult(result, name, tuple(attempts))
            if result.recipient_rejected:
                break  # the number is the problem, not the gateway
            if result.ambiguous:
                # It may have been sent: retry later at this gateway, never elsewhere now.
                return FailoverResult(result, None, tuple(attempts))
        return FailoverResult(last, None, tuple(attempts))
