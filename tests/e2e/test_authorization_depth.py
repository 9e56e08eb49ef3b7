"""Threat 12, authorisation depth, as the attacker tries it against the running system.

An official who is not the head tries to sign what only the head signs (refusal, stop,
the result handed back); the head of another unit tries the same; an official probes
task and dossier ids of other units to learn who holds what. Each attempt is refused and
leaves the dossier, the inbox and the audit trail as they were. And every read of a
dossier's personal data leaves a row the province supervisor can read.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.credentials import bearer
from tests.support.officials import (
    DONG_LAM,
    DONG_PHU,
    TIMEOUT,
    Official,
    application,
    public_view,
    submit,
)
from tests.support.processes import ServiceProcess
from tests.support.story import eventually

pytestmark = pytest.mark.e2e
BIRTH = "1.001193"  # one step at the commune, then the result is ready at the desk
SUPERVISOR = "giamsat"


def supervisor_get(routing: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{routing}{path}", headers=bearer(routing, SUPERVISOR), params=params, timeout=TIMEOUT
    )


def supervisor_post(routing: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{routing}{path}", headers=bearer(routing, SUPERVISOR), json=body, timeout=TIMEOUT
    )


def snapshot(head: Official, clerk: Official, dossier: str) -> dict[str, Any]:
    """What an attempt must not change: routing's state and audit trail, and the task
    in the unit's inbox."""
    seen = head.must(head.workflow(dossier))
    task = next(
        (t for t in clerk.inbox(status="active", limit=500) if t["dossier_id"] == dossier), None
    )
    return {
        "status": seen["status"],
        "version": seen["version"],
        "steps": seen["steps"],
        "audit": seen["audit"],
        "task": None
        if task is None
        else {k: task[k] for k in ("task_id", "status", "claimed_by", "dossier_version")},
    }


