"""SLA over HTTP and Kafka against the running system (the session's `system` fixture).

* the calendar contract (`POST /v1/calendar/due`, `POST /v1/calendar/elapsed`), with an
  administrator override and a per-procedure cut-off;
* a dossier's deadlines driven by the events SLA consumes (published to Kafka as
  intake and routing would): paused for a supplement, moved on resume, closed late after
  a second supplement request, counted in the unit's report (JSON and CSV);
* a real dossier submitted through intake whose step overruns: SLA's own timer loop
  raises the overdue alarm and issues form 04 with the citizen's name in the printout.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from tests.support.credentials import OPS, PORTAL, bearer
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e
VN = "+07:00"
QUIET_UNIT = "000.02.02.H99"  # a commune no other story submits to


def admin(system: dict[str, ServiceProcess]) -> dict[str, str]:
    """The province supervisor, signed in at routing (the token issuer)."""
    return bearer(system["routing"].url, "giamsat")


def official(system: dict[str, ServiceProcess], unit: str = QUIET_UNIT) -> dict[str, str]:
    return bearer(system["routing"].url, f"canbo@{unit}")


def post(sla: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{sla}{path}", json=body, timeout=10)


def due(sla: str, start: str, hours: float, unit: str | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"start": start, "working_hours": hours, **extra}
    if unit is not None:
        body["unit_code"] = unit
    answer = post(sla, "/v1/calendar/due", body)
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["due"]
    return value


def test_the_calendar_api_answers_hand_worked_cases_in_vietnam_time(
    system: dict[str, ServiceProcess],
) -> None:
    sla = system["sla"].url
    # Fri 13 Feb 2026 10:00: 5 h that day, Tết 16–20 Feb, Mon 23 8 h, Tue 24 8 h,
    # Wed 25 07:00 + 3 h. Given in UTC, answered in +07:00.
    assert due(sla, "2026-02-13T03:00:00Z", 24) == f"2026-02-25T10:00:00{VN}"
    # Lunch break: 11:00 + 1 h → 11:30 + 0.5 h from 13:30 → 14:00.
    assert due(sla, f"2026-03-03T11:00:00{VN}", 1) == f"2026-03-03T14:00:00{VN}"
    # A unit that serves on Saturday (xã Đông Lâm) vs the default calendar.
    assert due(sla, f"2026-03-06T16:00:00{VN}", 8, "000.01.01.H99") == f"2026-03-07T16:00:00{VN}"
    assert due(sla, f"2026-03-06T16:00:00{VN}", 8) == f"2026-03-09T16:00:00{VN}"
    # Hùng Kings 2026 falls on Sunday 26 April, observed Monday 27 April.
    answer = post(
        sla,
        "/v1/calendar/elapsed",
        {"start": f"2026-04-24T07:00:00{VN}", "end": f"2026-04-29T07:00:00{VN}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"working_hours": 16}
    naive = post(sla, "/v1/calendar/due", {"start": "2026-03-03T11:00:00", "working_hours": 1})
    assert naive.status_code == 422
    assert naive.headers["content-type"].startswith("application/problem+json")
    unknown = post(
        sla,
        "/v1/calendar/due",
        {"start": f"2026-03-03T11:00:00{VN}", "working_hours": 1, "unit_code": "NOPE"},
    )
    assert unknown.status_code == 404


def test_an_override_applies_at_once_and_can_be_removed(system: dict[str, ServiceProcess]) -> None:
    sla = system["sla"].url
    start = f"2027-02-26T09:00:00{VN}"  # Fri; + 8 h → Mon 1 Mar 2027 09:00
    assert due(sla, start, 8, QUIET_UNIT) == f"2027-03-01T09:00:00{VN}"
    override = {"day": "2027-03-01", "kind": "day_off", "unit_code": QUIET_UNIT, "note": "test"}
    refused = httpx.put(f"{sla}/v1/calendar/overrides", json=override, timeout=10)
    assert refused.status_code == 401
    not_admin = httpx.put(
        f"{sla}/v1/calendar/overrides", json=override, headers=official(system), timeout=10
    )
    assert not_admin.status_code == 403
    answer = httpx.put(
        f"{sla}/v1/calendar/overrides", json=override, headers=admin(system), timeout=10
    )
    assert answer.status_code == 204, answer.text
    try:
        assert due(sla, start, 8, QUIET_UNIT) == f"2027-03-02T09:00:00{VN}"
        assert due(sla, start, 8) == f"2027-03-01T09:00:00{VN}"  # other units unaffected
        # A make-up working Saturday for the unit, added by the administrator.
        saturday = {"day": "2027-02-27", "kind": "working_day", "unit_code": QUIET_UNIT}
        made = httpx.put(
            f"{sla}/v1/calendar/overrides", json=saturday, headers=admin(system), timeout=10
        )
        assert made.is_success
        assert due(sla, start, 8, QUIET_UNIT) == f"2027-02-27T09:00:00{VN}"
    finally:
        for day in ("2027-03-01", "2027-02-27"):
            httpx.delete(
                f"{sla}/v1/calendar/overrides",
                params={"day": day, "unit_code": QUIET_UNIT},
                headers=admin(system),
                timeout=10,
            )
    assert due(sla, start, 8, QUIET_UNIT) == f"2027-03-01T09:00:00{VN}"


def test_a_procedure_cut_off_from_settings_moves_the_clock_to_the_next_working_day(
    system: dict[str, ServiceProcess],
) -> None:
    sla = system["sla"]
    sla.stop()
    sla.start({"PROCEDURE_CUT_OFFS": json.dumps({"1.012603": "15:00"})})
    try:
        sla.wait_ready()
        # Received Tue 3 Mar 2026 15:30: after the cut-off → Wed 07:00 + 8 h → Wed 17:00.
        late = due(sla.url, f"2026-03-03T15:30:00{VN}", 8, procedure_code="1.012603")
        assert late == f"2026-03-04T17:00:00{VN}"
        # Before the cut-off: 14:30 + 8 h → 2.5 h Tue, Wed 07:00 + 5.5 h → 14:30.
        early = due(sla.url, f"2026-03-03T14:30:00{VN}", 8, procedure_code="1.012603")
        assert early == f"2026-03-04T14:30:00{VN}"
        # A procedure without a cut-off, received at night: clock starts at the opening.
        night = due(sla.url, f"2026-03-03T20:00:00{VN}", 8, procedure_code="1.001193")
        assert night == f"2026-03-04T17:00:00{VN}"
        plain = due(sla.url, f"2026-03-03T15:30:00{VN}", 8)
        assert plain == f"2026-03-04T15:30:00{VN}"
    finally:
        sla.stop()
        sla.start()
        sla.wait_ready()


# --------------------------------------------------------------------------- events


class Feed:
    """Publishes contract events to the system's topics, as intake and routing would."""

    def __init__(self, producer: AIOKafkaProducer, prefix: str, sla: str) -> None:
        self.producer = producer
        self.prefix = prefix
        self.sla = sla

    async def send(
        self, topic: str, event_type: str, dossier: UUID, payload: dict[str, Any]
    ) -> None:
        env = EventEnvelope(
            event_type=event_type,
            dossier_id=dossier,
            correlation_id=dossier,
            producer="test",
            payload=payload,
        )
        await self.producer.send_and_wait(
            f"{self.prefix}{topic}", env.model_dump_json().encode(), key=str(dossier).encode()
        )


