"""In-process token buckets (citizen look-ups, operator logins): a burst, then a steady refill."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    capacity: int
    refill_per_second: float
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        tokens, last = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - last) * self.refill_per_second)
        if tokens >= 1.0:
            self._remember(key, (tokens - 1.0, now))
            return 0.0
        self._remember(key, (tokens, now))
        return (1.0 - tokens) / self.refill_per_second

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0.0: it has one now), spending nothing."""
        tokens, last = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - last) * self.refill_per_second)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.refill_per_second

    def _remember(self, key: str, value: tuple[float, float]) -> None:
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only forgives, never blocks
        self._buckets[key] = value


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
