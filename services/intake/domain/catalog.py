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
    required_documents: dict[str, str]
    active_levels: frozenset[str]
    cut_off: time | None = None
    chain: ChainChoice | None = None
    # National component code (MaThanhPhanHoSo) -> document code, from the reference data.
    national_documents: dict[str, str] = {}


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    units: dict[str, UnitInfo]
    procedures: dict[str, ProcedureInfo]
