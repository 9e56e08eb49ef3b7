"""What an attempt's result means for its message, and how a batch of reports merges.

Pure: the sender hands in the gateway's answer, these return the `StatusChange` the
store records (with the retry time, the dead letter, the SMS fallback), and `merge`
folds a batch of changes onto the stored statuses forward-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from services.notify.domain.lifecycle import (
    DeliveryStatus,
    RetryPolicy,
    UniformRandom,
    next_status,
    plan_retry,
)
from services.notify.domain.model import ClaimedMessage, NewMessage, StatusChange


def sent(
    message: ClaimedMessage,
    provider: str,
    provider_message_id: str | None,
    trace_headers: Mapping[str, str] | None = None,
) -> StatusChange:
    return StatusChange(
        message.id,
        DeliveryStatus.SENT,
        f"accepted by {provider}",
        provider=provider,
        provider_message_id=provider_message_id,
        sent=True,
        trace_headers=trace_headers or {},
    )


def final(
    message: ClaimedMessage,
    status: DeliveryStatus,
    detail: str,
    trace_headers: Mapping[str, str] | None = None,
) -> StatusChange:
    """A failure that ends the message; a technical one is dead-lettered."""
    return StatusChange(
        message.id,
        status,
        detail,
        dead_letter=status is DeliveryStatus.TECHNICAL_FAILURE,
        attempts=message.attempts,
        trace_headers=trace_headers or {},
    )


def failed(
    message: ClaimedMessage,
    error: str,
    *,
    retryable: bool,
    now: datetime,
    policy: RetryPolicy,
    rng: UniformRandom,
    recipient_rejected: bool = False,
    provider: str | None = None,
    trace_headers: Mapping[str, str] | None = None,
) -> StatusChange:
    """A failed attempt: retried later (with backoff, for hours), or the end."""
    since = message.first_failure_at
    elapsed = (now - since).total_seconds() if since is not None else 0.0
    plan = plan_retry(
        message.attempts,
        retryable=retryable,
        recipient_rejected=recipient_rejected,
        policy=policy,
        rng=rng,
        elapsed_seconds=elapsed,
    )
    if plan.delay_seconds is None:
        return final(message, plan.status, error, trace_headers)
    return StatusChange(
        message.id,
        DeliveryStatus.TEMPORARY_FAILURE,
        f"attempt {message.attempts}: {error}",
        provider=provider,
        next_attempt_at=now + timedelta(seconds=plan.delay_seconds),
        failure_at=now,
        trace_headers=trace_headers or {},
    )


def fell_back(
    message: ClaimedMessage,
    why: str,
    sms: NewMessage | None,
    trace_headers: Mapping[str, str] | None = None,
) -> StatusChange:
    """Zalo could not carry the notice: the Zalo message ends, an SMS takes it on
    (`sms` None when SMS is opted out; the store checks that again)."""
    return StatusChange(
        message.id,
        DeliveryStatus.PERMANENT_FAILURE,
        f"{why}; falling back to SMS",
        provider="zalo",
        fallback=sms,
        trace_headers=trace_headers or {},
    )


@dataclass(frozen=True, slots=True)
class Merged:
    change: StatusChange
    before: DeliveryStatus
    after: DeliveryStatus

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def merge(current: Mapping[UUID, DeliveryStatus], changes: Sequence[StatusChange]) -> list[Merged]:
    """Each change applied in order onto the stored status (several changes of one
    message in a batch fold one after the other); unknown messages are left out."""
    status = dict(current)
    merged = []
    for change in changes:
        before = status.get(change.message_id)
        if before is None:
            continue
        after = next_status(before, change.status)
        status[change.message_id] = after
        merged.append(Merged(change, before, after))
    return merged
