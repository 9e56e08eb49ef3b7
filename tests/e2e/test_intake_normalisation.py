"""Portals and desks send what real clients send: text typed on a Mac (NFD) or pasted from
Word (NFC), phone numbers however people write them, digits from other scripts, JSON
with a key twice or a NaN, bodies streamed without a length. Intake keeps one form of
each (NFC text, 0 and 9 digits), refuses what it must (422 / 413 with a Vietnamese
title) and stores nothing it refused. The papers a dossier must hold follow the
procedure's list: "nếu có" papers are optional, a chain asks for the chosen forms only."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.test_intake_dvcqg import batch, igate_dossier
from tests.e2e.test_intake_submission import new_portal
from tests.support.credentials import NOTIFY_TOKEN
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, document

pytestmark = pytest.mark.e2e
NAME = "Nguyễn Thị Lan"
ADDRESS = "Thôn Đông, xã Đông Lâm"
SUMMARY = "Đăng ký khai sinh cho con"
PAPER = "Giấy chứng sinh"
LIMIT = 1_048_576
TIMEOUT = 30.0


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.fixture(scope="module")
def desk(system: dict[str, ServiceProcess]) -> dict[str, Any]:
    """The commune's reception desk: a key of its own, dossiers handed in person."""
    return new_portal(system["intake"], [COMMUNE])


def at_desk(**applicant: Any) -> dict[str, Any]:
    body = birth_registration(channel=1)
    body["applicant"].update(applicant)
    return body


def post(
    intake: ServiceProcess, key: str, path: str, content: bytes | Iterator[bytes], **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{intake.url}{path}",
        content=content,
        headers={"X-API-Key": key, "Content-Type": "application/json", **headers},
        timeout=TIMEOUT,
    )


