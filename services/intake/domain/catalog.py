"""What intake needs to know of units and procedures (read from the reference data)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from services.workcal.model import UnitCalendarConfig


class UnitInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    level: str
    agency_code: str
    calendar: UnitCalendarConfig = UnitCalendarConfig()


class ChainChoice(BaseModel):
    model_config = ConfigDict(frozen=True)

    options: tuple[str, ...]
    min_choices: int
    max_choices: int
    mandatory: frozenset[str] = frozenset()


class ProcedureInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    field_code: str
    field_name: str = ""
    legal_hours: Decimal
    online_hours: Decimal | None = None
    hours_if: dict[str, Decimal] = {}
    conditions: frozenset[str] = frozenset()
    # Every paper the procedure lists (thành phần hồ sơ), code -> name; which of them a
    # dossier must hold is ``needed_documents``.
    required_documents: dict[str, str]
    # Papers handed in only when they apply ("nếu có"): never required.
    optional_documents: frozenset[str] = frozenset()
    # In a chain, papers of some sub-procedures only: required when one of them is chosen.
    subprocedure_documents: dict[str, frozenset[str]] = {}
    active_levels: frozenset[str]
    cut_off: time | None = None
    chain: ChainChoice | None = None
    # National component code (MaThanhPhanHoSo) -> document code, from the reference data.
    national_documents: dict[str, str] = {}

    def needed_documents(self, chosen: list[str]) -> dict[str, str]:
        """The papers a complete dossier holds, given the sub-procedures chosen."""
        picked = set(chosen)
        return {
            code: name
            for code, name in self.required_documents.items()
            if code not in self.optional_documents
            and (
                code not in self.subprocedure_documents
                or self.subprocedure_documents[code] & picked
            )
        }


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    units: dict[str, UnitInfo]
    procedures: dict[str, ProcedureInfo]
