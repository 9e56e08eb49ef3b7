"""Intake's pure rules: signatures, retry schedule, look-up buckets, status guard, codes."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.events import DossierStatus
from services.intake.domain import webhooks as wh
from services.intake.domain.rules import dossier_code
from services.intake.domain.status import action_allowed
from services.runtime.ratelimit import TokenBuckets, retry_after_header


def test_the_signature_covers_timestamp_and_body() -> None:
    signature = wh.sign("s3cret", "1700000000", b'{"status":4}')
    assert signature.startswith("sha256=")
    assert wh.verify("s3cret", "1700000000", b'{"status":4}', signature)
    assert not wh.verify("s3cret", "1700000001", b'{"status":4}', signature)
    assert not wh.verify("s3cret", "1700000000", b'{"status":5}', signature)
    assert not wh.verify("other", "1700000000", b'{"status":4}', signature)


def test_retries_back_off_by_doubling_up_to_a_cap_and_honour_retry_after() -> None:
    assert [wh.backoff_seconds(2.0, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert wh.backoff_seconds(2.0, 30) == wh.MAX_BACKOFF_SECONDS
    assert wh.backoff_seconds(2.0, 1, retry_after=60.0) == 60.0
    assert wh.backoff_seconds(2.0, 3, retry_after=1.0) == 8.0


@pytest.mark.parametrize(
    ("status", "retry"),
    [(500, True), (503, True), (429, True), (408, True), (404, False), (410, False), (400, False)],
)
def test_server_errors_and_throttling_are_retried_client_errors_are_not(
    status: int, retry: bool
) -> None:
    assert wh.is_retryable(status) is retry


def test_a_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    buckets = TokenBuckets(capacity=3, refill_per_second=0.5)
    assert [buckets.take("ip|code", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("ip|code", 100.0)
    assert wait == pytest.approx(2.0)
    assert retry_after_header(wait) == "2"
    assert buckets.take("other-ip|code", 100.0) == 0.0  # keyed by address and code
    assert buckets.take("ip|code", 102.0) == 0.0  # one token back after 2 s


@pytest.mark.parametrize(
    ("action", "status", "allowed"),
    [
        ("supplement", DossierStatus.SUPPLEMENT_REQUESTED, True),
        ("supplement", DossierStatus.PROCESSING, False),
        ("payment", DossierStatus.FINANCIAL_OBLIGATION, True),
        ("payment", DossierStatus.RECEIVED, False),
        ("withdrawal", DossierStatus.PROCESSING, True),
        ("withdrawal", DossierStatus.DONE, False),
        ("withdrawal", DossierStatus.WITHDRAWN, False),
        ("withdrawal", DossierStatus.RETURNED, False),
    ],
)
def test_citizen_actions_only_in_a_status_where_they_make_sense(
    action: str, status: int, allowed: bool
) -> None:
    assert action_allowed(action, status) is allowed  # type: ignore[arg-type]


def test_the_dossier_code_has_the_national_shape() -> None:
    assert dossier_code("000.00.01.H22", date(2025, 11, 3), 7) == "000.00.01.H22-251103-0007"


def test_text_with_a_nul_character_is_invalid_input() -> None:
    from pydantic import ValidationError

    from contracts.intake_api import WithdrawalBody

    with pytest.raises(ValidationError):
        WithdrawalBody(reason="rút\x00")
    assert WithdrawalBody(reason="Không còn nhu cầu").reason == "Không còn nhu cầu"
