"""Intake pushes every dossier and each of its processing steps to the national portal
(a stand-in of the project's), in order per dossier, through refusals, time-outs, a
crash of intake and a dead letter an operator replays."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from contracts.events import SPEC_BY_TYPE
from contracts.vietnam import VN_TZ
from services.intake.fakes.dvcqg_app import PortalState, create_app
from services.runtime.setup import ensure_topics
from tests.e2e.test_intake_submission import new_portal, submit
from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e
OPERATOR = {"X-Service-Token": OPS_TOKEN}
USERNAME = "tinh-thu-nghiem"
PASSWORD = "mat-khau-cong-quoc-gia-thu-nghiem-0123"
DSTCODE = "000.00.00.H99"
TIMEOUT_SECONDS = 1.0
MAX_ATTEMPTS = 4


@dataclass
class Stack:
    intake: ServiceProcess
    portal: PortalState
    portal_url: str
    prefix: str
    kafka: str
    api_key: str

    def control(self, **body: Any) -> None:
        r = httpx.post(f"{self.portal_url}/_control", json=body, timeout=5)
        assert r.status_code == 200, r.text

    def calls_for(self, code: str) -> list[dict[str, Any]]:
        """The portal's calls about one dossier, in the order they arrived."""
        return [
            c
            for c in list(self.portal.calls)
            if any(item.get("MaHoSo") == code for item in c["body"].get("data", []))
        ]

    def steps_held(self, code: str) -> list[dict[str, Any]]:
        return list(self.portal.steps.get(code, []))

    def pushes(self, state: str) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.intake.url}/v1/admin/dvcqg-pushes",
            params={"state": state, "limit": 500},
            headers=OPERATOR,
            timeout=5,
        )
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        return found

    def publish(self, dossier: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        """Routing's events for a dossier, with sequences after intake's own (1)."""

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.kafka)
            await producer.start()
            try:
                for n, (event_type, payload) in enumerate(events, start=1):
                    env = EventEnvelope(
                        event_type=event_type,
                        dossier_id=dossier["id"],
                        correlation_id=dossier["id"],
                        sequence=n,
                        producer="routing",
                        payload={
                            "dossier_code": dossier["code"],
                            "procedure_code": dossier["procedure_code"],
                            **payload,
                        },
                    )
                    await producer.send_and_wait(
                        self.prefix + SPEC_BY_TYPE[event_type].topic,
                        env.model_dump_json().encode(),
                        key=str(dossier["id"]).encode(),
                    )
            finally:
                await producer.stop()

        asyncio.run(send())


