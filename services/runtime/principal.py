"""Who an operator is: their account, unit and role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["official", "unit_head", "province_supervisor"]
# Narrowest first: a token granting several roles acts with the broadest.
ROLES: tuple[Role, ...] = ("official", "unit_head", "province_supervisor")


@dataclass(frozen=True)
class Principal:
    user_id: str
    unit_code: str
    role: Role

    def may_act_for(self, unit_code: str) -> bool:
        return self.role == "province_supervisor" or self.unit_code == unit_code
