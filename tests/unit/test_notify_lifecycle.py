"""Delivery lifecycle: receipt merging, retry timing, quiet hours, masking, rate limits."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.vietnam import VN_TZ
from services.notify.domain.lifecycle import (
    FINAL_STATUSES,
    DeliveryStatus,
    RetryPolicy,
    backoff,
    mask_email,
    mask_phone,
    next_status,
    plan_retry,
    quiet_hours_defer,
    rank,
    rate_limit_decision,
)
from services.notify.domain.phone import InvalidPhoneError, to_local, to_msisdn84
from services.notify.domain.rate_limit import RateLimit

S = DeliveryStatus
GATEWAY_RECEIPTS = [S.SENT, S.DELIVERED, S.TEMPORARY_FAILURE, S.PERMANENT_FAILURE]


def fold(start: DeliveryStatus, incoming: list[DeliveryStatus]) -> list[DeliveryStatus]:
    seen = [start]
    for status in incoming:
        seen.append(next_status(seen[-1], status))
    return seen


@given(st.lists(st.sampled_from(list(S)), max_size=30))
def test_status_never_moves_backwards_except_retry(incoming: list[DeliveryStatus]) -> None:
    seen = fold(S.CREATED, incoming)
    for before, after in itertools.pairwise(seen):
        if before in FINAL_STATUSES:
            assert after == before
        elif (before, after) != (S.TEMPORARY_FAILURE, S.SENDING):
            assert rank(after) >= rank(before)


@given(
    st.lists(st.sampled_from([S.SENT, S.TEMPORARY_FAILURE]), max_size=6),
    st.sampled_from([S.DELIVERED, S.PERMANENT_FAILURE]),
    st.integers(min_value=1, max_value=3),
    st.randoms(use_true_random=False),
)
def test_any_receipt_order_ends_in_the_final_status(
    intermediate: list[DeliveryStatus], final: DeliveryStatus, copies: int, rnd: random.Random
) -> None:
    receipts = intermediate + [final] * copies  # duplicated finals included
    rnd.shuffle(receipts)
    assert fold(S.SENDING, receipts)[-1] == final


@given(st.lists(st.sampled_from([S.SENT, S.TEMPORARY_FAILURE]), min_size=1, max_size=8))
def test_non_final_receipts_settle_on_the_highest_rank(receipts: list[DeliveryStatus]) -> None:
    expected = max(receipts, key=rank)
    for order in (receipts, list(reversed(receipts)), receipts + receipts):
        assert fold(S.SENDING, order)[-1] == expected


def test_first_final_status_wins_and_retry_leaves_temporary_failure() -> None:
    assert next_status(S.DELIVERED, S.PERMANENT_FAILURE) == S.DELIVERED
    assert next_status(S.PERMANENT_FAILURE, S.DELIVERED) == S.PERMANENT_FAILURE
    assert next_status(S.TECHNICAL_FAILURE, S.SENDING) == S.TECHNICAL_FAILURE
    assert next_status(S.TEMPORARY_FAILURE, S.SENDING) == S.SENDING
    assert next_status(S.TEMPORARY_FAILURE, S.SENT) == S.TEMPORARY_FAILURE  # stale ack
    assert next_status(S.TEMPORARY_FAILURE, S.DELIVERED) == S.DELIVERED
    assert next_status(S.DELIVERED, S.DELIVERED) == S.DELIVERED


@given(
    st.integers(min_value=1, max_value=10_000),
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=0.01, max_value=3600),
    st.randoms(use_true_random=False),
)
def test_backoff_is_within_full_jitter_bounds(
    attempt: int, base: float, cap: float, rnd: random.Random
) -> None:
    delay = backoff(attempt, base, cap, rnd)
    assert 0 <= delay <= min(cap, base * 2 ** min(attempt - 1, 64))


class _Max:
    def random(self) -> float:
        return 0.999999


def test_backoff_grows_exponentially_until_the_cap() -> None:
    delays = [backoff(n, 2.0, 60.0, _Max()) for n in range(1, 9)]
    assert delays[:5] == pytest.approx([2, 4, 8, 16, 32], rel=1e-5)
    assert delays[5:] == pytest.approx([60, 60, 60], rel=1e-5)
    with pytest.raises(ValueError, match="1-based"):
        backoff(0, 2.0, 60.0, _Max())


def test_plan_retry_is_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1, cap_seconds=10)
    rng = random.Random(7)
    first = plan_retry(1, retryable=True, policy=policy, rng=rng)
    assert first.status == S.TEMPORARY_FAILURE
    assert first.delay_seconds is not None and 0 <= first.delay_seconds <= 1
    exhausted = plan_retry(3, retryable=True, policy=policy, rng=rng)
    assert (exhausted.status, exhausted.delay_seconds) == (S.TECHNICAL_FAILURE, None)
    assert plan_retry(1, retryable=False, policy=policy, rng=rng).status == S.TECHNICAL_FAILURE
    rejected = plan_retry(1, retryable=True, recipient_rejected=True, policy=policy, rng=rng)
    assert rejected.status == S.PERMANENT_FAILURE


def vn(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("now", "channel", "expected"),
    [
        (vn(23, 30), "sms", vn(7, 0, day=11)),
        (vn(22, 0), "zalo", vn(7, 0, day=11)),
        (vn(3, 15), "sms", vn(7, 0)),
        (vn(6, 59), "zalo", vn(7, 0)),
        (vn(7, 0), "sms", None),
        (vn(21, 59), "sms", None),
        (vn(23, 30), "email", None),
        (vn(3, 0), "email", None),
    ],
)
def test_quiet_hours(now: datetime, channel: str, expected: datetime | None) -> None:
    assert quiet_hours_defer(now, channel) == expected


def test_quiet_hours_use_vietnam_time_whatever_the_input_zone() -> None:
    at = quiet_hours_defer(datetime(2025, 11, 10, 16, 0, tzinfo=UTC), "sms")  # 23:00 in Hà Nội
    assert at == vn(7, 0, day=11)
    assert at is not None and at.astimezone(UTC) == datetime(2025, 11, 11, 0, 0, tzinfo=UTC)
    assert quiet_hours_defer(datetime(2025, 11, 10, 3, 0, tzinfo=UTC), "sms") is None  # 10:00


def test_quiet_hours_custom_window_and_naive_time() -> None:
    lunch = (time(11, 30), time(13, 30))
    assert quiet_hours_defer(vn(12, 0), "sms", window=lunch) == vn(13, 30)
    assert quiet_hours_defer(vn(14, 0), "sms", window=lunch) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        quiet_hours_defer(datetime(2025, 11, 10, 23, 0), "sms")


def test_masking() -> None:
    assert mask_phone("0912345678") == "091****678"
    assert mask_phone("+84 912 345 678") == "849*****678"
    assert mask_phone("12345") == "*****"
    assert mask_email("nguyen.van.a@gmail.com") == "n***@g***.com"
    assert mask_email("a@localhost") == "a***@***"
    assert mask_email("not-an-email") == "***"


def test_rate_limit() -> None:
    now = datetime(2025, 11, 10, 9, 0, tzinfo=VN_TZ)
    limits = [RateLimit(3, timedelta(minutes=10)), RateLimit(5, timedelta(days=1))]
    two = [now - timedelta(minutes=1), now - timedelta(minutes=2)]
    assert rate_limit_decision(now, two, limits).allowed
    three = [*two, now - timedelta(minutes=8)]
    decision = rate_limit_decision(now, three, limits)
    assert not decision.allowed
    assert decision.retry_at == now + timedelta(minutes=2)  # the 8-minute-old send ages out
    old = [now - timedelta(hours=h) for h in range(1, 6)]
    daily = rate_limit_decision(now, old, limits)
    assert not daily.allowed
    assert daily.retry_at == now + timedelta(hours=19)
    assert rate_limit_decision(now, [now - timedelta(minutes=11)] * 3, limits).allowed


def test_phone_forms() -> None:
    assert to_msisdn84("0912 345 678") == "84912345678"
    assert to_msisdn84("+84912345678") == "84912345678"
    assert to_local("84912345678") == "0912345678"
    with pytest.raises(InvalidPhoneError) as err:
        to_msisdn84("091234")
    assert "091234" not in str(err.value)