def at(day: int, hour: int, minute: int = 0) -> str:
    return f"2027-03-{day:02d}T{hour:02d}:{minute:02d}:00{VN}"


async def run_dossier(
    feed: Feed,
    dossier: UUID,
    code: str,
    channel: int,
    pauses: list[tuple[str, str]],
    end: str | None,
) -> None:
    task = f"{dossier}:tiep_nhan:1"
    await feed.send(
        "dossier.intake",
        "dossier.received",
        dossier,
        {
            "dossier_code": code,
            "procedure_code": "1.012603",
            "field_code": "dat_dai",
            "receiving_unit": QUIET_UNIT,
            "channel": channel,
            "received_at": at(1, 9),
            "clock_started_at": at(1, 9),
            "appointment_at": at(15, 9),
            "legal_hours": 80,
            "contact_ref": str(dossier),
        },
    )
    # Let SLA see the receipt first, as it would in practice (two topics, no order).
    await asyncio.to_thread(eventually, lambda: deadlines(feed.sla, dossier))
    await feed.send(
        "dossier.routing",
        "step.assigned",
        dossier,
        {
            "dossier_code": code,
            "status": 4,
            "at": at(1, 9),
            "task_id": task,
            "step_id": "tiep_nhan",
            "step_name": "Tiếp nhận",
            "unit_code": QUIET_UNIT,
            "queue_level": "commune",
            "allotment_hours": 80,
        },
    )
    for pause, resume in pauses:
        await feed.send(
            "dossier.routing",
            "dossier.supplement_requested",
            dossier,
            {
                "dossier_code": code,
                "status": 5,
                "at": pause,
                "task_id": task,
                "unit_code": QUIET_UNIT,
                "missing_documents": ["GCN"],
            },
        )
        await feed.send(
            "dossier.routing",
            "dossier.processing_resumed",
            dossier,
            {"dossier_code": code, "status": 4, "at": resume, "reason": "supplement"},
        )
    if end is not None:
        await feed.send(
            "dossier.routing",
            "step.handed_off",
            dossier,
            {
                "dossier_code": code,
                "status": 9,
                "at": end,
                "task_id": task,
                "step_id": "tiep_nhan",
                "from_unit": QUIET_UNIT,
                "to_unit": None,
                "actor": "x",
            },
        )
        for event_type, status in (("dossier.result_ready", 9), ("dossier.returned", 10)):
            await feed.send(
                "dossier.routing",
                event_type,
                dossier,
                {"dossier_code": code, "status": status, "at": end, "unit_code": QUIET_UNIT},
            )


