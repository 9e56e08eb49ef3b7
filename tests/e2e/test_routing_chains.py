"""Every shipped chain, end to end over real Kafka and PostgreSQL: a portal submits at
intake, officials of each unit log in and work their inbox, agency systems answer by
callback, the citizen supplies papers or pays, and the desk hands over the result."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.officials import (
    DISTRICT_LABOUR,
    DISTRICT_LAND_OFFICE,
    DISTRICT_SOCIAL_INSURANCE,
    DISTRICT_TAX,
    DONG_LAM,
    DONG_LAM_POLICE,
    DONG_PHU,
    Citizen,
    Official,
    StatusWatch,
    agency_answers,
    application,
    legal_path,
    never_backwards,
    public_view,
    publish_event,
    submit,
)
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import eventually

pytestmark = pytest.mark.e2e

BIRTH_CHAIN = "1.012601"
DEATH_CHAIN = "1.012602"
LAND_TAX = "1.012603"
MARRIAGE_STATUS = "1.004873"
BIRTH = "1.001193"


def urls(system: dict[str, ServiceProcess]) -> tuple[str, str]:
    return system["intake"].url, system["routing"].url


def routing_events(intake: str, code: str, event_type: str) -> list[dict[str, Any]]:
    view = public_view(intake, code)
    return [
        e["details"]
        for e in view["timeline"]
        if e["source"] == "routing" and e["event_type"] == event_type
    ]


def finish_at_desk(desk: Official, watch: StatusWatch) -> dict[str, Any]:
    """The result is ready at the desk; the head of the desk's unit signs it over to the
    citizen (an official may not)."""
    watch.reaches(9)
    head = desk.head()
    response = head.return_result(watch.receipt["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == 10
    view = watch.reaches(10)
    assert never_backwards(watch.seen), watch.seen
    assert legal_path(watch.routing_statuses_in_order())
    return view


def test_birth_residence_and_health_insurance_for_a_newborn(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH_CHAIN, chosen=[BIRTH, "1.004194", "1.002183"]))
    dossier = receipt["id"]
    watch = StatusWatch(intake, receipt)

    # The commune's civil-status official registers the birth.
    clerk = Official(routing, DONG_LAM)
    first = clerk.task_of(dossier, "khai_sinh")
    assert first["procedure_code"] == BIRTH_CHAIN
    # SLA opened the step's deadline; the inbox shows when it falls due.
    eventually(lambda: clerk.task_of(dossier, "khai_sinh")["due_at"])
    clerk.claim(first)
    clerk.record_result(first, "GKS-0001/2026")
    after_birth = clerk.complete(first)
    assert after_birth["status"] == 4
    waiting = {w["party"]: w for w in after_birth["waiting_on"]}
    assert waiting["unit"]["unit_code"] == DONG_LAM_POLICE
    assert waiting["agency"]["unit_code"] == DISTRICT_SOCIAL_INSURANCE
    watch.reaches(4)

    # In parallel: the commune police register residence, social insurance's system
    # issues the health-insurance card and answers by callback.
    police = Official(routing, DONG_LAM_POLICE)
    police.work(dossier, "thuong_tru")
    social_insurance = Official(routing, DISTRICT_SOCIAL_INSURANCE)
    bhyt = social_insurance.task_of(dossier, "the_bhyt", status="waiting")
    correlation = waiting["agency"]["correlation_id"]
    assert bhyt["task_id"] == correlation
    assert agency_answers(routing, correlation, token="wrong").status_code == 403
    answered = agency_answers(routing, correlation)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == 9
    assert agency_answers(routing, correlation).status_code == 409  # answered once only

    finish_at_desk(clerk, watch)

    # Form 06: one line per hand-off, each naming the task that finished.
    assigned = {e["task_id"]: e for e in routing_events(intake, receipt["code"], "step.assigned")}
    lines = routing_events(intake, receipt["code"], "step.handed_off")
    assert sorted((line["from_unit"], line["to_unit"]) for line in lines) == sorted(
        [
            (DONG_LAM, DONG_LAM_POLICE),
            (DONG_LAM, DISTRICT_SOCIAL_INSURANCE),
            (DONG_LAM_POLICE, DONG_LAM),
            (DISTRICT_SOCIAL_INSURANCE, DONG_LAM),
        ]
    )
    for line in lines:
        assert line["task_id"] in assigned, line
        assert assigned[line["task_id"]]["unit_code"] == line["from_unit"]

    # Every action is in the audit trail: who, in which role and unit, when.
    trail = clerk.workflow(dossier).json()["audit"]
    actions = [(a["actor"], a["role"], a["unit_code"], a["action"]) for a in trail]
    assert ("intake", "system", None, "Start") in actions
    assert (f"canbo@{DONG_LAM}", "official", DONG_LAM, "Claim") in actions
    assert (f"canbo@{DONG_LAM_POLICE}", "official", DONG_LAM_POLICE, "Complete") in actions
    assert ("agency", "system", None, "ExternalAnswered") in actions
    # The result was signed over by the head of the desk's unit, not by the clerk.
    assert (f"lanhdao@{DONG_LAM}", "unit_head", DONG_LAM, "ReturnResult") in actions
    assert all(a["at"] for a in trail)


@pytest.mark.parametrize(
    ("chosen", "units"),
    [
        (["1.000656", "1.004206"], {"xoa_thuong_tru": DONG_LAM_POLICE}),
        (
            ["1.000656", "1.004206", "1.001776", "1.002128"],
            {
                "xoa_thuong_tru": DONG_LAM_POLICE,
                "tro_cap_mai_tang": DISTRICT_LABOUR,
                "tu_tuat": DISTRICT_SOCIAL_INSURANCE,
            },
        ),
    ],
    ids=["two-procedures", "all-four-procedures"],
)
def test_death_registration_chain_runs_the_procedures_the_family_chose(
    system: dict[str, ServiceProcess], chosen: list[str], units: dict[str, str]
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(DEATH_CHAIN, chosen=chosen))
    dossier = receipt["id"]
    watch = StatusWatch(intake, receipt)

    clerk = Official(routing, DONG_LAM)
    after_death = clerk.work(dossier, "khai_tu", "TT-KT-0007/2026")
    handed_to = {w["unit_code"] for w in after_death["waiting_on"]}
    assert handed_to == set(units.values())

    for step_id, unit in units.items():
        Official(routing, unit).work(dossier, step_id)

    finish_at_desk(clerk, watch)
    lines = routing_events(intake, receipt["code"], "step.handed_off")
    assert len(lines) == 2 * len(units)  # to each unit, and from each back to the desk


def test_land_registration_waits_for_the_financial_obligation_then_returns_the_title(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(LAND_TAX))
    dossier = receipt["id"]
    watch = StatusWatch(intake, receipt)

    desk = Official(routing, DONG_LAM)
    desk.work(dossier, "tiep_nhan")
    Official(routing, DISTRICT_LAND_OFFICE).work(dossier, "van_phong_dang_ky")

    tax = Official(routing, DISTRICT_TAX)
    task = tax.task_of(dossier, "xac_dinh_nghia_vu")
    tax.claim(task)
    refused = tax.post(f"/v1/tasks/{task['task_id']}/complete", {"note": ""})
    assert refused.status_code == 409  # the tax step ends by assessing the obligation
    assessed = tax.assess_obligation(task, 12_500_000)
    assert assessed["status"] == 6
    assert assessed["waiting_on"] == [
        {
            "party": "citizen",
            "reason": "pay 12500000 VND",
            "unit_code": None,
            "task_id": None,
            "correlation_id": None,
        }
    ]
    watch.reaches(6)
    # Nobody has work on it while the citizen pays.
    assert all(item["dossier_id"] != dossier for item in tax.inbox(procedure=LAND_TAX))
    assert all(item["dossier_id"] != dossier for item in desk.inbox(procedure=LAND_TAX))

    Citizen(system["intake"]).pays(receipt, 12_500_000)
    watch.reaches(4)
    desk.work(dossier, "tra_ket_qua", "GCN-CS-0042")
    finish_at_desk(desk, watch)

    requested = routing_events(intake, receipt["code"], "dossier.obligation_requested")
    assert [(r["amount_vnd"], r["unit_code"]) for r in requested] == [(12_500_000, DISTRICT_TAX)]
    resumed = routing_events(intake, receipt["code"], "dossier.processing_resumed")
    assert [r["reason"] for r in resumed] == ["obligation_paid"]


def test_the_land_office_sends_a_dossier_back_to_the_desk_and_gets_it_again(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(LAND_TAX))
    dossier = receipt["id"]
    desk, land = Official(routing, DONG_LAM), Official(routing, DISTRICT_LAND_OFFICE)
    desk.work(dossier, "tiep_nhan")
    sent_back = land.task_of(dossier, "van_phong_dang_ky")
    land.claim(sent_back)
    back = land.post(
        f"/v1/tasks/{sent_back['task_id']}/return",
        {"target_step": "tiep_nhan", "reason": "Thiếu trích lục bản đồ địa chính"},
    )
    assert back.status_code == 200, back.text
    assert [w["unit_code"] for w in back.json()["waiting_on"]] == [DONG_LAM]
    # The desk gets a new task for the step it already did, and forwards it again.
    again = desk.task_of(dossier, "tiep_nhan")
    assert again["task_id"] != sent_back["task_id"]
    # The returned task left the land office's inbox; it was not left claimed there.
    done = land.task_of(dossier, "van_phong_dang_ky", status="done")
    assert done["task_id"] == sent_back["task_id"]
    assert all(item["task_id"] != sent_back["task_id"] for item in land.inbox())
    desk.work(dossier, "tiep_nhan")
    assert land.task_of(dossier, "van_phong_dang_ky")["task_id"] != sent_back["task_id"]

    def returned_line() -> list[dict[str, Any]]:
        lines = routing_events(intake, receipt["code"], "step.handed_off")
        return [line for line in lines if line["from_unit"] == DISTRICT_LAND_OFFICE]

    # The form-06 line of the return names the land office's task (SLA closes its clock).
    assert [line["task_id"] for line in eventually(returned_line)] == [sent_back["task_id"]]


def test_an_overdue_step_is_flagged_in_the_inbox_and_written_in_the_audit(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    clerk = Official(routing, DONG_LAM)
    task = clerk.task_of(receipt["id"], "khai_sinh")
    assert task["overdue"] is False
    # What SLA publishes when the step overran its allotment, then escalates it.
    alert = {
        "dossier_code": receipt["code"],
        "deadline_id": str(uuid.uuid4()),
        "kind": "step",
        "task_id": task["task_id"],
        "unit_code": DONG_LAM,
        "due_at": "2026-11-23T10:00:00+07:00",
    }
    publish_event(system["sla"], "dossier.sla", "step.overdue", receipt["id"], alert)
    escalated = {
        **alert,
        "supervisor_unit": "000.00.01.H99",
        "overdue_working_hours": "16",
    }
    publish_event(system["sla"], "dossier.sla", "step.escalated", receipt["id"], escalated)
    eventually(lambda: clerk.task_of(receipt["id"], "khai_sinh")["overdue"])

    def sla_rows() -> list[dict[str, Any]] | None:
        trail = clerk.workflow(receipt["id"]).json()["audit"]
        rows = [a for a in trail if a["actor"] == "sla"]
        return rows if len(rows) == 2 else None

    rows = eventually(sla_rows)
    assert [(a["action"], a["role"], a["unit_code"]) for a in rows] == [
        ("step.overdue", "system", DONG_LAM),
        ("step.escalated", "system", DONG_LAM),
    ]
    assert all(a["task_id"] == task["task_id"] for a in rows)
    assert rows[1]["details"]["supervisor_unit"] == "000.00.01.H99"


def test_a_single_unit_certificate_is_issued_by_the_commune_alone(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(MARRIAGE_STATUS))
    watch = StatusWatch(intake, receipt)
    clerk = Official(routing, DONG_LAM)
    done = clerk.work(receipt["id"], "xac_nhan", "XNHN-125/2026")
    assert done["status"] == 9
    assert done["waiting_on"][0]["reason"] == "return result"
    finish_at_desk(clerk, watch)
    ready = routing_events(intake, receipt["code"], "dossier.result_ready")
    assert [r["unit_code"] for r in ready] == [DONG_LAM]


def test_a_supplement_request_names_the_missing_papers_and_work_resumes_when_they_come(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    watch = StatusWatch(intake, receipt)
    clerk = Official(routing, DONG_LAM)
    task = clerk.task_of(dossier, "khai_sinh")
    clerk.claim(task)
    asked = clerk.ask_supplement(task, ["GCS"], "Giấy chứng sinh không rõ")
    assert asked["status"] == 5
    assert asked["waiting_on"][0]["party"] == "citizen"
    watch.reaches(5)
    # While the citizen is away the task cannot be finished.
    assert clerk.post(f"/v1/tasks/{task['task_id']}/complete").status_code == 409

    Citizen(system["intake"]).brings_papers(receipt, ["GCS"])
    watch.reaches(4)
    requested = routing_events(intake, receipt["code"], "dossier.supplement_requested")
    assert [r["missing_documents"] for r in requested] == [["GCS"]]
    clerk.complete(task)
    finish_at_desk(clerk, watch)


def test_the_desk_refuses_an_incomplete_dossier_with_reasons(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    watch = StatusWatch(intake, receipt)
    desk = Official(routing, DONG_LAM, role="lanhdao")  # the head signs form 03
    desk.task_of(receipt["id"], "khai_sinh")
    refused = desk.refuse(receipt["id"], "Giấy chứng sinh là bản sao không hợp lệ")
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == 3
    watch.reaches(3)
    closed = routing_events(intake, receipt["code"], "dossier.refused")
    assert closed[0]["reason"] == "Giấy chứng sinh là bản sao không hợp lệ"
    assert all(item["dossier_id"] != receipt["id"] for item in desk.inbox())
    assert desk.refuse(receipt["id"], "lần nữa").status_code == 409  # closed stays closed


def test_a_unit_holding_the_dossier_stops_processing(system: dict[str, ServiceProcess]) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH_CHAIN, chosen=[BIRTH, "1.004194"]))
    watch = StatusWatch(intake, receipt)
    Official(routing, DONG_LAM).work(receipt["id"], "khai_sinh")
    police = Official(routing, DONG_LAM_POLICE)
    police.claim(police.task_of(receipt["id"], "thuong_tru"))
    # The head of the police unit signs the stop notice (form 05).
    stopped = police.head().stop(receipt["id"], "Người yêu cầu đã chuyển nơi cư trú")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {
        "dossier_id": receipt["id"],
        "status": 8,
        "version": stopped.json()["version"],
        "waiting_on": [],
    }
    watch.reaches(8)
    assert all(item["dossier_id"] != receipt["id"] for item in police.inbox())
    assert never_backwards(watch.seen)


def test_the_citizen_withdraws_and_the_task_leaves_the_inbox(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    watch = StatusWatch(intake, receipt)
    clerk = Official(routing, DONG_LAM)
    clerk.claim(clerk.task_of(receipt["id"], "khai_sinh"))
    Citizen(system["intake"]).withdraws(receipt, "Gia đình tự nộp lại sau")
    watch.reaches(7)
    eventually(lambda: all(item["dossier_id"] != receipt["id"] for item in clerk.inbox()))
    assert clerk.workflow(receipt["id"]).json()["waiting_on"] == []


def test_an_official_of_another_commune_cannot_see_or_touch_the_dossier(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    task = Official(routing, DONG_LAM).task_of(dossier, "khai_sinh")
    neighbour = Official(routing, DONG_PHU)

    # Another unit's task or dossier is answered as if it did not exist (404, the body
    # of a random id: tests/e2e/test_authorization_depth.py); its head fares no better.
    assert neighbour.try_claim(task).status_code == 404
    assert neighbour.post(f"/v1/tasks/{task['task_id']}/complete").status_code == 404
    assert neighbour.get("/v1/inbox", unit=DONG_LAM).status_code == 403
    assert neighbour.workflow(dossier).status_code == 404
    assert neighbour.stop(dossier, "không phải việc của xã").status_code == 403  # not a head
    assert neighbour.refuse(dossier, "không phải việc của xã").status_code == 403
    neighbour_head = neighbour.head()
    assert neighbour_head.stop(dossier, "không phải việc của xã").status_code == 404
    assert neighbour_head.refuse(dossier, "không phải việc của xã").status_code == 404
    assert neighbour_head.workflow(dossier).status_code == 404
    assert all(item["dossier_id"] != dossier for item in neighbour.inbox())
    unauthenticated = httpx.post(
        f"{routing}/v1/tasks/{task['task_id']}/claim", json={"expected_version": 1}, timeout=5
    )
    assert unauthenticated.status_code == 401
    # Nothing happened to the dossier.
    assert Official(routing, DONG_LAM).task_of(dossier, "khai_sinh")["status"] == "open"


def test_two_officials_claiming_one_task_one_wins_the_other_gets_a_conflict(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = urls(system)
    receipt = submit(intake, application(BIRTH))
    clerk, head = Official(routing, DONG_LAM), Official(routing, DONG_LAM, role="lanhdao")
    task = clerk.task_of(receipt["id"], "khai_sinh")
    stale = head.try_claim(task, version=task["dossier_version"] - 1)
    assert stale.status_code == 409
    assert "reload" in stale.json()["detail"]

    assert clerk.try_claim(task).status_code == 200
    taken = head.try_claim(task)
    assert taken.status_code == 409
    assert f"claimed by canbo@{DONG_LAM}" in taken.json()["detail"]
    assert head.post(f"/v1/tasks/{task['task_id']}/complete").status_code == 409
    mine = clerk.task_of(receipt["id"], "khai_sinh", status="claimed")
    assert mine["claimed_by"] == f"canbo@{DONG_LAM}"


@pytest.fixture(scope="module")
def two_level(system: dict[str, ServiceProcess]) -> Iterator[dict[str, ServiceProcess]]:
    """Intake and routing of a province after 1 July 2025 (no districts), on their own
    topics and schemas beside the session's three-level system."""
    import asyncio

    from services.runtime.setup import ensure_topics

    base = system["routing"].env
    prefix = f"{base['TOPIC_PREFIX']}two_"
    asyncio.run(ensure_topics(base["KAFKA_BOOTSTRAP_SERVERS"], prefix))
    env = {**base, "TOPIC_PREFIX": prefix, "SCHEMA_PREFIX": prefix}
    env["REFERENCE_PROFILE"] = "two_level"
    processes = {
        name: ServiceProcess(f"{name}-two-level", f"services.{name}", env, free_port())
        for name in ("intake", "routing")
    }
    for proc in processes.values():
        proc.start()
    try:
        for proc in processes.values():
            proc.wait_ready()
        yield processes
    finally:
        for proc in processes.values():
            proc.stop()


