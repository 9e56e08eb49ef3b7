"""Reference data: the shipped configurations, and the loader's refusals of bad edits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.routing.domain import ReferenceDataError, UnitLevel, UnitSelector, load_reference
from tests.unit.test_routing_support import CONFIGS, PLACES, copy_config, edit_yaml, reference

PROCEDURE_FILES = {
    "land": "1.012603-dang-ky-dat-dai-nghia-vu-tai-chinh.yaml",
    "death": "1.012602-lien-thong-khai-tu.yaml",
    "birth": "1.012601-lien-thong-khai-sinh.yaml",
}


@pytest.mark.parametrize("config", CONFIGS)
def test_both_configurations_load_with_the_same_procedures(config: str) -> None:
    ref = reference(config)
    assert set(ref.procedures) == {"1.001193", "1.004873", "1.012601", "1.012602", "1.012603"}
    assert all(unit.name for unit in ref.units)
    levels = {unit.level for unit in ref.units}
    assert (UnitLevel.DISTRICT in levels) == (config == "three_level")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("receiving_unit", "commune"),
        ("sector:police", "police"),
        ("sector:tax", "tax"),
        ("sector:social_insurance", "social_insurance"),
        ("sector:land_registry", "land_registry"),
        ("department_for_field:chinh_sach", "labour"),
    ],
)
def test_steps_find_the_nearest_unit_of_the_right_kind(
    config: str, selector: str, expected: str
) -> None:
    places = PLACES[config]
    found = reference(config).units.resolve(UnitSelector.parse(selector), places.commune, "ho_tich")
    assert found.code == getattr(places, expected)


@pytest.mark.parametrize("config", CONFIGS)
def test_the_parent_of_a_commune_is_its_district_or_else_the_province(config: str) -> None:
    places = PLACES[config]
    parent = reference(config).units.resolve(
        UnitSelector.parse("parent_of_receiving_unit"), places.commune, "ho_tich"
    )
    assert parent.code == (places.district or "000.00.00.H99")


def _units(change: Callable[[list[dict[str, Any]]], None]) -> tuple[str, Callable[[Any], None]]:
    return "units.yaml", change


def _procedure(name: str, change: Callable[[dict[str, Any]], None]) -> tuple[str, Any]:
    return f"procedures/{PROCEDURE_FILES[name]}", change


def _first_step(p: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = p["workflows"][0]["steps"][0]
    return step


def _step(p: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in p["workflows"][0]["steps"] if s["id"] == step_id)


BAD_EDITS: dict[str, tuple[tuple[str, Any], str, str]] = {
    "unknown parent": (
        _units(lambda us: us[1].update(parent="000.99.99.H99")),
        "unit 001.00.00.H99",
        "unknown parent 000.99.99.H99",
    ),
    "commune under a department": (
        _units(
            lambda us: next(u for u in us if u["level"] == "commune").update(parent="001.00.00.H99")
        ),
        "unit 000.01.01.H99",
        "a commune cannot belong to a department",
    ),
    "unknown field on a unit": (
        _units(lambda us: us[1].update(fields=["hon_nhan"])),
        "unit 001.00.00.H99",
        "unknown fields ['hon_nhan']",
    ),
    "duplicate unit": (
        _units(lambda us: us.append(dict(us[1]))),
        "unit 001.00.00.H99",
        "code used twice",
    ),
    "sector unit without a kind": (
        _units(lambda us: next(u for u in us if u["level"] == "sector").pop("sector")),
        "unit CA0.00.00.H99",
        "'sector' is required",
    ),
    "bad queue level": (
        _units(lambda us: us[0].update(queue_level="ward")),
        "unit 000.00.00.H99",
        "queue_level",
    ),
    "misspelt agency kind": (
        _procedure("land", lambda p: _step(p, "xac_dinh_nghia_vu").update(unit="sector:taxes")),
        "procedure 1.012603",
        "step 'xac_dinh_nghia_vu' (sector:taxes): received at",
    ),
    "unknown selector": (
        _procedure("land", lambda p: _first_step(p).update(unit="the_desk")),
        "procedure 1.012603",
        "unknown unit selector 'the_desk'",
    ),
    "fixed unit that does not exist": (
        _procedure("land", lambda p: _first_step(p).update(unit="fixed:000.77.00.H99")),
        "procedure 1.012603",
        "no unit with code '000.77.00.H99'",
    ),
    "predecessor listed later": (
        _procedure("land", lambda p: _first_step(p).update(after=["tra_ket_qua"])),
        "procedure 1.012603",
        "comes after 'tra_ket_qua', which is unknown or listed later",
    ),
    "allotments beyond the legal time": (
        _procedure("land", lambda p: _step(p, "van_phong_dang_ky").update(hours=48)),
        "procedure 1.012603",
        "steps need 88 h",
    ),
    "payment step with a unit": (
        _procedure("land", lambda p: _step(p, "nop_nghia_vu").update(unit="sector:tax")),
        "procedure 1.012603",
        "a payment step has no unit",
    ),
    "chain step running without being chosen": (
        _procedure("death", lambda p: _step(p, "tu_tuat").update(after=["khai_tu"])),
        "procedure 1.012602",
        "steps of ['1.002128'] run without being chosen",
    ),
    "edge condition on an unknown option": (
        _procedure(
            "death",
            lambda p: _step(p, "tu_tuat").update(
                after=[{"step": "khai_tu", "when": "chosen:1.999999"}]
            ),
        ),
        "procedure 1.012602",
        "condition on unknown chosen '1.999999'",
    ),
    "chain asking for more than it offers": (
        _procedure("death", lambda p: p["chain"].update(max_choices=5)),
        "procedure 1.012602",
        "max_choices <= number of options",
    ),
    "unquoted procedure code read as a number": (
        _procedure("birth", lambda p: p.update(code=1.012601)),
        "procedure 1.012601",
        "code: Input should be a valid string",
    ),
    "hours for an undeclared condition": (
        _procedure("birth", lambda p: _first_step(p).update(hours_if={"urgent": 4})),
        "procedure 1.012601",
        "undeclared conditions ['urgent']",
    ),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_a_bad_edit_is_refused_naming_the_file_and_the_entry(tmp_path: Path, case: str) -> None:
    (file, change), entry, problem = BAD_EDITS[case]
    root = copy_config(tmp_path, "three_level")
    edit_yaml(root / file, change)
    with pytest.raises(ReferenceDataError) as refusal:
        load_reference(root)
    error = refusal.value
    assert error.file == str(root / file)
    assert error.entry == entry
    assert problem in error.problem
    assert str(error).startswith(f"{root / file}: {entry}: ")


def test_broken_yaml_and_missing_files_are_named(tmp_path: Path) -> None:
    root = copy_config(tmp_path, "two_level")
    (root / "fields.yaml").write_text("- code: ho_tich\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"fields\.yaml: yaml: "):
        load_reference(root)
    (root / "fields.yaml").unlink()
    with pytest.raises(ReferenceDataError, match=r"fields\.yaml: file: missing"):
        load_reference(root)
    with pytest.raises(ReferenceDataError, match="nowhere: directory: missing"):
        load_reference(tmp_path / "nowhere")
    empty = copy_config(tmp_path / "empty", "two_level")
    for file in (empty / "procedures").iterdir():
        file.unlink()
    with pytest.raises(ReferenceDataError, match="procedures: procedures: no procedure files"):
        load_reference(empty)


def test_a_procedure_file_holds_one_mapping(tmp_path: Path) -> None:
    root = copy_config(tmp_path, "two_level")
    (root / "procedures" / "zz-empty.yaml").write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"zz-empty\.yaml: file: expected one procedure"):
        load_reference(root)
