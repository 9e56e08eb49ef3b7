"""Delivery lifecycle of one notification: statuses, receipt merging, retry timing.

Receipts from gateways arrive late, twice, or out of order; merging them by rank
makes the stored status independent of arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# Re-exported so callers find every delivery rule next to the statuses.
from services.notify.domain.masking import mask_email, mask_phone
from services.notify.domain.quiet_hours import quiet_hours_defer
from services.notify.domain.rate_limit import RateDecision, RateLimit, rate_limit_decision

__all__ = [
    "FINAL_STATUSES",
    "DeliveryStatus",
    "RateDecision",
    "RateLimit",
    "RetryPlan",
    "RetryPolicy",
    "UniformRandom",
    "backoff",
    "mask_email",
    "mask_phone",
    "next_status",
    "plan_retry",
    "quiet_hours_defer",
    "rate_limit_decision",
    "retry_delay",
    "retry_schedule",
]


class DeliveryStatus(StrEnum):
    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"  # accepted by the gateway / handed to the carrier
    DELIVERED = "delivered"
    TEMPORARY_FAILURE = "temporary_failure"  # e.g. handset off; may be retried
    PERMANENT_FAILURE = "permanent_failure"  # the recipient cannot be reached this way
    TECHNICAL_FAILURE = "technical_failure"  # our side or the gateway gave up


FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.PERMANENT_FAILURE,
        DeliveryStatus.TECHNICAL_FAILURE,
    }
)

_RANK = {
    DeliveryStatus.CREATED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.TEMPORARY_FAILURE: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.PERMANENT_FAILURE: 4,
    DeliveryStatus.TECHNICAL_FAILURE: 4,
}


def rank(status: DeliveryStatus) -> int:
    return _RANK[status]


def next_status(current: DeliveryStatus, incoming: DeliveryStatus) -> DeliveryStatus:
    """The status after `incoming` is reported while the message is at `current`.

    Never moves to a lower rank, so duplicated or reordered receipts change nothing;
    the first final status wins. The one way down is a retry: temporary_failure →
    sending.
    """
    if current in FINAL_STATUSES:
        return current
    if current is DeliveryStatus.TEMPORARY_FAILURE and incoming is DeliveryStatus.SENDING:
        return incoming
    return incoming if _RANK[incoming] > _RANK[current] else current


class UniformRandom(Protocol):
    def random(self) -> float: ...


def backoff(attempt: int, base: float, cap: float, rng: UniformRandom) -> float:
    """Seconds to wait before retry number `attempt` (1-based), full jitter.

    Uniform in [0, min(cap, base * 2**(attempt-1))): spreads retries of many
    messages that failed together instead of hammering a recovering gateway.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    # Clamp the exponent first so huge attempt numbers cannot overflow a float.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return rng.random() * ceiling


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A temporarily failed message is tried again for hours, not seconds: 30 s, doubling
    up to 30 min between tries, for 24 h from its first failure (or `max_attempts`)."""

    max_attempts: int = 100
    base_seconds: float = 30.0
    cap_seconds: float = 1800.0
    retry_for_seconds: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetryPlan:
    status: DeliveryStatus
    delay_seconds: float | None  # None: do not retry


def retry_delay(attempt: int, policy: RetryPolicy, rng: UniformRandom) -> float:
    """Seconds before retry number `attempt` (1-based): between half and all of
    min(cap, base * 2**(attempt-1)). The jitter spreads messages that failed together;
    the lower half bound keeps the schedule's reach (hours) whatever the draw."""
    ceiling = backoff(attempt, policy.base_seconds, policy.cap_seconds, _Top())
    return ceiling * (0.5 + 0.5 * rng.random())


def retry_schedule(policy: RetryPolicy) -> list[float]:
    """The nominal waits (no jitter) between tries until the policy gives up."""
    waits: list[float] = []
    elapsed = 0.0
    attempt = 1
    while attempt < policy.max_attempts and elapsed < policy.retry_for_seconds:
        wait = backoff(attempt, policy.base_seconds, policy.cap_seconds, _Top())
        wait = min(wait, policy.retry_for_seconds - elapsed)
        waits.append(wait)
        elapsed += wait
        attempt += 1
    return waits


class _Top:
    def random(self) -> float:
        return 1.0


def plan_retry(
    attempts_made: int,
    *,
    retryable: bool,
    recipient_rejected: bool = False,
    policy: RetryPolicy = RetryPolicy(),
    rng: UniformRandom,
    elapsed_seconds: float = 0.0,
) -> RetryPlan:
    """What to do after attempt number `attempts_made` failed, `elapsed_seconds` after
    the message's first failure.

    Retries are bounded (attempts and time since the first failure): once either is used
    up the message is a technical failure, which an operator can list and replay, rather
    than a retry loop that never ends. The last retry falls at the end of the window.
    """
    if recipient_rejected:
        return RetryPlan(DeliveryStatus.PERMANENT_FAILURE, None)
    if (
        not retryable
        or attempts_made >= policy.max_attempts
        or elapsed_seconds >= policy.retry_for_seconds
    ):
        return RetryPlan(DeliveryStatus.TECHNICAL_FAILURE, None)
    delay = retry_delay(attempts_made, policy, rng)
    delay = min(delay, policy.retry_for_seconds - elapsed_seconds)
    return RetryPlan(DeliveryStatus.TEMPORARY_FAILURE, delay)
