"""A provincial portal submits dossiers to intake: checks, idempotency, numbering, receipt."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra
from tests.support.portal import submit_as_portal
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, document

pytestmark = pytest.mark.e2e
OTHER_COMMUNE = "000.02.01.H99"
DISTRICT = "000.00.01.H99"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def new_portal(intake: ServiceProcess, units: list[str]) -> dict[str, Any]:
    response = httpx.post(
        f"{intake.url}/v1/admin/portals",
        json={"name": "Cổng DVC thử nghiệm", "units": units},
        headers={"X-Service-Token": OPS_TOKEN},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def portal(system: dict[str, ServiceProcess]) -> dict[str, Any]:
    return new_portal(system["intake"], [COMMUNE, OTHER_COMMUNE, DISTRICT])


def submit(
    intake: ServiceProcess, key: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{intake.url}/v1/dossiers",
        json=body,
        headers={"X-API-Key": key, **headers},
        timeout=30,
    )


async def count_dossiers(infra: Infra, intake: ServiceProcess, portal_id: str) -> int:
    conn = await asyncpg.connect(infra.database_url)
    try:
        schema = f"{intake.env['SCHEMA_PREFIX']}intake"
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {schema}.dossiers WHERE portal_id = $1", portal_id
            )
        )
    finally:
        await conn.close()


def test_a_complete_dossier_gets_a_national_code_and_an_appointment_in_vietnam_time(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    response = submit(system["intake"], portal["api_key"], birth_registration())
    assert response.status_code == 201, response.text
    receipt = response.json()
    today = datetime.now(VN).strftime("%y%m%d")
    agency, day, number = receipt["code"].rsplit("-", 2)
    assert (agency, day) == (COMMUNE, today)
    assert len(number) == 4 and number.isdigit()
    assert receipt["status"] == 2
    assert receipt["appointment_at"].endswith("+07:00")
    assert receipt["appointment_at"] > receipt["clock_started_at"]


def test_an_incomplete_dossier_is_refused_naming_every_missing_paper_and_nothing_is_kept(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    own = new_portal(system["intake"], [COMMUNE])
    body = birth_registration(documents=[])
    response = submit(system["intake"], own["api_key"], body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Hồ sơ chưa đầy đủ"
    assert {d["type_code"] for d in problem["missing_documents"]} == {"TK_KS", "GCS"}
    assert asyncio.run(count_dossiers(infra, system["intake"], own["portal_id"])) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("citizen_id", "00119001234"),  # 11 digits
        ("citizen_id", "00119001234X"),
        ("phone", "0212345678"),  # not a mobile prefix
        ("phone", "091234567"),
        ("email", "lan.nguyen@"),
    ],
)
def test_applicant_identity_and_contact_must_have_valid_forms(
    system: dict[str, ServiceProcess], portal: dict[str, Any], field: str, value: str
) -> None:
    body = birth_registration()
    body["applicant"][field] = value
    response = submit(system["intake"], portal["api_key"], body)
    assert response.status_code == 422
    assert any(field in e["loc"] for e in response.json()["errors"])


def test_a_procedure_not_received_at_the_unit_is_refused(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    # Birth registration is a commune procedure; a district does not receive it.
    response = submit(
        system["intake"], portal["api_key"], birth_registration(receiving_unit=DISTRICT)
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Thủ tục không áp dụng tại đơn vị này"


def test_an_oversized_request_is_refused_with_a_problem_document(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    body = birth_registration(summary="x" * (1024 * 1024 + 10))
    response = submit(system["intake"], portal["api_key"], body)
    assert response.status_code == 413
    assert response.json()["title"] == "Yêu cầu quá lớn"


def test_keys_are_checked_and_scoped_to_their_units(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"]
    one_commune = new_portal(intake, [COMMUNE])
    elsewhere = birth_registration(receiving_unit=OTHER_COMMUNE)
    forbidden = submit(intake, one_commune["api_key"], elsewhere)
    assert forbidden.status_code == 403
    assert submit(intake, "ok_not-a-real-key", birth_registration()).status_code == 401
    accepted = submit(intake, one_commune["api_key"], birth_registration())
    assert accepted.status_code == 201
    # Another portal's key does not see this portal's dossier.
    other = new_portal(intake, [OTHER_COMMUNE])
    code = accepted.json()["code"]
    seen = httpx.get(
        f"{intake.url}/v1/dossiers/{code}", headers={"X-API-Key": other["api_key"]}, timeout=5
    )
    assert seen.status_code == 404


def test_a_retry_with_the_same_key_returns_the_original_receipt_and_another_body_is_409(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake, key = system["intake"], portal["api_key"]
    first = submit(intake, key, birth_registration(), **{"Idempotency-Key": "retry-0001"})
    again = submit(intake, key, birth_registration(), **{"Idempotency-Key": "retry-0001"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    changed = submit(
        intake, key, birth_registration(summary="Khác"), **{"Idempotency-Key": "retry-0001"}
    )
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"


def test_concurrent_retries_with_one_key_receive_one_dossier(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    own = new_portal(intake, [COMMUNE])

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    submit_as_portal(
                        client,
                        f"{intake.url}/v1/dossiers",
                        birth_registration(),
                        {"X-API-Key": own["api_key"], "Idempotency-Key": "same-click"},
                    )
                    for _ in range(20)
                )
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["code"] for r in responses}) == 1
    assert asyncio.run(count_dossiers(infra, intake, own["portal_id"])) == 1


def test_500_concurrent_submissions_to_one_agency_get_500_consecutive_numbers(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    own = new_portal(intake, [OTHER_COMMUNE])
    body = birth_registration(receiving_unit=OTHER_COMMUNE)

    async def one(client: httpx.AsyncClient, n: int) -> httpx.Response:
        # As a portal does: a key per dossier, so a retry after a dropped connection or a
        # 503 is safe.
        headers = {"X-API-Key": own["api_key"], "Idempotency-Key": f"flood-{n}"}
        return await submit_as_portal(client, f"{intake.url}/v1/dossiers", body, headers)

    async def flood() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(*(one(client, n) for n in range(500)))

    responses = asyncio.run(flood())
    assert [r.status_code for r in responses if r.status_code != 201] == []
    numbers = sorted(int(r.json()["code"].rsplit("-", 1)[1]) for r in responses)
    assert len(set(numbers)) == 500
    assert numbers == list(range(numbers[0], numbers[0] + 500))

    async def all_numbers_today() -> list[int]:
        conn = await asyncpg.connect(infra.database_url)
        try:
            schema = f"{intake.env['SCHEMA_PREFIX']}intake"
            rows = await conn.fetch(
                f"SELECT code FROM {schema}.dossiers WHERE agency_code = $1 AND code LIKE $2",
                OTHER_COMMUNE,
                f"{OTHER_COMMUNE}-{datetime.now(VN):%y%m%d}-%",
            )
            return sorted(int(r["code"].rsplit("-", 1)[1]) for r in rows)
        finally:
            await conn.close()

    every = asyncio.run(all_numbers_today())
    assert every == list(range(1, len(every) + 1)), "the agency's daily sequence has a gap"


def test_the_receipt_is_form_01_as_data_and_as_a_printable_vietnamese_page(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake, key = system["intake"], portal["api_key"]
    docs = [
        document("TK_KS", "Tờ khai đăng ký khai sinh"),
        document("GCS", "Giấy chứng sinh <script>alert(1)</script>"),
    ]
    code = submit(intake, key, birth_registration(documents=docs)).json()["code"]
    headers = {"X-API-Key": key}
    form = httpx.get(f"{intake.url}/v1/dossiers/{code}/receipt", headers=headers, timeout=5).json()
    assert form["code"] == code
    assert form["applicant_name"] == "Nguyễn Thị Lan"
    assert form["receiving_unit_name"] == "Ủy ban nhân dân xã Đông Lâm"
    assert [d["type_code"] for d in form["documents"]] == ["TK_KS", "GCS"]
    page = httpx.get(f"{intake.url}/v1/dossiers/{code}/receipt.html", headers=headers, timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in html
    assert code in html and "Nguyễn Thị Lan" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    appointment = datetime.fromisoformat(form["appointment_at"])
    assert f"ngày {appointment:%d} tháng {appointment:%m} năm {appointment:%Y}" in html
