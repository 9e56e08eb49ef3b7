"""Admission: whether a due message goes now, waits until a time, or is dropped.

Decided when the sender claims a batch, from what the store loaded for it (the
contacts' opt-outs and recent sends) and the rules: opt-out drops it, quiet hours and
the per-recipient rate limit hold it, a message whose lease ran out on every try gives
up. The sends admitted earlier in the same batch count against the rate limit of the
messages after them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.model import Rules
from services.notify.domain.plan import quiet_until
from services.notify.domain.rate_limit import DEFAULT_LIMITS, RateLimit, rate_limit_decision

RecipientKey = tuple[str, str]  # (contact reference, channel)
# A message whose lease ran out this many times crashed (or crashed us) every time.
MAX_LEASE_EXPIRIES = 3


class Verdict(StrEnum):
    SEND = "send"  # now
    RESEND = "resend"  # its lease ran out (a crash): again, as it was, same request id
    HOLD = "hold"  # until `until`
    DROP = "drop"  # permanent failure: the contact opted out of the channel
    GIVE_UP = "give_up"  # technical failure, dead-lettered for an operator


@dataclass(frozen=True, slots=True)
class Candidate:
    """A due message as the claim sees it."""

    contact_ref: str
    channel: str
    unit_code: str | None
    status: DeliveryStatus
    attempts: int  # made so far
    lease_expiries: int = 0

    @property
    def key(self) -> RecipientKey:
        return (self.contact_ref, self.channel)


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    until: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    rules: Rules = field(default_factory=Rules)
    rate_limits: Sequence[RateLimit] = DEFAULT_LIMITS
    max_attempts: int = 100


def admit(
    message: Candidate,
    now: datetime,
    *,
    opted_out: bool,
    recent_sends: Sequence[datetime],
    policy: AdmissionRules,
) -> Admission:
    """The decision for one message."""
    if message.status is DeliveryStatus.SENDING:  # its lease ran out
        if (
            message.lease_expiries + 1 >= MAX_LEASE_EXPIRIES
            or message.attempts >= policy.max_attempts
        ):
            return Admission(Verdict.GIVE_UP, reason="lease expired on every attempt")
        return Admission(Verdict.RESEND, reason="lease expired")
    if opted_out:
        return Admission(Verdict.DROP, reason="opted out")
    later = quiet_until(policy.rules, now, message.channel, message.unit_code)
    if later is not None:
        return Admission(Verdict.HOLD, until=later, reason="quiet hours")
    if policy.rate_limits:
        decision = rate_limit_decision(now, recent_sends, policy.rate_limits)
        if not decision.allowed:
            return Admission(Verdict.HOLD, until=decision.retry_at, reason="rate limit")
    return Admission(Verdict.SEND)


def admit_batch(
    messages: Sequence[Candidate],
    now: datetime,
    *,
    opted_out: Collection[RecipientKey],
    recent_sends: Mapping[RecipientKey, Sequence[datetime]],
    policy: AdmissionRules,
) -> list[Admission]:
    """The decisions for a claimed batch, in order; each send admitted counts as a
    recent send for the messages after it."""
    recent = {key: list(times) for key, times in recent_sends.items()}
    decisions = []
    for message in messages:
        decision = admit(
            message,
            now,
            opted_out=message.key in opted_out,
            recent_sends=recent.get(message.key, ()),
            policy=policy,
        )
        if decision.verdict is Verdict.SEND:
            recent.setdefault(message.key, []).append(now)
        decisions.append(decision)
    return decisions
