"""Operator tokens carry unit and role; a forged or stale one is refused."""

from __future__ import annotations

import pytest

from services.runtime.auth import (
    InvalidToken,
    Principal,
    check_password,
    hash_password,
    issue_token,
    verify_token,
)

SECRET = "test-secret"
COMMUNE_OFFICIAL = Principal(user_id="canbo@X01", unit_code="X01", role="official")


def test_a_token_names_the_official_their_unit_and_role() -> None:
    token = issue_token(SECRET, COMMUNE_OFFICIAL)
    assert verify_token(SECRET, token) == COMMUNE_OFFICIAL


def test_an_official_acts_only_for_their_own_unit_a_supervisor_for_all() -> None:
    assert COMMUNE_OFFICIAL.may_act_for("X01")
    assert not COMMUNE_OFFICIAL.may_act_for("X02")
    supervisor = Principal(user_id="giamsat", unit_code="P", role="province_supervisor")
    assert supervisor.may_act_for("X02")


def test_a_token_changed_to_another_unit_is_refused() -> None:
    body, signature = issue_token(SECRET, COMMUNE_OFFICIAL).split(".")
    other = issue_token(SECRET, Principal("canbo@X02", "X02", "official")).split(".")[0]
    with pytest.raises(InvalidToken):
        verify_token(SECRET, f"{other}.{signature}")
    with pytest.raises(InvalidToken):
        verify_token("another-secret", f"{body}.{signature}")


def test_an_expired_or_malformed_token_is_refused() -> None:
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, issue_token(SECRET, COMMUNE_OFFICIAL, ttl_seconds=-1))
    with pytest.raises(InvalidToken):
        verify_token(SECRET, "not-a-token")


def test_passwords_are_stored_salted_and_checked() -> None:
    stored = hash_password("demo")
    assert "demo" not in stored
    assert stored != hash_password("demo")  # a new salt each time
    assert check_password("demo", stored)
    assert not check_password("Demo", stored)
