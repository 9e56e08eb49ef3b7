"""The papers a complete dossier holds, as the reference data and intake's completeness
check read them: a paper marked "nếu có" is never required, and in a chain the citizen's
choice of sub-procedures decides which forms are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.intake_api import SubmitDossier
from reference import reference
from reference.loader import load_reference
from reference.model import ReferenceDataError
from services.intake.catalog_source import intake_catalog
from services.intake.domain.rules import SubmissionRefused, check_submission
from tests.unit.test_routing_support import CONFIGS, copy_config, edit_yaml

COMMUNE = "000.01.01.H99"
MARRIAGE = "1.004873"  # xác nhận tình trạng hôn nhân: GT_HN "(nếu có)"
BIRTH_CHAIN = "1.012601"  # khai sinh (1.001193) – thường trú (1.004194) – BHYT (1.002183)
DEATH_CHAIN = "1.012602"
MARRIAGE_FILE = "procedures/1.004873-xac-nhan-tinh-trang-hon-nhan.yaml"
BIRTH_CHAIN_FILE = "procedures/1.012601-lien-thong-khai-sinh.yaml"


def submission(procedure: str, papers: list[str], chosen: list[str] | None = None) -> SubmitDossier:
    return SubmitDossier.model_validate(
        {
            "procedure_code": procedure,
            "receiving_unit": COMMUNE,
            "channel": 1,
            "applicant": {
                "full_name": "Nguyễn Thị Lan",
                "citizen_id": "001190012345",
                "phone": "0912345678",
            },
            "documents": [
                {
                    "type_code": code,
                    "name": code,
                    "checksum": "0" * 64,
                    "storage_ref": f"s3://{code}",
                }
                for code in papers
            ],
            "chosen_subprocedures": chosen or [],
        }
    )


def missing(procedure: str, papers: list[str], chosen: list[str] | None = None) -> set[str]:
    """What the desk's completeness check says is missing (empty: received)."""
    body = submission(procedure, papers, chosen)
    try:
        check_submission(intake_catalog("three_level"), body)
    except SubmissionRefused as refused:
        found: SubmissionRefused = refused
    else:
        return set()
    assert found.title == "Hồ sơ chưa đầy đủ", found.title
    return {m["type_code"] for m in found.extra["missing_documents"]}


@pytest.mark.parametrize("config", CONFIGS)
def test_every_paper_named_if_any_is_marked_optional_in_both_profiles(config: str) -> None:
    ref = reference(config)
    named = [d for p in ref.procedures.values() for d in p.documents if "nếu có" in d.name]
    assert "GT_HN" in {d.code for d in named}
    assert all(d.optional for d in named)
    assert [d.code for d in ref.procedures[MARRIAGE].required_documents()] == ["TK_XNHN"]


def test_a_desk_receives_a_marriage_certificate_request_without_the_paper_marked_if_any() -> None:
    assert missing(MARRIAGE, ["TK_XNHN"]) == set()
    assert missing(MARRIAGE, ["TK_XNHN", "GT_HN"]) == set()  # handed in when it applies
    assert missing(MARRIAGE, ["GT_HN"]) == {"TK_XNHN"}  # the form itself is still required


def test_a_birth_chain_requires_only_the_forms_of_the_chosen_sub_procedures() -> None:
    birth_and_residence = ["1.001193", "1.004194"]
    assert missing(BIRTH_CHAIN, ["TK_KS", "GCS", "CT01"], birth_and_residence) == set()
    assert missing(BIRTH_CHAIN, ["TK_KS", "GCS"], birth_and_residence) == {"CT01"}
    birth_and_insurance = ["1.001193", "1.002183"]
    assert missing(BIRTH_CHAIN, ["TK_KS", "GCS", "TK1_TS"], birth_and_insurance) == set()
    assert missing(BIRTH_CHAIN, ["TK_KS", "GCS", "CT01"], birth_and_insurance) == {"TK1_TS"}
    everything = ["1.001193", "1.004194", "1.002183"]
    assert missing(BIRTH_CHAIN, ["TK_KS"], everything) == {"GCS", "CT01", "TK1_TS"}


def test_a_death_chain_asks_for_the_funeral_allowance_form_only_when_it_is_chosen() -> None:
    death_and_allowance = ["1.000656", "1.001776"]
    assert missing(DEATH_CHAIN, ["TK_KT", "GBT", "TK_MT"], death_and_allowance) == set()
    assert missing(DEATH_CHAIN, ["TK_KT", "GBT"], death_and_allowance) == {"TK_MT"}
    assert missing(DEATH_CHAIN, ["TK_KT", "GBT", "CT01"], ["1.000656", "1.004206"]) == set()


def test_a_chain_without_its_mandatory_sub_procedure_is_refused_not_received_short() -> None:
    # Without birth registration, its papers would not be required: the choice is refused.
    with pytest.raises(SubmissionRefused) as refused:
        check_submission(
            intake_catalog("three_level"),
            submission(BIRTH_CHAIN, ["CT01", "TK1_TS"], ["1.004194", "1.002183"]),
        )
    assert refused.value.title == "Thiếu thủ tục liên thông bắt buộc"
    assert "1.001193" in refused.value.detail


def _paper(data: dict[str, Any], code: str) -> dict[str, Any]:
    paper: dict[str, Any] = next(d for d in data["documents"] if d["code"] == code)
    return paper


BAD_EDITS: dict[str, tuple[str, Any, str, str]] = {
    "a paper named if-any but required": (
        MARRIAGE_FILE,
        lambda p: _paper(p, "GT_HN").pop("optional"),
        f"procedure {MARRIAGE}",
        "document GT_HN is named 'nếu có': mark it optional: true",
    ),
    "a paper of a sub-procedure the chain does not offer": (
        BIRTH_CHAIN_FILE,
        lambda p: _paper(p, "CT01").update(subprocedures=["1.999999"]),
        f"procedure {BIRTH_CHAIN}",
        "document CT01: subprocedures ['1.999999'] are not options",
    ),
    "a sub-procedure's paper in a procedure without a chain": (
        MARRIAGE_FILE,
        lambda p: _paper(p, "TK_XNHN").update(subprocedures=["1.001193"]),
        f"procedure {MARRIAGE}",
        "document TK_XNHN: subprocedures ['1.001193'] are not options",
    ),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_reference_data_that_contradicts_the_paper_rules_is_refused(
    tmp_path: Path, case: str
) -> None:
    file, change, entry, problem = BAD_EDITS[case]
    root = copy_config(tmp_path, "three_level")
    edit_yaml(root / file, change)
    with pytest.raises(ReferenceDataError) as refusal:
        load_reference(root)
    assert refusal.value.file == str(root / file)
    assert refusal.value.entry == entry
    assert problem in refusal.value.problem
