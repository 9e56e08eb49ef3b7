"""The province's reference data: units, procedures and versioned workflows, their
loader and validation, shared by every service (one source for a procedure's documents,
time allotments and chain). The YAML lives beside this module, one folder per profile
(``three_level``, ``two_level``)."""

from __future__ import annotations

import functools
from pathlib import Path

from reference.loader import ReferenceData, load_reference
from services.workcal.model import UnitCalendarConfig

REFERENCE_ROOT = Path(__file__).parent


@functools.cache
def reference(profile: str) -> ReferenceData:
    return load_reference(REFERENCE_ROOT / profile)


def load_unit_calendars(profile: str) -> dict[str, UnitCalendarConfig]:
    return {
        unit.code: UnitCalendarConfig(serves_saturday=unit.serves_saturday)
        for unit in reference(profile).units
    }
