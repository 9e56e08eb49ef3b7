"""Who signs what: the head of the unit signs refusals, stops and the result handed back;
an official works the steps (pure rules of routing's core)."""

from __future__ import annotations

import typing

import pytest

from services.routing.domain import authority
from services.routing.domain import commands as cmd

OFFICIAL_WORK = (
    cmd.Claim,
    cmd.Forward,
    cmd.Complete,
    cmd.RecordResult,
    cmd.ReturnTo,
    cmd.RequestSupplement,
    cmd.RequestObligation,
)
HEAD_SIGNS = (cmd.Refuse, cmd.Stop, cmd.ReturnResult)


@pytest.mark.parametrize("action", OFFICIAL_WORK)
def test_an_official_works_the_steps(action: type[authority.OperatorCommand]) -> None:
    for role in ("official", "unit_head", "province_supervisor"):
        assert authority.may_issue(role, action), (role, action)


@pytest.mark.parametrize("action", HEAD_SIGNS)
def test_only_the_head_or_the_province_supervisor_signs_what_binds_the_office(
    action: type[authority.OperatorCommand],
) -> None:
    assert not authority.may_issue("official", action)
    assert authority.may_issue("unit_head", action)
    assert authority.may_issue("province_supervisor", action)
    title = authority.refusal_title(action)
    assert title.startswith("Chỉ lãnh đạo đơn vị được ")


def test_unknown_roles_and_unlisted_actions_are_refused() -> None:
    assert not authority.may_issue("", cmd.Claim)
    assert not authority.may_issue("system", cmd.Refuse)
    assert not authority.may_issue("unit_head", cmd.Withdraw)  # type: ignore[arg-type]
    assert authority.signers(cmd.Start) == frozenset()  # type: ignore[arg-type]


def test_every_command_an_official_issues_has_its_signers() -> None:
    """A new operator command must be placed in the table, not left to chance."""
    issued_by_officials = {c for c in typing.get_args(cmd.Command) if "official" in c.model_fields}
    assert issued_by_officials == set(authority.SIGNERS)
    assert set(OFFICIAL_WORK) | set(HEAD_SIGNS) == issued_by_officials
    assert set(typing.get_args(authority.OperatorCommand)) == issued_by_officials


def test_a_province_supervisor_signs_for_the_desk_others_for_their_own_unit() -> None:
    desk, own = "000.01.01.H99", "CA0.01.01.H99"
    assert authority.acting_unit("unit_head", own, desk) == own
    assert authority.acting_unit("official", own, desk) == own
    assert authority.acting_unit("province_supervisor", "000.00.00.H99", desk) == desk


def test_the_read_trail_is_for_the_province_supervisor() -> None:
    assert authority.may_read_access_log("province_supervisor")
    assert not authority.may_read_access_log("unit_head")
    assert not authority.may_read_access_log("official")
