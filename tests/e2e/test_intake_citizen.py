"""A citizen follows the dossier: looks it up, supplies missing papers, withdraws."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.test_intake_submission import new_portal, submit
from tests.support.infra import Infra
from tests.support.officials import Official
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, document, eventually

pytestmark = pytest.mark.e2e
PERSONAL = ("Nguyễn Thị Lan", "001190012345", "0912345678", "lan.nguyen@example.vn", "Thôn Đông")


@pytest.fixture(scope="module")
def portal(system: dict[str, ServiceProcess]) -> dict[str, Any]:
    return new_portal(system["intake"], [COMMUNE])


def view(intake: ServiceProcess, key: str, code: str) -> dict[str, Any]:
    response = httpx.get(f"{intake.url}/v1/dossiers/{code}", headers={"X-API-Key": key}, timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def act(intake: ServiceProcess, key: str, code: str, action: str, body: dict[str, Any]) -> Any:
    return httpx.post(
        f"{intake.url}/v1/dossiers/{code}/{action}",
        json=body,
        headers={"X-API-Key": key},
        timeout=10,
    )


def test_the_portal_sees_status_current_unit_and_deadlines_in_vietnam_time(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake, key = system["intake"], portal["api_key"]
    receipt = submit(intake, key, birth_registration()).json()
    seen = eventually(lambda: (v := view(intake, key, receipt["code"]))["deadlines"] and v)
    assert seen["status"] in (2, 4)
    assert seen["current_unit_detail"] == {
        "code": COMMUNE,
        "name": "Ủy ban nhân dân xã Đông Lâm",
        "level": "commune",
    }
    kinds = {d["kind"] for d in seen["deadlines"]}
    assert "dossier" in kinds or "step" in kinds
    times = [seen["received_at"], seen["appointment_at"]] + [d["due_at"] for d in seen["deadlines"]]
    assert all(t.endswith("+07:00") for t in times)
    assert all(e["occurred_at"].endswith("+07:00") for e in seen["timeline"])


def test_a_citizen_looks_up_by_code_and_phone_digits_without_seeing_personal_data(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake = system["intake"]
    code = submit(intake, portal["api_key"], birth_registration()).json()["code"]
    url = f"{intake.url}/v1/lookup/{code}"
    found = httpx.get(url, params={"phone_last4": "5678"}, timeout=5)
    assert found.status_code == 200
    assert found.json()["status_name"] in ("Được tiếp nhận", "Đang xử lý")
    assert found.json()["procedure_name"] == "Đăng ký khai sinh"
    assert not any(item in found.text for item in PERSONAL)
    wrong = httpx.get(url, params={"phone_last4": "0000"}, timeout=5)
    assert wrong.status_code == 404


def test_repeated_look_ups_of_one_code_are_slowed_down(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake = system["intake"]
    code = submit(intake, portal["api_key"], birth_registration()).json()["code"]
    url = f"{intake.url}/v1/lookup/{code}"
    answers = [httpx.get(url, params={"phone_last4": f"{n:04d}"}, timeout=5) for n in range(8)]
    statuses = [a.status_code for a in answers]
    assert statuses[:5] == [404] * 5  # guesses
    assert 429 in statuses[5:]
    refused = answers[statuses.index(429)]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1


def test_actions_that_make_no_sense_in_the_current_status_are_refused(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake, key = system["intake"], portal["api_key"]
    code = submit(intake, key, birth_registration()).json()["code"]
    paid = act(intake, key, code, "payment", {"amount_vnd": 100000, "receipt_ref": "KB-1"})
    assert paid.status_code == 409
    assert paid.headers["content-type"] == "application/problem+json"
    assert "nghĩa vụ tài chính" in paid.json()["title"]
    papers = {"documents": [document("GCS", "Giấy chứng sinh")]}
    assert act(intake, key, code, "supplements", papers).status_code == 409
    unknown = act(intake, key, "000.01.01.H99-000000-0000", "withdrawal", {"reason": "x"})
    assert unknown.status_code == 404


def test_supplied_papers_resume_the_work_and_the_same_supplement_is_not_sent_twice(
    system: dict[str, ServiceProcess], portal: dict[str, Any], infra: Infra
) -> None:
    intake, key = system["intake"], portal["api_key"]
    receipt = submit(intake, key, birth_registration()).json()
    clerk = Official(system["routing"].url, COMMUNE)
    task = clerk.task_of(receipt["id"], "khai_sinh")
    clerk.claim(task)
    clerk.ask_supplement(task, ["GCS"], "Giấy chứng sinh không rõ")
    eventually(lambda: view(intake, key, receipt["code"])["status"] == 5)

    papers = {"documents": [document("GCS", "Giấy chứng sinh (bản rõ)")]}
    accepted = act(intake, key, receipt["code"], "supplements", papers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["action"] == "supplement"
    # Sent once: whether the unit has answered yet or not, the same papers are refused.
    again = act(intake, key, receipt["code"], "supplements", papers)
    assert again.status_code == 409
    resumed = eventually(lambda: (v := view(intake, key, receipt["code"]))["status"] == 4 and v)
    assert ("intake", "dossier.supplement_submitted") in [
        (e["source"], e["event_type"]) for e in resumed["timeline"]
    ]
    event = asyncio.run(intake_event(infra, intake, receipt["id"], "dossier.supplement_submitted"))
    assert event["payload"]["documents"] == ["GCS"]


def test_a_withdrawal_request_closes_the_dossier_and_cannot_be_repeated(
    system: dict[str, ServiceProcess], portal: dict[str, Any]
) -> None:
    intake, key = system["intake"], portal["api_key"]
    code = submit(intake, key, birth_registration()).json()["code"]
    asked = act(intake, key, code, "withdrawal", {"reason": "Không còn nhu cầu"})
    assert asked.status_code == 202, asked.text
    eventually(lambda: view(intake, key, code)["status"] == 7)
    again = act(intake, key, code, "withdrawal", {"reason": "Không còn nhu cầu"})
    assert again.status_code == 409


def test_events_to_other_services_carry_a_contact_reference_not_personal_data(
    system: dict[str, ServiceProcess], portal: dict[str, Any], infra: Infra
) -> None:
    intake = system["intake"]
    receipt = submit(intake, portal["api_key"], birth_registration()).json()
    event = asyncio.run(intake_event(infra, intake, receipt["id"], "dossier.received"))
    contact_ref = event["payload"]["contact_ref"]
    # Opaque and random (128 bits, URL-safe): not the dossier id, which public answers show.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", contact_ref)
    assert contact_ref != receipt["id"] and contact_ref not in json.dumps(receipt)
    text = json.dumps(event, ensure_ascii=False)
    assert not any(item in text for item in PERSONAL)


async def intake_event(
    infra: Infra, intake: ServiceProcess, dossier_id: str, event_type: str
) -> dict[str, Any]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        value = await conn.fetchval(
            f"SELECT value FROM {intake.env['SCHEMA_PREFIX']}intake.outbox"
            " WHERE key = $1 AND event_type = $2 ORDER BY id DESC LIMIT 1",
            dossier_id,
            event_type,
        )
    finally:
        await conn.close()
    assert value is not None, f"no {event_type} in intake's outbox"
    event: dict[str, Any] = json.loads(bytes(value))
    return event
