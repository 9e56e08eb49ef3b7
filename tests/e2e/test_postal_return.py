"""Results by post, end to end: a citizen asks for the result by post at submission; when
the result is ready routing orders the parcel from the (stand-in) postal service through
its outbox, the postal service's signed tracking callbacks appear in the timeline, and
delivery returns the result (status 10). A forged callback changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.routing.domain.postal import (
    DEV_CALLBACK_SECRET,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from tests.support.credentials import service_headers
from tests.support.infra import Infra
from tests.support.officials import (
    DONG_LAM,
    Official,
    StatusWatch,
    application,
    public_view,
    submit,
)
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import eventually
from tests.support.system import running_system

pytestmark = pytest.mark.e2e

BIRTH = "1.001193"
ADDRESS = "Số 5 đường Lê Lợi, xã Đông Lâm, huyện Hương Trà"


@pytest.fixture(scope="module")
def postal() -> Iterator[ServiceProcess]:
    stand_in = ServiceProcess("postal", "services.routing.fakes", {}, free_port())
    stand_in.start()
    try:
        stand_in.wait_ready(path="/healthz")
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture(scope="module")
def postal_system(infra: Infra, postal: ServiceProcess) -> Iterator[dict[str, ServiceProcess]]:
    with running_system(infra, {"POSTAL_URL": postal.url}) as processes:
        yield processes


def by_post() -> dict[str, Any]:
    return {**application(BIRTH), "result_delivery": "post", "postal_address": ADDRESS}


def control(postal: ServiceProcess, **knobs: int) -> None:
    httpx.post(f"{postal.url}/_control", json=knobs, timeout=5).raise_for_status()


def orders_at(postal: ServiceProcess, dossier_id: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{postal.url}/_control/orders", timeout=5).json()["orders"]
    return [o for o in found if o["partner_order_code"] == f"HS-{dossier_id}"]


def our_order(routing: str, dossier_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{routing}/v1/postal/orders/{dossier_id}", headers=service_headers("ops"), timeout=5
    )
    assert answer.status_code == 200, answer.text
    order: dict[str, Any] = answer.json()
    return order


def track(postal: ServiceProcess, order_id: str, status: str, **extra: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{postal.url}/_control/track/{order_id}", json={"status": status, **extra}, timeout=15
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def postal_events(intake: str, code: str) -> list[dict[str, Any]]:
    return [
        e["details"]
        for e in public_view(intake, code)["timeline"]
        if e["event_type"] == "dossier.postal_tracking"
    ]


def routing_lines(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in view["timeline"] if e["source"] == "routing"]


def result_ready_by_post(system: dict[str, ServiceProcess]) -> tuple[dict[str, Any], StatusWatch]:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, by_post())
    watch = StatusWatch(intake, receipt)
    Official(routing, DONG_LAM).work(receipt["id"], "khai_sinh", "GKS-0042/2026")
    watch.reaches(9)
    return receipt, watch


def created_order(routing: str, dossier_id: str) -> dict[str, Any]:
    return eventually(
        lambda: (o := our_order(routing, dossier_id))["state"] == "created" and o, timeout=60
    )


def test_a_result_by_post_is_ordered_once_though_the_postal_service_failed_and_delivery_closes_it(
    postal_system: dict[str, ServiceProcess], postal: ServiceProcess
) -> None:
    intake, routing = postal_system["intake"].url, postal_system["routing"].url
    # The first creation fails outright; the second creates the parcel but its answer
    # is lost; the third is answered with the order already made.
    control(postal, fail_next=1, lose_answers=1)
    receipt, watch = result_ready_by_post(postal_system)
    dossier = receipt["id"]

    order = created_order(routing, dossier)
    assert order["attempts"] == 3
    made = orders_at(postal, dossier)
    assert len(made) == 1  # one parcel, though routing asked three times
    assert made[0]["order_id"] == order["order_id"]
    assert made[0]["tracking_number"] == order["tracking_number"]
    parcel = made[0]["request"]
    assert parcel["receiver"] == {
        "name": "Trần Văn Minh",
        "phone": "0987654321",
        "address": ADDRESS,
    }
    assert parcel["parcel"]["papers"] == ["GKS-0042/2026"]
    assert parcel["sender"]["unit_code"] == DONG_LAM

    # The order is in the citizen's timeline with its tracking number.
    created = eventually(lambda: postal_events(intake, receipt["code"]))
    assert created[0]["postal_status"] == "created"
    assert created[0]["tracking_number"] == order["tracking_number"]
    assert created[0]["status"] == 9

    for status in ("accepted", "in_transit"):
        moved = track(postal, order["order_id"], status)
        assert moved["callback_status"] == 200, moved
        assert moved["callback_body"]["dossier_status"] == 9
    delivered = track(postal, order["order_id"], "delivered")
    assert delivered["callback_status"] == 200, delivered
    assert delivered["callback_body"]["dossier_status"] == 10
    watch.reaches(10)
    again = track(postal, order["order_id"], "delivered")  # the postal service repeats
    assert again["callback_body"]["duplicate"] is True

    def all_four() -> list[dict[str, Any]] | None:
        events = postal_events(intake, receipt["code"])
        return events if len(events) == 4 else None

    seen = eventually(all_four)
    assert [e["postal_status"] for e in seen] == ["created", "accepted", "in_transit", "delivered"]
    timeline = public_view(intake, receipt["code"])["timeline"]
    assert any(e["event_type"] == "dossier.returned" for e in timeline)
    assert our_order(routing, dossier)["postal_status"] == "delivered"

    # Notify told the citizen the tracking number (once: the later moves send nothing).
    def told() -> list[dict[str, Any]]:
        return [
            e["details"]
            for e in public_view(intake, receipt["code"])["timeline"]
            if e["source"] == "notify"
            and str(e["details"].get("template_id", "")).startswith("dossier.postal_tracking")
        ]

    messages = eventually(told, timeout=60)
    assert {m["template_id"] for m in messages} <= {
        "dossier.postal_tracking.email",
        "dossier.postal_tracking.sms",
        "dossier.postal_tracking.zalo",
    }


def test_a_forged_tracking_callback_is_refused_and_changes_nothing(
    postal_system: dict[str, ServiceProcess], postal: ServiceProcess
) -> None:
    intake, routing = postal_system["intake"].url, postal_system["routing"].url
    receipt, _ = result_ready_by_post(postal_system)
    dossier = receipt["id"]
    order = created_order(routing, dossier)
    eventually(lambda: postal_events(intake, receipt["code"]))
    before = public_view(intake, receipt["code"])

    # The attacker knows the order id and posts "delivered": signed with a guessed
    # secret, unsigned, or replaying a genuine signature of another body or an old time.
    forged = track(postal, order["order_id"], "delivered", secret="doan-bua-mot-bi-mat-dai")
    assert forged["callback_status"] == 401
    body = json.dumps(
        {"order_id": order["order_id"], "status": "delivered", "at": "2026-12-01T08:00:00+07:00"}
    ).encode()
    url = f"{routing}/v1/postal/tracking"
    plain = {"Content-Type": "application/json"}
    assert httpx.post(url, content=body, headers=plain, timeout=5).status_code == 401
    old = str(int(time.time()) - 3600)
    stale = {**plain, TIMESTAMP_HEADER: old, SIGNATURE_HEADER: sign(DEV_CALLBACK_SECRET, old, body)}
    assert httpx.post(url, content=body, headers=stale, timeout=5).status_code == 401
    now = str(int(time.time()))
    other = sign(DEV_CALLBACK_SECRET, now, body.replace(b"delivered", b"accepted"))
    swapped = {**plain, TIMESTAMP_HEADER: now, SIGNATURE_HEADER: other}
    refused = httpx.post(url, content=body, headers=swapped, timeout=5)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")

    # Nothing changed: still ready at the desk, no tracking line, no new timeline event.
    assert our_order(routing, dossier)["postal_status"] == "created"
    workflow = Official(routing, DONG_LAM).workflow(dossier).json()
    assert workflow["status"] == 9
    assert not [a for a in workflow["audit"] if a["action"] == "postal.delivered"]
    time.sleep(1.0)  # anything published would have reached intake by now
    after = public_view(intake, receipt["code"])
    assert after["status"] == 9
    # (notify's own receipts of the tracking-number message may still be arriving)
    assert routing_lines(after) == routing_lines(before)

    # A genuine "returned to sender" leaves the result at the desk, with an audit line.
    back = track(postal, order["order_id"], "returned_to_sender")
    assert back["callback_status"] == 200 and back["callback_body"]["dossier_status"] == 9
    audit = Official(routing, DONG_LAM).workflow(dossier).json()["audit"]
    line = [a for a in audit if a["action"] == "postal.returned_to_sender"]
    assert line and line[0]["actor"] == "postal" and line[0]["details"]["note"]


def test_an_unknown_order_is_not_found(postal_system: dict[str, ServiceProcess]) -> None:
    body = json.dumps(
        {"order_id": "VN000000", "status": "delivered", "at": "2026-12-01T08:00:00+07:00"}
    ).encode()
    now = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: now,
        SIGNATURE_HEADER: sign(DEV_CALLBACK_SECRET, now, body),
    }
    answer = httpx.post(
        f"{postal_system['routing'].url}/v1/postal/tracking", content=body, headers=headers
    )
    assert answer.status_code == 404


def test_a_signed_but_malformed_callback_is_a_422_problem(
    postal_system: dict[str, ServiceProcess],
) -> None:
    for body in (
        b'{"order_id": "VN1", "status": "lost", "at": "2026-12-01T08:00:00+07:00"}',
        b'{"order_id": "VN1", "status": "delivered", "at": "2026-12-01T08:00:00+07:00",'
        b' "note": "\\u0000"}',
        b"not json",
    ):
        now = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: now,
            SIGNATURE_HEADER: sign(DEV_CALLBACK_SECRET, now, body),
        }
        answer = httpx.post(
            f"{postal_system['routing'].url}/v1/postal/tracking", content=body, headers=headers
        )
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