def deadlines(sla: str, dossier: UUID) -> dict[str, Any] | None:
    """As the operators' scripts read them (their own credential)."""
    answer = httpx.get(f"{sla}/v1/dossiers/{dossier}/deadlines", headers=OPS, timeout=5)
    return answer.json() if answer.status_code == 200 else None


def test_deadlines_pause_move_on_resume_end_late_and_are_reported(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    sla = system["sla"].url
    prefix = system["sla"].env["TOPIC_PREFIX"]
    on_time, twice, open_ = uuid4(), uuid4(), uuid4()

    async def feed_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            feed = Feed(producer, prefix, sla)
            # Paused Tue 2 Mar 10:00, resumed Thu 4 Mar 10:00: 16 working hours later due.
            await run_dossier(feed, on_time, "T-1", 1, [(at(2, 10), at(4, 10))], at(10, 9))
            await run_dossier(
                feed,
                twice,
                "T-2",
                2,
                [(at(2, 10), at(2, 14)), (at(3, 10), at(3, 14))],
                at(5, 9),
            )
            await run_dossier(feed, open_, "T-3", 3, [], None)
        finally:
            await producer.stop()

    asyncio.run(feed_all())

    def closed(dossier: UUID) -> dict[str, Any] | None:
        found = deadlines(sla, dossier)
        if found and found["dossier"] and found["dossier"]["status"] == 10:
            return found
        return None

    first = eventually(lambda: closed(on_time))
    whole = next(d for d in first["deadlines"] if d["kind"] == "dossier")
    # Appointment Mon 15 Mar 09:00 moved by the 16 working hours of the pause.
    assert datetime.fromisoformat(whole["due_at"]) == datetime.fromisoformat(at(17, 9))
    assert (whole["state"], whole["outcome"]) == ("closed", "early")
    assert first["dossier"]["supplement_count"] == 1
    assert first["dossier"]["end_status"] == 9

    second = eventually(lambda: closed(twice))
    assert second["dossier"]["supplement_count"] == 2
    assert second["dossier"]["outcome"] == "late"  # early by the clock, two requests

    eventually(lambda: deadlines(sla, open_))
    period = {"unit": QUIET_UNIT, "from": at(1, 0), "to": at(31, 0)}
    # The unit's own official reads the unit's report.
    as_official = official(system)
    report = httpx.get(f"{sla}/v1/reports", params=period, headers=as_official, timeout=10).json()
    assert report["carried_over"] == 0
    assert report["received"] == 3 == report["to_handle"]
    assert report["received_by_channel"] == {"in_person": 1, "online": 1, "post": 1}
    assert (report["resolved"], report["resolved_early"], report["resolved_late"]) == (2, 1, 1)
    assert report["returned"] == 2
    assert report["in_progress"] == 1 == report["in_progress_overdue"]
    assert report["on_time_rate"] == "50.00"
    as_csv = httpx.get(
        f"{sla}/v1/reports", params={**period, "format": "csv"}, headers=as_official, timeout=10
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows[0]["to_handle"] == "3"
    assert rows[0]["resolved_late"] == "1"


# --------------------------------------------------------------------------- apology


def test_an_overrun_step_raises_the_alarm_and_the_unit_apologises_on_form_04(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake, sla = system["intake"].url, system["sla"].url
    receipt = httpx.post(
        f"{intake}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(email="apology@example.vn"),
        timeout=10,
    )
    assert receipt.status_code == 201, receipt.text
    dossier = UUID(receipt.json()["id"])

    def opened() -> dict[str, Any] | None:
        found = deadlines(sla, dossier)
        kinds = {d["kind"] for d in found["deadlines"]} if found else set()
        return found if kinds == {"dossier", "step"} else None

    eventually(opened)
    schema = f"{system['sla'].env['SCHEMA_PREFIX']}sla"

    async def time_passes() -> None:
        # Time travel: the step's due instant is now, and the appointment is under one
        # working day away — what weeks of an idle inbox would look like.
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(
                f"UPDATE {schema}.deadlines SET due_soon_at = now() - interval '1 hour'"
                " WHERE dossier_id = $1 AND kind = 'dossier'",
                dossier,
            )
            step = await conn.fetchval(
                f"UPDATE {schema}.deadlines SET due_at = now()"
                " WHERE dossier_id = $1 AND kind = 'step' RETURNING id",
                dossier,
            )
            await conn.execute(
                f"UPDATE {schema}.timers SET next_fire_at = now(), due_soon_fired = true"
                " WHERE deadline_id = $1",
                step,
            )
        finally:
            await conn.close()

    asyncio.run(time_passes())

    def letters() -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{sla}/v1/apologies", params={"dossier": str(dossier)}, headers=OPS, timeout=5
        )
        result: list[dict[str, Any]] = answer.json()
        return result

    found = eventually(letters)
    assert len(found) == 1
    letter = found[0]
    assert "contact_ref" not in letter  # only services fetching contacts from intake hold it
    assert letter["dossier_code"] == receipt.json()["code"]
    assert letter["procedure_code"] == "1.001193"
    assert letter["signed_by_role"] == "unit_head"
    assert datetime.fromisoformat(letter["new_appointment_at"]) > datetime.fromisoformat(
        letter["old_appointment_at"]
    )
    assert letter["new_appointment_at"].endswith(VN)
    desk = official(system, COMMUNE)  # the unit that received the dossier
    as_data = httpx.get(f"{sla}/v1/apologies/{letter['id']}", headers=desk, timeout=5).json()
    assert as_data == letter
    assert httpx.get(f"{sla}/v1/apologies/{letter['id']}.html", timeout=10).status_code == 401
    # A unit the dossier never passed through may not print it.
    elsewhere = httpx.get(
        f"{sla}/v1/apologies/{letter['id']}.html", headers=official(system), timeout=10
    )
    assert elsewhere.status_code == 403
    assert "Nguyễn" not in elsewhere.text
    page = httpx.get(f"{sla}/v1/apologies/{letter['id']}.html", headers=desk, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Kính gửi: Ông/Bà Nguyễn Thị Lan" in page.text  # fetched from intake at print
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in page.text
    assert receipt.json()["code"] in page.text
    view = deadlines(sla, dossier)
    assert view is not None
    step = next(d for d in view["deadlines"] if d["kind"] == "step")
    assert step["overdue_fired"] is True
    assert [e["letter_id"] for e in view["extensions"]] == [letter["id"]]
    assert httpx.get(f"{sla}/v1/apologies/{uuid4()}", headers=OPS, timeout=5).status_code == 404
    # The letter's event carries no personal data.
    assert "Nguyễn" not in json.dumps(letter)
