"""Reference data (fields, units, procedures) read from YAML and checked as a whole.

Layout of a configuration directory::

    fields.yaml          list of {code, name}                      (lĩnh vực)
    units.yaml           list of units                              (see units.Unit)
    procedures/*.yaml    one procedure per file                     (see procedures.Procedure)

Everything is validated when loaded, including every cross-reference and the unit each
step would reach from every unit that may receive the procedure, so a bad edit is
refused with the file and entry at fault instead of surfacing on a citizen's dossier.
Reading files is the only I/O in the core, and it happens here, once, at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # no stubs in the venv
from pydantic import ValidationError

from .model import FrozenModel, ReferenceDataError
from .procedures import Procedure
from .units import ALLOWED_PARENTS, SelectorKind, Unit, UnitLevel, UnitTree, UnresolvedUnitError


class FieldOfWork(FrozenModel):
    code: str
    name: str


@dataclass(frozen=True)
class ReferenceData:
    source: str
    fields: Mapping[str, FieldOfWork]
    units: UnitTree
    procedures: Mapping[str, Procedure]

    def unit(self, code: str) -> Unit:
        return self.units[code]

    def procedure(self, code: str) -> Procedure:
        return self.procedures[code]


def load_reference(path: str | Path) -> ReferenceData:
    """Load and validate one configuration directory; raises ReferenceDataError."""
    root = Path(path)
    if not root.is_dir():
        raise ReferenceDataError(str(root), "directory", "missing")
    fields = _load_fields(root / "fields.yaml")
    units = _load_units(root / "units.yaml", fields)
    procedures: dict[str, Procedure] = {}
    folder = root / "procedures"
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise ReferenceDataError(str(folder), "procedures", "no procedure files (*.yaml)")
    for file in files:
        procedure = _load_procedure(file, fields, units)
        if procedure.code in procedures:
            raise ReferenceDataError(str(file), f"procedure {procedure.code}", "code used twice")
        procedures[procedure.code] = procedure
    return ReferenceData(str(root), fields, units, procedures)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last one
    silently: a national component code listed twice would lose a document)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} repeated", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(file: Path) -> Any:
    try:
        return yaml.load(file.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ReferenceDataError(str(file), "file", "missing") from None
    except yaml.YAMLError as error:
        raise ReferenceDataError(str(file), "yaml", str(error)) from None


def _read_list(file: Path) -> list[dict[str, Any]]:
    raw = _read_yaml(file)
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ReferenceDataError(str(file), "file", "expected a list of mappings")
    return raw


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'entry'}: {e['msg']}" for e in error.errors()
    )


def _entry_name(kind: str, raw: dict[str, Any], index: int) -> str:
    return f"{kind} {raw['code']}" if "code" in raw else f"{kind} #{index + 1}"


def _load_fields(file: Path) -> dict[str, FieldOfWork]:
    fields: dict[str, FieldOfWork] = {}
    for index, raw in enumerate(_read_list(file)):
        entry = _entry_name("field", raw, index)
        try:
            field = FieldOfWork.model_validate(raw)
        except ValidationError as error:
            raise ReferenceDataError(str(file), entry, _explain(error)) from None
        if field.code in fields:
            raise ReferenceDataError(str(file), entry, "code used twice")
        fields[field.code] = field
    return fields


def _load_units(file: Path, fields: Mapping[str, FieldOfWork]) -> UnitTree:
    units: dict[str, Unit] = {}
    for index, raw in enumerate(_read_list(file)):
        entry = _entry_name("unit", raw, index)
        try:
            unit = Unit.model_validate(raw)
        except ValidationError as error:
            raise ReferenceDataError(str(file), entry, _explain(error)) from None
        if unit.code in units:
            raise ReferenceDataError(str(file), entry, "code used twice")
        if unknown := unit.fields - set(fields):
            raise ReferenceDataError(str(file), entry, f"unknown fields {sorted(unknown)}")
        units[unit.code] = unit
    roots = [u for u in units.values() if u.parent is None]
    if len(roots) != 1 or roots[0].level is not UnitLevel.PROVINCE:
        found = ", ".join(u.code for u in roots) or "none"
        problem = f"need exactly one province at the root, found {found}"
        raise ReferenceDataError(str(file), "units", problem)
    for unit in units.values():
        if unit.parent is None:
            continue
        entry = f"unit {unit.code}"
        parent = units.get(unit.parent)
        if parent is None:
            raise ReferenceDataError(str(file), entry, f"unknown parent {unit.parent}")
        if parent.level not in ALLOWED_PARENTS[unit.level]:
            problem = f"a {unit.level} cannot belong to a {parent.level} ({parent.code})"
            raise ReferenceDataError(str(file), entry, problem)
    return UnitTree(units)


def _load_procedure(file: Path, fields: Mapping[str, FieldOfWork], units: UnitTree) -> Procedure:
    raw = _read_yaml(file)
    if not isinstance(raw, dict):
        raise ReferenceDataError(str(file), "file", "expected one procedure (a mapping)")
    entry = f"procedure {raw.get('code', '?')}"
    try:
        procedure = Procedure.model_validate(raw)
    except ValidationError as error:
        raise ReferenceDataError(str(file), entry, _explain(error)) from None
    if procedure.field not in fields:
        raise ReferenceDataError(str(file), entry, f"unknown field {procedure.field!r}")
    problem = _unreachable_unit(procedure, fields, units) or _unmapped_component(procedure)
    if problem:
        raise ReferenceDataError(str(file), entry, problem)
    return procedure


def _unmapped_component(procedure: Procedure) -> str | None:
    """Every national component code names one of the procedure's documents, and none is
    another document's own code (a synced paper must mean one thing)."""
    own = {d.code for d in procedure.documents}
    for national, document in procedure.dvcqg_components.items():
        where = f"dvcqg_components {national!r}"
        if not national.strip():
            return f"{where}: empty national component code"
        if document not in own:
            return f"{where}: maps to {document!r}, which is not a document of the procedure"
        if national in own and national != document:
            return f"{where}: is the code of another document of the procedure"
    return None


def _unreachable_unit(
    procedure: Procedure, fields: Mapping[str, FieldOfWork], units: UnitTree
) -> str | None:
    """Check that every step finds exactly one unit from every unit that may receive."""
    receivers = [u for u in units if u.level in procedure.active_at]
    for workflow in procedure.workflows:
        for step in workflow.steps:
            if step.unit is None:
                continue
            at = f"workflow v{workflow.version} step {step.id!r} ({step.unit})"
            if step.unit.kind is SelectorKind.DEPARTMENT_FOR_FIELD and (
                step.unit.argument is not None and step.unit.argument not in fields
            ):
                return f"{at}: unknown field {step.unit.argument!r}"
            for receiver in receivers:
                try:
                    units.resolve(step.unit, receiver.code, procedure.field)
                except UnresolvedUnitError as error:
                    return f"{at}: received at {receiver.code}: {error}"
    return None
