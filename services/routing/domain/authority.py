"""Who may sign what: every operator action and the roles that may issue it.

An official works the unit's steps (claim, complete, forward, return, record results,
ask for supplements, assess obligations). What binds the office towards the citizen is
signed by the head of the unit: the refusal (form 03), the stop notice (form 05) and the
result handed back. A province supervisor may sign for any unit. The table is data: a
new operator command has to be placed in it (a unit test checks every one is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from . import commands as cmd

Role = Literal["official", "unit_head", "province_supervisor"]

EVERY_OPERATOR: frozenset[Role] = frozenset({"official", "unit_head", "province_supervisor"})
HEADS: frozenset[Role] = frozenset({"unit_head", "province_supervisor"})

OperatorCommand = (
    cmd.Claim
    | cmd.Forward
    | cmd.Complete
    | cmd.RecordResult
    | cmd.ReturnTo
    | cmd.RequestSupplement
    | cmd.RequestObligation
    | cmd.Refuse
    | cmd.Stop
    | cmd.ReturnResult
)

SIGNERS: Mapping[type[OperatorCommand], frozenset[Role]] = {
    cmd.Claim: EVERY_OPERATOR,
    cmd.Forward: EVERY_OPERATOR,
    cmd.Complete: EVERY_OPERATOR,
    cmd.RecordResult: EVERY_OPERATOR,
    cmd.ReturnTo: EVERY_OPERATOR,
    cmd.RequestSupplement: EVERY_OPERATOR,
    cmd.RequestObligation: EVERY_OPERATOR,
    cmd.Refuse: HEADS,
    cmd.Stop: HEADS,
    cmd.ReturnResult: HEADS,
}

# What the head signs, in the words of the refusal an official is given.
HEAD_SIGNED_NAMES: Mapping[type[OperatorCommand], str] = {
    cmd.Refuse: "từ chối tiếp nhận hồ sơ (mẫu 03)",
    cmd.Stop: "dừng xử lý hồ sơ (mẫu 05)",
    cmd.ReturnResult: "trả kết quả cho công dân",
}


def signers(action: type[OperatorCommand]) -> frozenset[Role]:
    """The roles that may issue ``action``; an action missing from the table may not be
    issued by anyone (fail closed)."""
    return SIGNERS.get(action, frozenset())


def may_issue(role: str, action: type[OperatorCommand]) -> bool:
    return role in signers(action)


def refusal_title(action: type[OperatorCommand]) -> str:
    """The Vietnamese title of the 403 an operator without the role is given."""
    what = HEAD_SIGNED_NAMES.get(action)
    if what is None:
        return "Vai trò của bạn không được thực hiện thao tác này"
    return f"Chỉ lãnh đạo đơn vị được {what}"


def may_read_access_log(role: str) -> bool:
    """The trail of who read which dossier's personal data is for the province supervisor."""
    return role == "province_supervisor"


def acting_unit(role: str, own_unit: str, receiving_unit: str) -> str:
    """The unit a dossier-level action (refuse, stop, return the result) is taken for:
    the operator's own, or for a province supervisor the dossier's desk."""
    return receiving_unit if role == "province_supervisor" else own_unit