def test_two_level_death_chain_goes_from_the_commune_straight_to_provincial_agencies(
    two_level: dict[str, ServiceProcess],
) -> None:
    intake, routing = two_level["intake"].url, two_level["routing"].url
    commune, police = "000.02.00.H99", "CA0.02.00.H99"  # xã Đông Lâm and its police
    units = {
        "xoa_thuong_tru": police,
        "tro_cap_mai_tang": "003.00.00.H99",  # Sở Nội vụ: no district labour office now
        "tu_tuat": "BH0.00.00.H99",  # provincial social insurance
    }
    chosen = ["1.000656", "1.004206", "1.001776", "1.002128"]
    receipt = submit(intake, application(DEATH_CHAIN, receiving_unit=commune, chosen=chosen))
    watch = StatusWatch(intake, receipt)
    clerk = Official(routing, commune)
    after_death = clerk.work(receipt["id"], "khai_tu", "TT-KT-0001/2026")
    assert {w["unit_code"] for w in after_death["waiting_on"]} == set(units.values())
    for step_id, unit in units.items():
        task = Official(routing, unit).task_of(receipt["id"], step_id)
        assert task["unit_code"] == unit
        Official(routing, unit).work(receipt["id"], step_id)
    finish_at_desk(clerk, watch)
    queues = {
        e["unit_code"]: e["queue_level"]
        for e in routing_events(intake, receipt["code"], "step.assigned")
    }
    assert queues == {commune: "commune", **dict.fromkeys(units.values(), "department")}