def assert_forbidden_to_officials(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == f"Chỉ lãnh đạo đơn vị được {what}"


def indistinguishable(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    assert a.headers["content-type"] == b.headers["content-type"] == "application/problem+json"
    assert a.content == b.content  # not one byte tells the two apart


def test_an_official_cannot_refuse_or_stop_and_the_head_refuses(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    clerk, head = Official(routing, DONG_LAM), Official(routing, DONG_LAM, role="lanhdao")
    clerk.task_of(dossier, "khai_sinh")  # at the desk, not yet worked on (status 2)
    before = snapshot(head, clerk, dossier)
    assert before["status"] == 2
    assert before["task"] is not None and before["task"]["status"] == "open"

    refused = clerk.refuse(dossier, "Giấy chứng sinh là bản sao")
    assert_forbidden_to_officials(refused, "từ chối tiếp nhận hồ sơ (mẫu 03)")
    stopped = clerk.stop(dossier, "Tự ý dừng")
    assert_forbidden_to_officials(stopped, "dừng xử lý hồ sơ (mẫu 05)")
    early = clerk.return_result(dossier)
    assert_forbidden_to_officials(early, "trả kết quả cho công dân")
    # The head of the neighbouring commune signs nothing here: for them the dossier
    # does not exist.
    other_head = Official(routing, DONG_PHU, role="lanhdao")
    assert other_head.refuse(dossier, "không phải việc của xã").status_code == 404
    assert other_head.stop(dossier, "không phải việc của xã").status_code == 404

    assert snapshot(head, clerk, dossier) == before
    assert public_view(intake, receipt["code"])["status"] == 2

    signed = head.refuse(dossier, "Giấy chứng sinh là bản sao")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == 3
    audit = head.must(head.workflow(dossier))["audit"]
    assert [(a["actor"], a["role"], a["action"]) for a in audit[len(before["audit"]) :]] == [
        (head.username, "unit_head", "Refuse")
    ]
    assert all(a["actor"] != clerk.username for a in audit)
    assert all(t["dossier_id"] != dossier for t in clerk.inbox())


def test_an_official_cannot_hand_back_the_result_and_the_head_does(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    clerk, head = Official(routing, DONG_LAM), Official(routing, DONG_LAM, role="lanhdao")
    assert clerk.work(dossier, "khai_sinh", "GKS-0042/2026")["status"] == 9
    before = snapshot(head, clerk, dossier)
    assert before["status"] == 9

    assert_forbidden_to_officials(clerk.return_result(dossier), "trả kết quả cho công dân")
    assert_forbidden_to_officials(clerk.stop(dossier, "Thôi"), "dừng xử lý hồ sơ (mẫu 05)")
    other_head = Official(routing, DONG_PHU, role="lanhdao")
    assert other_head.return_result(dossier).status_code == 404
    assert snapshot(head, clerk, dossier) == before

    handed = head.return_result(dossier)
    assert handed.status_code == 200, handed.text
    assert handed.json()["status"] == 10
    eventually(lambda: public_view(intake, receipt["code"])["status"] == 10)


def test_the_province_supervisor_signs_for_the_desk(system: dict[str, ServiceProcess]) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    clerk = Official(routing, DONG_LAM)
    clerk.task_of(dossier, "khai_sinh")
    stopped = supervisor_post(routing, f"/v1/dossiers/{dossier}/stop", {"reason": "Sai thẩm quyền"})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == 8
    audit = clerk.head().must(clerk.head().workflow(dossier))["audit"]
    assert (audit[-1]["actor"], audit[-1]["role"], audit[-1]["action"]) == (
        SUPERVISOR,
        "province_supervisor",
        "Stop",
    )


def test_probing_other_units_ids_tells_nothing_about_who_holds_them(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier, code = receipt["id"], receipt["code"]
    clerk = Official(routing, DONG_LAM)
    task = clerk.task_of(dossier, "khai_sinh")
    before = snapshot(clerk.head(), clerk, dossier)
    prober, prober_head = Official(routing, DONG_PHU), Official(routing, DONG_PHU, role="lanhdao")
    nobody = str(uuid.uuid4())
    no_task = f"{nobody}:khai_sinh:1"
    no_code = f"{DONG_LAM}-991231-9999"

    # Tasks: claim, complete, record a result, ask for papers.
    version = {"expected_version": task["dossier_version"]}
    for who in (prober, prober_head):
        indistinguishable(
            who.post(f"/v1/tasks/{task['task_id']}/claim", version),
            who.post(f"/v1/tasks/{no_task}/claim", version),
        )
        indistinguishable(
            who.post(f"/v1/tasks/{task['task_id']}/complete"),
            who.post(f"/v1/tasks/{no_task}/complete"),
        )
        papers = {"papers": ["GKS-1"]}
        indistinguishable(
            who.post(f"/v1/tasks/{task['task_id']}/result", papers),
            who.post(f"/v1/tasks/{no_task}/result", papers),
        )
        ask = {"missing_documents": ["GCS"], "reason": "thử"}
        indistinguishable(
            who.post(f"/v1/tasks/{task['task_id']}/supplement", ask),
            who.post(f"/v1/tasks/{no_task}/supplement", ask),
        )
        # Dossiers: the workflow and the console's dossier page.
        indistinguishable(who.workflow(dossier), who.workflow(nobody))
        indistinguishable(
            who.get(f"/console/api/dossiers/{code}"), who.get(f"/console/api/dossiers/{no_code}")
        )
        indistinguishable(
            who.get(f"/console/api/dossiers/{dossier}"),
            who.get(f"/console/api/dossiers/{nobody}"),
        )
    # The head's signatures: the same answer as for a dossier nobody has.
    indistinguishable(prober_head.refuse(dossier, "thử"), prober_head.refuse(nobody, "thử"))
    indistinguishable(prober_head.stop(dossier, "thử"), prober_head.stop(nobody, "thử"))
    indistinguishable(prober_head.return_result(dossier), prober_head.return_result(nobody))
    # The console and the operator API word "not found" alike.
    assert (
        prober.workflow(dossier).json()["title"]
        == prober.get(f"/console/api/dossiers/{code}").json()["title"]
        == "Không tìm thấy hồ sơ"
    )

    assert snapshot(clerk.head(), clerk, dossier) == before
    # Probes that found nothing read nothing: no read is recorded for the prober.
    reads = supervisor_get(routing, "/v1/audit/reads", dossier=dossier).json()["reads"]
    assert all(r["unit_code"] != DONG_PHU for r in reads)


def test_every_read_of_a_dossier_is_in_the_read_trail_for_the_supervisor(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier, code = receipt["id"], receipt["code"]
    clerk = Official(routing, DONG_LAM)
    clerk.task_of(dossier, "khai_sinh")
    assert supervisor_get(routing, "/v1/audit/reads", dossier=dossier).json()["reads"] == []

    assert clerk.workflow(dossier).status_code == 200
    page = clerk.get(f"/console/api/dossiers/{code}")
    assert page.status_code == 200, page.text

    trail = supervisor_get(routing, "/v1/audit/reads", dossier=dossier)
    assert trail.status_code == 200, trail.text
    reads = trail.json()["reads"]
    assert [(r["actor"], r["role"], r["unit_code"], r["what"]) for r in reads] == [
        (clerk.username, "official", DONG_LAM, "console.dossier"),  # newest first
        (clerk.username, "official", DONG_LAM, "operator.workflow"),
    ]
    assert all(r["dossier_id"] == dossier and r["dossier_code"] == code for r in reads)
    assert "messages" in reads[0]["parts"] and "audit" in reads[1]["parts"]
    assert reads[0]["at"] >= reads[1]["at"]
    # The same trail by the dossier's code, and by the reader.
    by_code = supervisor_get(routing, "/v1/audit/reads", dossier=code).json()["reads"]
    assert by_code == reads
    mine = supervisor_get(routing, "/v1/audit/reads", actor=clerk.username, limit=1000)
    assert {r["id"] for r in reads} <= {r["id"] for r in mine.json()["reads"]}

    # The trail itself is the supervisor's: officials and heads are refused.
    for who in (clerk, clerk.head()):
        refused = who.get("/v1/audit/reads", dossier=dossier)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert (
            refused.json()["title"] == "Chỉ giám sát cấp tỉnh xem nhật ký truy cập dữ liệu cá nhân"
        )
    later = supervisor_get(routing, "/v1/audit/reads", dossier=dossier).json()["reads"]
    assert later == reads  # reading the trail is not a read of the dossier