def serve_portal() -> Iterator[tuple[PortalState, str]]:
    app = create_app(USERNAME, PASSWORD)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield app.state.portal, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def stack(infra: Infra) -> Iterator[Stack]:
    """Intake on its own topics and schema, pushing to the stand-in national portal."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    for portal, url in serve_portal():
        env = isolated_env(
            infra,
            prefix,
            DVCQG_PUSH_URL=url,
            DVCQG_PUSH_USERNAME=USERNAME,
            DVCQG_PUSH_PASSWORD=PASSWORD,
            DVCQG_PUSH_DSTCODE=DSTCODE,
            DVCQG_PUSH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            DVCQG_PUSH_BACKOFF_SECONDS="0.2",
            DVCQG_PUSH_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
            DVCQG_PUSH_POLL_SECONDS="0.1",
        )
        intake = ServiceProcess("intake", "services.intake", env, free_port())
        intake.start()
        try:
            intake.wait_ready()
            key = new_portal(intake, [COMMUNE])["api_key"]
            yield Stack(intake, portal, url, prefix, infra.kafka_bootstrap, key)
        finally:
            intake.stop()


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    stack.control()  # nothing refused or slowed from an earlier test
    return stack


def received(stack: Stack) -> dict[str, Any]:
    r = submit(stack.intake, stack.api_key, birth_registration())
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def stamp(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")


AT = datetime(2026, 11, 30, 2, 15, tzinfo=UTC)  # 09:15 in Vietnam


def life(unit: str) -> list[tuple[str, dict[str, Any]]]:
    """Assigned, taken, a supplement (5), a payment (6), then stopped (8)."""
    task = {"task_id": "t1", "step_id": "civil_status", "unit_code": unit}
    minute = timedelta(minutes=1)
    return [
        (
            "step.assigned",
            {
                **task,
                "status": 2,
                "at": AT.isoformat(),
                "step_name": "Đăng ký khai sinh",
                "queue_level": "normal",
                "allotment_hours": "8",
            },
        ),
        ("step.claimed", {**task, "status": 4, "at": (AT + minute).isoformat(), "actor": "u7"}),
        (
            "dossier.supplement_requested",
            {
                "task_id": "t1",
                "unit_code": unit,
                "status": 5,
                "at": (AT + 2 * minute).isoformat(),
                "missing_documents": ["Giấy chứng sinh"],
            },
        ),
        (
            "dossier.processing_resumed",
            {"status": 4, "at": (AT + 3 * minute).isoformat(), "reason": "supplement"},
        ),
        (
            "dossier.obligation_requested",
            {
                "unit_code": unit,
                "status": 6,
                "at": (AT + 4 * minute).isoformat(),
                "amount_vnd": 8000,
            },
        ),
        (
            "dossier.processing_resumed",
            {"status": 4, "at": (AT + 5 * minute).isoformat(), "reason": "paid"},
        ),
        (
            "dossier.stopped",
            {
                "unit_code": unit,
                "status": 8,
                "at": (AT + 6 * minute).isoformat(),
                "reason": "Theo yêu cầu của cơ quan có thẩm quyền",
            },
        ),
    ]


def test_a_dossier_and_its_steps_arrive_in_order_in_the_portals_shape(fresh: Stack) -> None:
    dossier = received(fresh)
    code = dossier["code"]
    fresh.publish(dossier, life(COMMUNE))

    def all_arrived() -> list[dict[str, Any]] | None:
        calls = fresh.calls_for(code)
        return calls if len(calls) == 10 and "answer" in calls[-1] else None

    calls = eventually(all_arrived)
    services = [(c["body"]["service"], c["body"].get("isUpdating")) for c in calls]
    assert services == [("DongBoHoSoMC", "False")] + [("CapNhatTienDoHoSoMC", None)] * 8 + [
        ("DongBoHoSoMC", "True")
    ]
    assert all(c["answer"]["error_code"] == "0" for c in calls)
    assert all(c["problems"] == [] for c in calls)  # every value a string, dates as stamps
    assert {c["body"]["madonvi"] for c in calls} == {code.split("-")[0]}
    item = calls[0]["body"]["data"][0]
    assert item["MaHoSo"] == code
    assert item["MaTTHC"] == dossier["procedure_code"]
    assert item["TrangThaiHoSo"] == "2"
    received_at = datetime.fromisoformat(dossier["received_at"])
    assert item["NgayTiepNhan"] == stamp(received_at)
    assert item["NgayHenTra"] == stamp(datetime.fromisoformat(dossier["appointment_at"]))
    steps = [c["body"]["data"][0] for c in calls[1:9]]
    # 5, 6 and 8 are sent as they are, not flattened to 9.
    assert [s["TrangThai"] for s in steps] == ["2", "2", "4", "5", "4", "6", "4", "8"]
    assert steps[0]["NoiDungXuLy"] == "Tiếp nhận hồ sơ"
    assert steps[0]["ThoiDiemXuLy"] == stamp(received_at)
    assert steps[1]["NoiDungXuLy"] == "Chuyển xử lý: Đăng ký khai sinh"
    assert steps[1]["ThoiDiemXuLy"] == "20261130091500"  # Vietnam time, not UTC
    assert steps[2]["NguoiXuLy"] == "u7"
    assert steps[3]["NoiDungXuLy"] == "Yêu cầu bổ sung hồ sơ: Giấy chứng sinh"
    assert steps[7]["NoiDungXuLy"] == "Dừng xử lý: Theo yêu cầu của cơ quan có thẩm quyền"
    assert all(s["MaHoSo"] == code and s["PhongBanXuLy"] for s in steps)
    closed = calls[9]["body"]["data"][0]
    assert closed["TrangThaiHoSo"] == "8"
    assert closed["NgayKetThucXuLy"] == "20261130092100"
    assert fresh.steps_held(code) == steps
    login = fresh.portal.logins[0]
    assert login["dstcode"] == DSTCODE
    assert login["body"] == {"username": USERNAME, "password": PASSWORD}


def test_a_refusal_is_retried_until_the_portal_takes_it(fresh: Stack) -> None:
    fresh.control(refuse_next=2)
    dossier = received(fresh)
    code = dossier["code"]
    eventually(lambda: len(fresh.steps_held(code)) == 1)
    calls = fresh.calls_for(code)
    answers = [(c["body"]["service"], c["answer"]["error_code"]) for c in calls]
    assert answers == [
        ("DongBoHoSoMC", "-1"),
        ("DongBoHoSoMC", "-1"),
        ("DongBoHoSoMC", "0"),
        ("CapNhatTienDoHoSoMC", "0"),
    ]
    sent = [p for p in fresh.pushes("sent") if p["dossier_id"] == dossier["id"]]
    assert [(p["kind"], p["attempts"]) for p in sent] == [("dossier", 3), ("step", 1)]


def test_a_time_out_is_retried_without_a_second_effect(fresh: Stack) -> None:
    """The portal took the dossier but answered too late: the re-send hears "đã tồn
    tại", which counts as sent, and the step follows once."""
    fresh.control(slow_next=1, delay_ms=int(TIMEOUT_SECONDS * 3000))
    dossier = received(fresh)
    code = dossier["code"]
    eventually(lambda: len(fresh.steps_held(code)) == 1)
    calls = fresh.calls_for(code)
    assert calls[0].get("slow") is True
    assert [(c["body"]["service"], c["answer"]["message"]) for c in calls[:2]] == [
        ("DongBoHoSoMC", "Đồng bộ thành công"),
        ("DongBoHoSoMC", "Hồ sơ đã tồn tại"),
    ]
    assert fresh.portal.dossiers[code]["MaHoSo"] == code
    sent = [p for p in fresh.pushes("sent") if p["dossier_id"] == dossier["id"]]
    assert sent[0]["attempts"] == 2
    assert sent[0]["last_error"] == "network: ReadTimeout"
    assert sent[0]["answer"] == "Hồ sơ đã tồn tại"


