"""Per-recipient rate limit as a pure decision over that recipient's recent sends.

Guards citizens against a bug or a replay that would send them the same notice in
a loop; the caller keeps the send times, this module only decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    max_count: int
    per: timedelta


DEFAULT_LIMITS = (RateLimit(3, timedelta(minutes=10)), RateLimit(10, timedelta(days=1)))


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_at: datetime | None = None  # earliest time every limit would allow a send


def rate_limit_decision(
    now: datetime,
    recent_sends: Sequence[datetime],
    limits: Sequence[RateLimit] = DEFAULT_LIMITS,
) -> RateDecision:
    retry_at: datetime | None = None
    for limit in limits:
        if limit.max_count < 1:
            raise ValueError("max_count must be at least 1")
        window = sorted(t for t in recent_sends if now - limit.per < t <= now)
        excess = len(window) - limit.max_count
        if excess >= 0:
            # The send that must leave the window before one more fits.
            free_at = window[excess] + limit.per
            retry_at = free_at if retry_at is None else max(retry_at, free_at)
    return RateDecision(allowed=retry_at is None, retry_at=retry_at)
