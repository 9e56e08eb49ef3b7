"""The pure rules behind input normalisation: NFC text, one form of mobile number, ASCII
digits, JSON that every parser reads alike, and Vietnamese titles on every refusal.
(What a portal or a desk sees over HTTP: tests/e2e/test_intake_normalisation.py.)"""

from __future__ import annotations

import ast
import re
import unicodedata
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.bounds import canonical_mobile, nfc_tree
from contracts.intake_api import Applicant, DataSubjectRequest, DvcqgSync, SubmitDossier
from services.intake.handlers import request_hash
from services.runtime.problems import HTTP_TITLES
from services.runtime.strict_json import AmbiguousJson, check_json

SERVICES = Path(__file__).parents[2] / "services"
NAME = "Nguyễn Thị Lan"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def body(**applicant: Any) -> dict[str, Any]:
    return {
        "procedure_code": "1.001193",
        "receiving_unit": "000.01.01.H99",
        "channel": 1,
        "applicant": {
            "full_name": NAME,
            "citizen_id": "001190012345",
            "phone": "0912345678",
            "address": "Thôn Đông, xã Đông Lâm",
            **applicant,
        },
        "documents": [
            {
                "type_code": "GCS",
                "name": "Giấy chứng sinh",
                "checksum": "0" * 64,
                "storage_ref": "s3://gcs.pdf",
            }
        ],
        "summary": "Đăng ký khai sinh cho con",
    }


def decomposed(value: Any) -> Any:
    if isinstance(value, str):
        return nfd(value)
    if isinstance(value, list):
        return [decomposed(v) for v in value]
    if isinstance(value, dict):
        return {k: decomposed(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    "written",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84912345678",
        "+84 912.345.678",
        "+84 912 345 678",
        "84912345678",
        "84-912-345-678",
        "(+84) 912 345 678",
        "+84 (0) 912 345 678",
        "0084 912 345 678",
        "0912\u00a0345\u00a0678",  # no-break spaces, as copied from a web page
    ],
)
def test_a_mobile_number_in_any_common_written_form_is_kept_as_0_and_9_digits(
    written: str,
) -> None:
    assert canonical_mobile(written) == "0912345678"
    assert Applicant(full_name=NAME, citizen_id="001190012345", phone=written).phone == (
        "0912345678"
    )


@pytest.mark.parametrize(
    "written",
    [
        "０９１２３４５６７８",  # fullwidth digits (str.isdigit() says yes)
        "٠٩١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "०९१२३४५६७८",  # Devanagari digits
        "0212345678",  # a landline prefix
        "091234567",  # one digit short
        "912345678",  # no 0 and no 84: which is it?
        "8491234567",  # 84 and only 8 digits
        "+84+912345678",
        "0912345678 ext 1",
    ],
)
def test_other_digits_and_other_numbers_are_refused(written: str) -> None:
    with pytest.raises(ValueError, match=r"0-9|Vietnamese mobile") as refused:
        canonical_mobile(written)
    assert written not in str(refused.value)  # safe to log
    with pytest.raises(ValidationError):
        Applicant(full_name=NAME, citizen_id="001190012345", phone=written)


@pytest.mark.parametrize(
    "citizen_id", ["００１１９００１２３４５", "٠٠١١٩٠٠١٢٣٤٥", "00119001234５"]
)
def test_an_id_number_in_other_digits_is_refused_wherever_it_is_taken(citizen_id: str) -> None:
    assert citizen_id.isdigit()  # what a check with str.isdigit or \d would let through
    with pytest.raises(ValidationError):
        Applicant(full_name=NAME, citizen_id=citizen_id, phone="0912345678")
    with pytest.raises(ValidationError):
        DataSubjectRequest(citizen_id=citizen_id)


def test_text_is_kept_in_nfc_and_bounds_count_nfc_characters() -> None:
    sent = SubmitDossier.model_validate(decomposed(body()))
    assert sent.applicant.full_name == NAME
    assert unicodedata.is_normalized("NFC", sent.applicant.address)
    assert sent.documents[0].name == "Giấy chứng sinh"
    assert sent.summary == "Đăng ký khai sinh cho con"
    # 200 precomposed letters fit the 200-character bound however they were typed.
    long_name = "ễ" * 200
    assert len(nfd(long_name)) == 600
    assert Applicant(full_name=nfd(long_name), citizen_id="001190012345", phone="0912345678")


def test_the_idempotency_hash_is_the_same_for_every_spelling_of_one_dossier() -> None:
    composed = SubmitDossier.model_validate(body())
    spelt_otherwise = SubmitDossier.model_validate(decomposed(body(phone="+84 912.345.678")))
    assert request_hash(spelt_otherwise) == request_hash(composed)
    other = SubmitDossier.model_validate(body(full_name="Nguyễn Thị Lân"))
    assert request_hash(other) != request_hash(composed)


