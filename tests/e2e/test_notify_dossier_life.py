"""Dossiers worked by officials through routing's operator API; citizens hear each step.

Runs on the shared `system`: real intake, routing, SLA and notify processes, Kafka,
PostgreSQL, the aiosmtpd server and the Zalo/eSMS/Viettel fake gateways.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.credentials import PORTAL, ROUTING_TOKEN
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e
FINAL = {"delivered", "permanent_failure", "technical_failure"}


def _applicant(tag: str) -> dict[str, Any]:
    digits = int(hashlib.sha256(f"{tag}{uuid4()}".encode()).hexdigest(), 16) % 10**8
    return {
        "full_name": "Lê Thị Hoa",
        "citizen_id": "001190054321",
        "phone": f"03{digits:08d}",
        "email": f"{tag}.{uuid4().hex[:6]}@example.vn",
        "address": "Thôn Đông, xã Đông Lâm",
    }


class Desk:
    """A commune official (``canbo``) or the commune's head (``lanhdao``, who signs
    refusals, stops and the result handed back) at routing's operator API."""

    def __init__(self, routing: str, role: str = "canbo") -> None:
        self.routing = routing
        login = httpx.post(
            f"{routing}/v1/auth/login",
            json={"username": f"{role}@{COMMUNE}", "password": "demo"},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def task_of(self, dossier_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            inbox = httpx.get(
                f"{self.routing}/v1/inbox",
                params={"limit": 500},
                headers=self.headers,
                timeout=10,
            ).json()
            return next((t for t in inbox if t["dossier_id"] == dossier_id), None)

        return eventually(probe)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = httpx.post(f"{self.routing}{path}", json=body, headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def claim(self, dossier_id: str) -> str:
        task = self.task_of(dossier_id)
        self.post(
            f"/v1/tasks/{task['task_id']}/claim", {"expected_version": task["dossier_version"]}
        )
        return str(task["task_id"])


def submit(system: dict[str, ServiceProcess], tag: str) -> tuple[str, str, dict[str, Any]]:
    applicant = _applicant(tag)
    r = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(applicant=applicant),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["code"], applicant


def settled(notify: str, code: str, events: set[str]) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        messages = httpx.get(
            f"{notify}/v1/notifications",
            params={"dossier": code},
            headers={"X-Service-Token": ROUTING_TOKEN},  # as the console asks
            timeout=10,
        ).json()["messages"]
        done = all(
            m["status"] in FINAL or (m["status"] == "sent" and m["channel"] == "email")
            for m in messages
        )
        seen = {m["event_type"] for m in messages}
        return messages if seen == events and done else None

    return eventually(probe, timeout=60)


def mails_for(system: dict[str, ServiceProcess], code: str) -> list[dict[str, Any]]:
    mails: list[dict[str, Any]] = httpx.get(f"{system['devservers'].url}/_mail", timeout=10).json()
    return [m for m in mails if code in m["subject"]]


def test_a_dossier_asked_for_papers_then_stopped_tells_the_citizen_each_time(
    system: dict[str, ServiceProcess],
) -> None:
    desk, head = Desk(system["routing"].url), Desk(system["routing"].url, "lanhdao")
    dossier_id, code, applicant = submit(system, "supplement")
    task = desk.claim(dossier_id)
    desk.post(
        f"/v1/tasks/{task}/supplement",
        {"missing_documents": ["GCS"], "reason": "Giấy chứng sinh bị mờ"},
    )
    head.post(f"/v1/dossiers/{dossier_id}/stop", {"reason": "Công dân không bổ sung"})

    expected = {"dossier.received", "dossier.supplement_requested", "dossier.stopped"}
    messages = settled(system["notify"].url, code, expected)
    assert Counter((m["event_type"], m["channel"]) for m in messages) == {
        (event, channel): 1 for event in expected for channel in ("email", "zalo")
    }
    assert all(m["status"] in ("sent", "delivered") for m in messages)
    mails = mails_for(system, code)
    assert len(mails) == 3 and all(m["to"] == [applicant["email"]] for m in mails)
    supplement = next(m for m in mails if "bổ sung" in m["subject"])
    assert "Giấy chứng sinh hoặc giấy tờ thay thế Giấy chứng sinh" in supplement["text"]
    stopped = next(m for m in mails if "dừng xử lý" in m["subject"])
    assert "Công dân không bổ sung" in stopped["text"]


def test_a_dossier_worked_to_its_result_and_one_refused_are_announced_once_each(
    system: dict[str, ServiceProcess],
) -> None:
    desk, head = Desk(system["routing"].url), Desk(system["routing"].url, "lanhdao")
    done_id, done_code, _ = submit(system, "result")
    task = desk.claim(done_id)
    desk.post(f"/v1/tasks/{task}/complete", {"note": "Đã đăng ký"})
    refused_id, refused_code, _ = submit(system, "refused")
    head.post(f"/v1/dossiers/{refused_id}/refuse", {"reasons": ["Hồ sơ không hợp lệ"]})

    done = settled(system["notify"].url, done_code, {"dossier.received", "dossier.result_ready"})
    refused = settled(system["notify"].url, refused_code, {"dossier.received", "dossier.refused"})
    for messages in (done, refused):
        assert Counter(m["channel"] for m in messages) == {"email": 2, "zalo": 2}
    head.post(f"/v1/dossiers/{done_id}/return-result")
    assert len(mails_for(system, done_code)) == 2
    assert any("đã có kết quả" in m["subject"] for m in mails_for(system, done_code))
    refusal = [m for m in mails_for(system, refused_code) if "không tiếp nhận" in m["subject"]]
    assert len(refusal) == 1 and "Hồ sơ không hợp lệ" in refusal[0]["text"]
