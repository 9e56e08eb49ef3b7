"""Reference data: the national component codes (MaThanhPhanHoSo) of every procedure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reference import reference
from reference.loader import load_reference
from reference.model import ReferenceDataError
from tests.unit.test_routing_support import CONFIGS, copy_config, edit_yaml

BIRTH = "procedures/1.001193-dang-ky-khai-sinh.yaml"


@pytest.mark.parametrize("config", CONFIGS)
def test_every_shipped_procedure_maps_a_national_code_to_each_of_its_documents(
    config: str,
) -> None:
    for procedure in reference(config).procedures.values():
        documents = {d.code for d in procedure.documents}
        assert set(procedure.dvcqg_components.values()) == documents, procedure.code
        # One national code means one paper, whatever the profile.
        assert len(set(procedure.dvcqg_components)) == len(procedure.dvcqg_components)


def test_both_profiles_use_the_same_national_codes() -> None:
    three, two = reference("three_level"), reference("two_level")
    for code, procedure in three.procedures.items():
        assert procedure.dvcqg_components == two.procedures[code].dvcqg_components


def _refused(tmp_path: Path, change: Any) -> ReferenceDataError:
    root = copy_config(tmp_path, "three_level")
    edit_yaml(root / BIRTH, change)
    with pytest.raises(ReferenceDataError) as refusal:
        load_reference(root)
    assert refusal.value.file == str(root / BIRTH)
    assert refusal.value.entry == "procedure 1.001193"
    return refusal.value


def test_a_code_mapped_to_a_document_the_procedure_does_not_have_is_refused(
    tmp_path: Path,
) -> None:
    error = _refused(tmp_path, lambda p: p["dvcqg_components"].update({"1.001193-TP09": "GKH"}))
    assert "dvcqg_components '1.001193-TP09'" in error.problem
    assert "'GKH', which is not a document of the procedure" in error.problem


def test_a_national_code_that_is_another_documents_own_code_is_refused(tmp_path: Path) -> None:
    error = _refused(tmp_path, lambda p: p["dvcqg_components"].update({"GCS": "TK_KS"}))
    assert "is the code of another document" in error.problem


def test_a_key_written_twice_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    root = copy_config(tmp_path, "three_level")
    file = root / BIRTH
    text = file.read_text(encoding="utf-8")
    file.write_text(text + '  "1.001193-TP01": GCS\n', encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"yaml: .*'1\.001193-TP01' repeated"):
        load_reference(root)