def test_a_dossier_the_portal_already_has_counts_as_sent(fresh: Stack) -> None:
    fresh.control(refuse_next=1000)  # hold the first push until the portal knows the code
    dossier = received(fresh)
    code = dossier["code"]
    eventually(lambda: fresh.calls_for(code))
    fresh.control(known=[code])
    eventually(lambda: len(fresh.steps_held(code)) == 1, timeout=20)
    answers = [c["answer"]["message"] for c in fresh.calls_for(code)]
    assert "Hồ sơ đã tồn tại" in answers
    assert fresh.steps_held(code)[0]["NoiDungXuLy"] == "Tiếp nhận hồ sơ"
    assert not [p for p in fresh.pushes("dead") if p["dossier_id"] == dossier["id"]]


def test_a_crash_of_intake_mid_sequence_loses_nothing_and_reorders_nothing(
    fresh: Stack,
) -> None:
    fresh.control(slow_next=1000, delay_ms=150)  # each call takes a while: the crash lands
    dossier = received(fresh)
    code = dossier["code"]
    events = life(COMMUNE)[:6]  # 2, 4, 5, 4, 6, 4
    fresh.publish(dossier, events)
    eventually(lambda: len(fresh.steps_held(code)) >= 3)
    fresh.intake.kill()
    fresh.intake.start()
    fresh.intake.wait_ready()
    eventually(lambda: len(fresh.steps_held(code)) == 7, timeout=60)
    fresh.control()
    expected = ["2", "2", "4", "5", "4", "6", "4"]
    assert [s["TrangThai"] for s in fresh.steps_held(code)] == expected
    # Every call in arrival order: a step may be sent again after the crash, never one
    # before an earlier one.
    order = [
        fresh.steps_held(code).index(c["body"]["data"][0])
        for c in fresh.calls_for(code)
        if c["body"]["service"] == "CapNhatTienDoHoSoMC"
    ]
    assert order == sorted(order)
    assert set(order) == set(range(7))


def test_a_dead_push_is_replayed_by_an_operator_only(fresh: Stack) -> None:
    fresh.control(refuse_next=1000)  # the portal refuses everything for a while
    dossier = received(fresh)
    code = dossier["code"]

    def dead() -> list[dict[str, Any]]:
        found = [p for p in fresh.pushes("dead") if p["dossier_id"] == dossier["id"]]
        return found if len(found) == 2 else []

    pushes = eventually(dead, timeout=30)
    assert [(p["kind"], p["attempts"]) for p in pushes] == [
        ("dossier", MAX_ATTEMPTS),
        ("step", MAX_ATTEMPTS),
    ]
    assert pushes[0]["last_error"].startswith("error_code -1")
    # What the platform's NationalPortalPushesDead alert reads.
    metrics = httpx.get(f"{fresh.intake.url}/metrics", timeout=5).text
    counted = re.findall(r'^dvcqg_push_attempts_total\{outcome="(\w+)"\} (\S+)$', metrics, re.M)
    assert dict(counted).get("dead") is not None and float(dict(counted)["dead"]) >= 2
    assert float(dict(counted).get("retry", 0)) >= 2 * (MAX_ATTEMPTS - 1)
    fresh.control()  # the portal is back
    # Not an operator: refused, and the push stays dead.
    for headers in ({}, {"X-Service-Token": "not-a-token"}):
        r = httpx.post(
            f"{fresh.intake.url}/v1/admin/dvcqg-pushes/{pushes[0]['id']}/replay",
            headers=headers,
            timeout=5,
        )
        assert r.status_code in (401, 403), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert len(dead()) == 2
    for p in pushes:
        r = httpx.post(
            f"{fresh.intake.url}/v1/admin/dvcqg-pushes/{p['id']}/replay",
            headers=OPERATOR,
            timeout=5,
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "pending"
    eventually(lambda: len(fresh.steps_held(code)) == 1)
    assert fresh.portal.dossiers[code]["MaHoSo"] == code
    again = httpx.post(
        f"{fresh.intake.url}/v1/admin/dvcqg-pushes/{pushes[0]['id']}/replay",
        headers=OPERATOR,
        timeout=5,
    )
    assert again.status_code == 404  # sent now: nothing to replay
