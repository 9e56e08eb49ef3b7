"""Administrative units, and how a workflow step finds the unit that must act.

The hierarchy is data (three-level before 1 July 2025, two-level after), so steps name
units by role ("the police of the receiving unit's area") and never by code, except for
the explicit ``fixed:<code>`` escape hatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum

from pydantic import Field, model_validator

from .model import FrozenModel


class UnitLevel(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"
    DEPARTMENT = "department"
    SECTOR = "sector"


class QueueLevel(StrEnum):
    """The Kafka queue a unit's tasks go to."""

    COMMUNE = "commune"
    DISTRICT = "district"
    DEPARTMENT = "department"


# Which levels a unit of each level may hang under; the province is the single root.
ALLOWED_PARENTS: Mapping[UnitLevel, frozenset[UnitLevel]] = {
    UnitLevel.PROVINCE: frozenset(),
    UnitLevel.DISTRICT: frozenset({UnitLevel.PROVINCE}),
    UnitLevel.COMMUNE: frozenset({UnitLevel.DISTRICT, UnitLevel.PROVINCE}),
    UnitLevel.DEPARTMENT: frozenset({UnitLevel.PROVINCE, UnitLevel.DISTRICT}),
    UnitLevel.SECTOR: frozenset({UnitLevel.PROVINCE, UnitLevel.DISTRICT, UnitLevel.COMMUNE}),
}


class Unit(FrozenModel):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    level: UnitLevel
    parent: str | None = None
    queue_level: QueueLevel
    fields: frozenset[str] = frozenset()
    # The agency kind of a sector unit (police, tax, social_insurance, land_registry, ...).
    sector: str | None = None
    serves_saturday: bool = False

    @model_validator(mode="after")
    def _sector_kind_only_on_sector_units(self) -> Unit:
        if (self.level is UnitLevel.SECTOR) != (self.sector is not None):
            raise ValueError("'sector' is required on sector units and only on them")
        return self


class SelectorKind(StrEnum):
    RECEIVING_UNIT = "receiving_unit"
    # "the district of the receiving commune"; the province where districts are gone.
    PARENT_OF_RECEIVING_UNIT = "parent_of_receiving_unit"
    DEPARTMENT_FOR_FIELD = "department_for_field"
    SECTOR = "sector"
    FIXED = "fixed"


_NEEDS_ARGUMENT = {SelectorKind.SECTOR, SelectorKind.FIXED}
_TAKES_ARGUMENT = _NEEDS_ARGUMENT | {SelectorKind.DEPARTMENT_FOR_FIELD}


class UnitSelector(FrozenModel):
    """Written in YAML as ``kind`` or ``kind:argument`` (e.g. ``sector:police``)."""

    kind: SelectorKind
    argument: str | None = None

    @classmethod
    def parse(cls, text: str) -> UnitSelector:
        name, _, argument = text.partition(":")
        try:
            kind = SelectorKind(name.strip())
        except ValueError:
            known = ", ".join(k.value for k in SelectorKind)
            raise ValueError(f"unknown unit selector {text!r} (known: {known})") from None
        argument = argument.strip()
        if kind in _NEEDS_ARGUMENT and not argument:
            raise ValueError(f"unit selector {text!r} needs an argument, e.g. '{kind}:...'")
        if argument and kind not in _TAKES_ARGUMENT:
            raise ValueError(f"unit selector {text!r} takes no argument")
        return cls(kind=kind, argument=argument or None)

    def __str__(self) -> str:
        return f"{self.kind}:{self.argument}" if self.argument else str(self.kind)


class UnresolvedUnitError(LookupError):
    """No single unit answers a selector for a given receiving unit."""


class UnitTree:
    """Read-only index over validated units; resolves selectors."""

    def __init__(self, units: Mapping[str, Unit]) -> None:
        self._units = dict(units)
        children: dict[str, list[Unit]] = {}
        for unit in self._units.values():
            if unit.parent is not None:
                children.setdefault(unit.parent, []).append(unit)
        self._children = {code: tuple(kids) for code, kids in children.items()}

    def __getitem__(self, code: str) -> Unit:
        return self._units[code]

    def __contains__(self, code: object) -> bool:
        return code in self._units

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def children(self, code: str) -> tuple[Unit, ...]:
        return self._children.get(code, ())

    def self_and_ancestors(self, code: str) -> Iterator[Unit]:
        unit: Unit | None = self._units[code]
        while unit is not None:
            yield unit
            unit = self._units.get(unit.parent) if unit.parent else None

    def resolve(self, selector: UnitSelector, receiving_code: str, procedure_field: str) -> Unit:
        """The unit that acts for ``selector`` on a dossier received at ``receiving_code``."""
        receiving = self._units[receiving_code]
        match selector.kind:
            case SelectorKind.RECEIVING_UNIT:
                return receiving
            case SelectorKind.PARENT_OF_RECEIVING_UNIT:
                if receiving.parent is None:
                    raise UnresolvedUnitError(f"{receiving.code} has no parent unit")
                return self._units[receiving.parent]
            case SelectorKind.FIXED:
                if selector.argument not in self._units:
                    raise UnresolvedUnitError(f"no unit with code {selector.argument!r}")
                return self._units[selector.argument]
            case SelectorKind.DEPARTMENT_FOR_FIELD:
                field = selector.argument or procedure_field
                return self._nearest(
                    receiving,
                    f"department handling field {field!r}",
                    lambda u: u.level is UnitLevel.DEPARTMENT and field in u.fields,
                )
            case SelectorKind.SECTOR:
                return self._nearest(
                    receiving,
                    f"{selector.argument} agency",
                    lambda u: u.sector == selector.argument,
                )

    def _nearest(self, receiving: Unit, wanted: str, fits: Callable[[Unit], bool]) -> Unit:
        # Closest level wins: the commune's own police before the district's or province's.
        for area in self.self_and_ancestors(receiving.code):
            found = [child for child in self.children(area.code) if fits(child)]
            if len(found) > 1:
                codes = ", ".join(u.code for u in found)
                raise UnresolvedUnitError(f"{wanted} of {area.code} is ambiguous: {codes}")
            if found:
                return found[0]
        raise UnresolvedUnitError(f"no {wanted} for {receiving.code} or any unit above it")