def submit(
    intake: ServiceProcess, key: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return post(
        intake, key, "/v1/dossiers", json.dumps(body, ensure_ascii=False).encode(), **headers
    )


def problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["title"] == title
    return body


async def _rows(infra: Infra, intake: ServiceProcess, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute(f"SET search_path TO {intake.env['SCHEMA_PREFIX']}intake")
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def stored(infra: Infra, intake: ServiceProcess, code: str) -> dict[str, Any]:
    """What intake keeps of a dossier: applicant, papers, request (summary)."""
    [row] = asyncio.run(
        _rows(
            infra,
            intake,
            "SELECT applicant, documents, request, contact_ref FROM dossiers WHERE code = $1",
            code,
        )
    )
    return {
        "applicant": json.loads(row["applicant"]),
        "documents": json.loads(row["documents"]),
        "request": json.loads(row["request"]),
        "contact_ref": row["contact_ref"],
    }


def dossiers_of(infra: Infra, intake: ServiceProcess, portal_id: str) -> int:
    rows = asyncio.run(
        _rows(infra, intake, "SELECT count(*) AS n FROM dossiers WHERE portal_id = $1", portal_id)
    )
    return int(rows[0]["n"])


def contact_for_notify(intake: ServiceProcess, contact_ref: str) -> dict[str, Any]:
    """What notify's sender is given to text the citizen."""
    response = httpx.get(
        f"{intake.url}/internal/v1/contacts/{contact_ref}",
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# --- NFC -----------------------------------------------------------------------------


def test_a_dossier_typed_in_decomposed_unicode_is_stored_in_nfc(
    system: dict[str, ServiceProcess], infra: Infra, desk: dict[str, Any]
) -> None:
    intake = system["intake"]
    body = at_desk(full_name=nfd(NAME), address=nfd(ADDRESS))
    body["summary"] = nfd(SUMMARY)
    body["documents"] = [
        document("TK_KS", nfd("Tờ khai đăng ký khai sinh")),
        document("GCS", nfd(PAPER)),
    ]
    assert body["applicant"]["full_name"] != NAME  # what the portal sent is not NFC
    response = submit(intake, desk["api_key"], body)
    assert response.status_code == 201, response.text
    kept = stored(infra, intake, response.json()["code"])
    assert kept["applicant"]["full_name"] == NAME
    assert kept["applicant"]["address"] == ADDRESS
    assert kept["request"]["summary"] == SUMMARY
    assert [d["name"] for d in kept["documents"]] == ["Tờ khai đăng ký khai sinh", PAPER]
    receipt = httpx.get(
        f"{intake.url}/v1/dossiers/{response.json()['code']}/receipt",
        headers={"X-API-Key": desk["api_key"]},
        timeout=TIMEOUT,
    ).json()
    assert receipt["applicant_name"] == NAME


def test_a_retry_spelt_in_another_normal_form_gets_the_same_receipt_not_a_conflict(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    key = {"Idempotency-Key": f"nfc-{uuid.uuid4().hex}"}
    first = submit(intake, portal["api_key"], at_desk(full_name=NAME), **key)
    assert first.status_code == 201, first.text
    # The portal's retry went through another stack: NFD text, the phone written as +84.
    retry = at_desk(full_name=nfd(NAME), phone="+84 912.345.678")
    again = submit(intake, portal["api_key"], retry, **key)
    assert again.status_code == 201, again.text
    assert again.json()["code"] == first.json()["code"]
    other = submit(intake, portal["api_key"], at_desk(full_name="Nguyễn Thị Lân"), **key)
    problem(other, 409, "Idempotency-Key đã được dùng cho một hồ sơ khác")
    assert dossiers_of(infra, intake, portal["portal_id"]) == 1


# --- phone numbers -------------------------------------------------------------------

WRITTEN_FORMS = [
    "0912345678",
    "0912 345 678",
    "0912.345.678",
    "+84912345678",
    "+84 912.345.678",
    "84-912-345-678",
    "(+84) 912 345 678",
]


@pytest.mark.parametrize("written", WRITTEN_FORMS)
def test_a_mobile_number_written_any_common_way_is_stored_and_texted_as_0_and_9_digits(
    system: dict[str, ServiceProcess], infra: Infra, desk: dict[str, Any], written: str
) -> None:
    intake = system["intake"]
    response = submit(intake, desk["api_key"], at_desk(phone=written))
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    kept = stored(infra, intake, code)
    assert kept["applicant"]["phone"] == "0912345678"
    assert contact_for_notify(intake, kept["contact_ref"])["phone"] == "0912345678"
    # The citizen finds the dossier with the last digits of the number they wrote.
    found = httpx.get(f"{intake.url}/v1/lookup/{code}", params={"phone_last4": "5678"}, timeout=5)
    assert found.status_code == 200, found.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "０９１２３４５６７８"),  # fullwidth: str.isdigit() says yes
        ("phone", "٠٩١٢٣٤٥٦٧٨"),  # Arabic-Indic
        ("phone", "+84 912 345 67"),  # a digit short
        ("citizen_id", "００１１９００１２３４５"),
        ("citizen_id", "٠٠١١٩٠٠١٢٣٤٥"),
        ("citizen_id", "00119001234५"),  # one Devanagari digit
    ],
)
def test_numbers_in_other_digits_are_refused_naming_the_field_and_nothing_is_stored(
    system: dict[str, ServiceProcess], infra: Infra, field: str, value: str
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    body = problem(
        submit(intake, portal["api_key"], at_desk(**{field: value})), 422, "Dữ liệu không hợp lệ"
    )
    assert ["body", "applicant", field] in [e["loc"] for e in body["errors"]]
    assert dossiers_of(infra, intake, portal["portal_id"]) == 0


def test_a_lookup_with_other_digits_is_refused(
    system: dict[str, ServiceProcess], desk: dict[str, Any]
) -> None:
    intake = system["intake"]
    code = submit(intake, desk["api_key"], at_desk()).json()["code"]
    for digits in ("５６７８", "٥٦٧٨"):
        refused = httpx.get(
            f"{intake.url}/v1/lookup/{code}", params={"phone_last4": digits}, timeout=5
        )
        problem(refused, 422, "Dữ liệu không hợp lệ")


# --- JSON every parser reads alike ---------------------------------------------------


def test_a_body_with_a_key_twice_is_refused_and_nothing_is_stored(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    text = json.dumps(birth_registration(), ensure_ascii=False)
    # The portal's JSON says both "commune" and "district": which one did it mean?
    twice = text.replace(
        f'"receiving_unit": "{COMMUNE}"',
        f'"receiving_unit": "{COMMUNE}", "receiving_unit": "000.00.01.H99"',
    )
    assert twice != text
    body = problem(
        post(intake, portal["api_key"], "/v1/dossiers", twice.encode()), 422, "Dữ liệu không hợp lệ"
    )
    assert body["errors"][0]["type"] == "json_duplicate_key"
    assert "receiving_unit" in body["errors"][0]["msg"]
    nested = text.replace(
        '"full_name": "Nguyễn Thị Lan"', '"full_name": "Nguyễn Thị Lan", "full_name": "Lê Văn A"'
    )
    problem(
        post(intake, portal["api_key"], "/v1/dossiers", nested.encode()),
        422,
        "Dữ liệu không hợp lệ",
    )
    assert dossiers_of(infra, intake, portal["portal_id"]) == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_and_nothing_is_stored(
    system: dict[str, ServiceProcess], infra: Infra, number: str
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    text = json.dumps(birth_registration(), ensure_ascii=False).replace(
        '"channel": 2', f'"channel": {number}'
    )
    body = problem(
        post(intake, portal["api_key"], "/v1/dossiers", text.encode()), 422, "Dữ liệu không hợp lệ"
    )
    assert body["errors"][0]["type"] == "json_not_finite"
    hook = f'{{"url": "https://portal.example.vn/cb", "backoff_seconds": {number}}}'
    problem(
        post(intake, portal["api_key"], "/v1/webhooks", hook.encode()), 422, "Dữ liệu không hợp lệ"
    )
    listed = asyncio.run(
        _rows(
            infra,
            intake,
            "SELECT count(*) AS n FROM webhooks WHERE portal_id = $1",
            portal["portal_id"],
        )
    )
    assert listed[0]["n"] == 0
    assert dossiers_of(infra, intake, portal["portal_id"]) == 0


# --- the national portal's sync ------------------------------------------------------


def test_a_national_sync_push_is_normalised_like_any_other_dossier(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    item = igate_dossier(
        ChuHoSo=nfd(NAME), SoDienThoai="+84 912.345.678", TrichYeuHoSo=nfd(SUMMARY)
    )
    pushed = post(
        intake, portal["api_key"], "/v1/dvcqg/DongBoHoSoMC", json.dumps(batch(item)).encode()
    )
    assert pushed.status_code == 200, pushed.text
    [result] = pushed.json()["result"]
    assert result["error_code"] == "0", result
    kept = stored(infra, intake, result["MaHoSoTiepNhan"])
    assert kept["applicant"]["full_name"] == NAME
    assert kept["applicant"]["phone"] == "0912345678"
    assert kept["request"]["summary"] == SUMMARY

    fullwidth = igate_dossier(SoDienThoai="０９１２３４５６７８")
    refused = post(
        intake, portal["api_key"], "/v1/dvcqg/DongBoHoSoMC", json.dumps(batch(fullwidth)).encode()
    )
    assert refused.json()["result"][0]["error_code"] == "-1"
    twice = json.dumps(batch(igate_dossier()), ensure_ascii=False).replace(
        '"MaTTHC": "1.001193"', '"MaTTHC": "1.001193", "MaTTHC": "1.004873"'
    )
    problem(
        post(intake, portal["api_key"], "/v1/dvcqg/DongBoHoSoMC", twice.encode()),
        422,
        "Dữ liệu không hợp lệ",
    )
    assert dossiers_of(infra, intake, portal["portal_id"]) == 1


# --- limits for streamed bodies ------------------------------------------------------


def _streamed(prefix: bytes, size: int) -> Iterator[bytes]:
    yield prefix
    sent = 0
    while sent < size:
        yield b"x" * 65536
        sent += 65536
    yield b'"}]}'


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/v1/dossiers", b'{"procedure_code": "1.001193", "summary": "'),
        ("/v1/dvcqg/DongBoHoSoMC", b'{"service": "DongBoHoSoMC", "data": [{"TrichYeuHoSo": "'),
    ],
)
def test_a_chunked_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
    system: dict[str, ServiceProcess], infra: Infra, path: str, prefix: bytes
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    response = post(intake, portal["api_key"], path, _streamed(prefix, LIMIT))
    assert "content-length" not in response.request.headers  # chunked transfer encoding
    problem(response, 413, "Yêu cầu quá lớn")
    assert dossiers_of(infra, intake, portal["portal_id"]) == 0


# --- the papers a complete dossier holds ---------------------------------------------


def test_a_paper_marked_if_any_is_not_required_at_the_desk(
    system: dict[str, ServiceProcess], desk: dict[str, Any]
) -> None:
    body = at_desk()
    body.update(
        procedure_code="1.004873",
        documents=[document("TK_XNHN", "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân")],
        summary="Xác nhận tình trạng hôn nhân",
    )
    response = submit(system["intake"], desk["api_key"], body)
    assert response.status_code == 201, response.text


def test_a_chain_asks_only_for_the_forms_of_the_sub_procedures_the_citizen_chose(
    system: dict[str, ServiceProcess], desk: dict[str, Any]
) -> None:
    intake = system["intake"]
    birth = [document("TK_KS", "Tờ khai đăng ký khai sinh"), document("GCS", PAPER)]
    body = at_desk()
    # Birth registration and permanent residence; no health-insurance card, no TK1-TS form.
    body.update(
        procedure_code="1.012601",
        chosen_subprocedures=["1.001193", "1.004194"],
        documents=[*birth, document("CT01", "Tờ khai thay đổi thông tin cư trú")],
    )
    received = submit(intake, desk["api_key"], body)
    assert received.status_code == 201, received.text
    body["documents"] = birth
    refused = problem(submit(intake, desk["api_key"], body), 422, "Hồ sơ chưa đầy đủ")
    assert [d["type_code"] for d in refused["missing_documents"]] == ["CT01"]