def test_a_national_sync_item_is_kept_in_nfc_keys_and_values() -> None:
    sync = DvcqgSync.model_validate(
        {"service": "DongBoHoSoMC", "data": [decomposed({"ChuHoSo": NAME, "x": [{"y": "Lê"}]})]}
    )
    assert sync.data == [{"ChuHoSo": NAME, "x": [{"y": "Lê"}]}]
    assert nfc_tree({nfd("khoá"): nfd("ồ")}) == {"khoá": "ồ"}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"channel": 2, "channel": 1}', "json_duplicate_key"),
        ('{"a": {"b": 1, "b": 1}}', "json_duplicate_key"),
        ('[{"k": 1}, {"k": 2, "k": 3}]', "json_duplicate_key"),
        ('{"khoá": 1, "khoa\u0301": 2}', "json_duplicate_key"),  # one key once in NFC
        ('{"x": NaN}', "json_not_finite"),
        ('{"x": Infinity}', "json_not_finite"),
        ('{"x": [-Infinity]}', "json_not_finite"),
        ('{"x": 1e400}', "json_not_finite"),  # Python reads it as inf
        ('{"x": -1e999}', "json_not_finite"),
    ],
)
def test_json_that_parsers_read_differently_is_refused(text: str, kind: str) -> None:
    with pytest.raises(AmbiguousJson) as refused:
        check_json(text.encode())
    assert refused.value.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1, "b": [1, 2.5, -3e10], "c": {"a": 1}}',
        b'{"x": "NaN", "y": "Infinity"}',  # strings: each model decides
        b"not json",  # left to the route (422 json_invalid)
        b"\xff\xfe",  # left to the route
        b"[" * 100_000,  # too deep: left to the route
    ],
)
def test_other_bodies_pass_the_check(text: bytes) -> None:
    check_json(text)


def test_every_client_error_status_has_a_vietnamese_title() -> None:
    client_errors = [s for s in HTTPStatus if 400 <= s < 500 and s not in (418,)]
    assert set(client_errors) <= set(HTTP_TITLES)
    assert all(VIETNAMESE.search(title) for title in HTTP_TITLES.values())


VIETNAMESE = re.compile(
    "[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I
)
REFUSALS = {"ProblemError", "problem_response", "SubmissionRefused"}
# Titles passed on from a value computed elsewhere, each checked where it is made.
PASSED_ON = {
    ("intake/entrypoints/http.py", "refused.title"),  # SubmissionRefused: checked below
    ("intake/entrypoints/unavailable.py", "refusal.title"),  # groupcommit's, literal
    ("notify/entrypoints/optouts.py", "title"),  # REFUSED_TITLES
    ("notify/entrypoints/receipts.py", "title"),  # module constants
    ("notify/entrypoints/ratings.py", "title"),  # _refuse: REFUSED_TITLES and constants
    ("routing/entrypoints/http.py", "authority.refusal_title(action)"),
    ("routing/console/stats.py", "exc.title"),  # PeriodError: PERIOD_TITLES
    ("runtime/problems.py", "exc.title"),  # ProblemError's own
    ("runtime/problems.py", "title or detail"),  # HTTP_TITLES
}


def _titles(path: Path) -> list[tuple[int, str | None, str]]:
    """(line, the title if it is a literal or a module constant, its source) of every
    refusal made in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[tuple[int, str | None, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name not in REFUSALS:
            continue
        position = 0 if name == "SubmissionRefused" else 1
        title = next((k.value for k in node.keywords if k.arg == "title"), None)
        if title is None and len(node.args) > position:
            title = node.args[position]
        assert title is not None, f"{path}:{node.lineno}: a refusal without a title"
        if isinstance(title, ast.Constant):
            found.append((node.lineno, str(title.value), ast.unparse(title)))
        elif isinstance(title, ast.Name) and title.id in constants:
            found.append((node.lineno, constants[title.id], title.id))
        elif isinstance(title, ast.JoinedStr):
            literal = "".join(str(v.value) for v in title.values if isinstance(v, ast.Constant))
            found.append((node.lineno, literal, ast.unparse(title)))
        else:
            found.append((node.lineno, None, ast.unparse(title)))
    return found


def test_every_refusal_a_service_makes_has_a_vietnamese_title() -> None:
    passed_on = set()
    for path in sorted(SERVICES.rglob("*.py")):
        where = str(path.relative_to(SERVICES))
        for line, title, source in _titles(path):
            if title is None:
                assert (where, source) in PASSED_ON, f"{where}:{line}: title from {source}"
                passed_on.add((where, source))
            else:
                assert VIETNAMESE.search(title), f"{where}:{line}: {title!r} is not Vietnamese"
    assert passed_on == PASSED_ON  # the list names no call that is gone


def test_the_titles_passed_on_are_vietnamese_too() -> None:
    from services.notify.entrypoints import optouts, ratings, receipts
    from services.routing.console.report_tables import PERIOD_TITLES
    from services.routing.domain import authority
    from services.routing.domain import commands as cmd

    titles = [
        *optouts.REFUSED_TITLES.values(),
        *ratings.REFUSED_TITLES.values(),
        ratings.ALREADY_RATED,
        receipts.UNAUTHENTICATED,
        receipts.STALE,
        receipts.FORBIDDEN_SOURCE,
        receipts.INVALID,
        *(authority.refusal_title(action) for action in authority.HEAD_SIGNED_NAMES),
        authority.refusal_title(cmd.Claim),
        *PERIOD_TITLES.values(),
    ]
    assert all(VIETNAMESE.search(title) for title in titles), titles
