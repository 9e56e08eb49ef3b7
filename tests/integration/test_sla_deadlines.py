"""SLA's use cases against real PostgreSQL: a land dossier's deadlines from receipt to end.

The handlers run in-process on a scratch schema; time is passed in (``now``), so the
story covers weeks of working time without waiting. Dates: March 2026, Mon–Fri,
07:00–11:30 and 13:30–17:00 (the units below do not serve on Saturday).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from contracts.envelope import EventEnvelope
from contracts.events import SPEC_BY_TYPE, Payload
from reference import load_unit_calendars
from services.runtime.consumer import Envelope
from services.runtime.db import create_pool, migrate
from services.sla.adapters.calendars import CalendarBook
from services.sla.app import SlaSettings, directory
from services.sla.handlers import SlaHandlers, SlaPolicy
from services.workcal.calendar import VN_TZ
from tests.conftest import unique_prefix
from tests.support.infra import Infra
from tests.support.runtime import bare_runtime

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "sla" / "migrations"
DESK = "000.02.01.H99"  # a commune desk without Saturday service
LAND_OFFICE = "DK0.00.00.H99"  # Văn phòng Đăng ký đất đai tỉnh Hà Sơn
PROVINCE = "000.00.00.H99"


def vn(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


@dataclass
class Sla:
    pool: asyncpg.Pool
    handlers: SlaHandlers
    book: CalendarBook

    async def consume(self, event_type: str, dossier: UUID, payload: dict[str, Any]) -> None:
        env = EventEnvelope(
            event_type=event_type,
            dossier_id=dossier,
            correlation_id=dossier,
            producer="test",
            payload=payload,
        )
        h = self.handlers
        handler = {
            "dossier.received": h.on_received,
            "step.assigned": h.on_step_assigned,
            "step.handed_off": h.on_step_done,
            "dossier.supplement_requested": h.on_paused,
            "dossier.processing_resumed": h.on_resumed,
            "dossier.result_ready": h.on_dossier_closed,
            "dossier.returned": h.on_dossier_closed,
        }[event_type]
        async with self.pool.acquire() as conn, conn.transaction():
            await handler(conn, env)

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.pool.fetch("SELECT event_type, value FROM outbox ORDER BY id")
        found = []
        for row in rows:
            # Every event SLA writes is a valid envelope with its contract's payload.
            env = EventEnvelope.model_validate_json(bytes(row["value"]))
            assert env.event_type == row["event_type"]
            SPEC_BY_TYPE[env.event_type].payload.model_validate(env.payload, strict=False)
            found.append((env.event_type, env.payload))
        return found

    async def deadline(self, dossier: UUID, kind: str, task: str | None = None) -> Any:
        return await self.pool.fetchrow(
            "SELECT * FROM deadlines WHERE dossier_id = $1 AND kind = $2"
            " AND ($3::text IS NULL OR task_id = $3)",
            dossier,
            kind,
            task,
        )


async def start_sla(infra: Infra, prefix: str, **policy: Any) -> tuple[Sla, asyncpg.Pool]:
    schema = f"{prefix}sla"
    pool = await create_pool(infra.database_url, schema, 1, 4)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    settings = SlaSettings(schema_prefix=prefix, topic_prefix=prefix)
    rt = bare_runtime(settings, pool)
    names, _ = directory("three_level")
    book = CalendarBook(load_unit_calendars("three_level"))
    async with pool.acquire() as conn:
        await book.reload(conn)
    handlers = SlaHandlers(rt, book, SlaPolicy(**policy), names, instance="test")
    return Sla(pool, handlers, book), pool


@pytest.fixture
async def sla(infra: Infra) -> AsyncIterator[Sla]:
    prefix = unique_prefix()
    service, pool = await start_sla(infra, prefix)
    try:
        yield service
    finally:
        await pool.execute(f"DROP SCHEMA {prefix}sla CASCADE")
        await pool.close()


def received(code: str, at: datetime, appointment: datetime, hours: int) -> dict[str, Any]:
    return {
        "dossier_code": code,
        "procedure_code": "1.012603",
        "field_code": "dat_dai",
        "receiving_unit": DESK,
        "channel": 1,
        "received_at": at.isoformat(),
        "clock_started_at": at.isoformat(),
        "appointment_at": appointment.isoformat(),
        "legal_hours": hours,
        "contact_ref": "contact-ref-1",
    }


def assigned(
    code: str, task: str, step: str, unit: str, hours: int, at: datetime
) -> dict[str, Any]:
    return {
        "dossier_code": code,
        "status": 4,
        "at": at.isoformat(),
        "task_id": task,
        "step_id": step,
        "step_name": step.replace("_", " ").capitalize(),
        "unit_code": unit,
        "queue_level": "department",
        "allotment_hours": hours,
    }


def handed_off(code: str, task: str, unit: str, to: str | None, at: datetime) -> dict[str, Any]:
    return {
        "dossier_code": code,
        "status": 4,
        "at": at.isoformat(),
        "task_id": task,
        "step_id": task.rsplit(":", 2)[1],
        "from_unit": unit,
        "to_unit": to,
        "actor": "canbo",
    }


async def test_a_land_dossier_pauses_resumes_overruns_apologises_escalates_and_ends_late(
    sla: Sla,
) -> None:
    dossier, code = uuid4(), "000.02.01.H99-260302-0001"
    desk_cal = sla.book.for_unit(DESK)
    appointment = desk_cal.add_working_hours(vn(3, 2, 9), 80)
    await sla.consume("dossier.received", dossier, received(code, vn(3, 2, 9), appointment, 80))
    desk_task, land_task = f"{dossier}:tiep_nhan:1", f"{dossier}:van_phong:1"
    await sla.consume(
        "step.assigned", dossier, assigned(code, desk_task, "tiep_nhan", DESK, 8, vn(3, 2, 9))
    )
    await sla.consume(
        "step.handed_off", dossier, handed_off(code, desk_task, DESK, LAND_OFFICE, vn(3, 2, 15))
    )
    await sla.consume(
        "step.assigned",
        dossier,
        assigned(code, land_task, "van_phong", LAND_OFFICE, 40, vn(3, 2, 15)),
    )
    desk_step = await sla.deadline(dossier, "step", desk_task)
    assert desk_step["state"] == "closed"
    assert desk_step["outcome"] == "on_time"  # 4 working hours were left of 8
    land = await sla.deadline(dossier, "step", land_task)
    # 40 h from Mon 2 Mar 15:00: Mon 2, Tue–Fri 32 (34), Mon 9 Mar 07:00 + 6 → 15:00
    assert land["due_at"] == vn(3, 9, 15)

    # Supplement requested Wed 4 Mar 10:00; the citizen answers Tue 10 Mar 13:30.
    await sla.consume(
        "dossier.supplement_requested",
        dossier,
        {
            "dossier_code": code,
            "status": 5,
            "at": vn(3, 4, 10).isoformat(),
            "task_id": land_task,
            "unit_code": LAND_OFFICE,
            "missing_documents": ["GCN"],
        },
    )
    paused = await sla.deadline(dossier, "step", land_task)
    assert paused["state"] == "paused"
    timer = await sla.pool.fetchrow("SELECT * FROM timers WHERE deadline_id = $1", paused["id"])
    assert timer is not None
    assert timer["next_fire_at"] is None
    assert await sla.handlers.fire_due_timers(vn(3, 9, 16)) == 0  # paused: nothing fires
    await sla.consume(
        "dossier.processing_resumed",
        dossier,
        {
            "dossier_code": code,
            "status": 4,
            "at": vn(3, 10, 13, 30).isoformat(),
            "reason": "supplement",
        },
    )
    land = await sla.deadline(dossier, "step", land_task)
    # 27 h were left at Wed 10:00 (Wed 5, Thu 8, Fri 8, Mon 6); from Tue 10 Mar 13:30:
    # Tue 3.5, Wed 8, Thu 8 (19.5), Fri 07:00 + 7.5 → Fri 13 Mar 16:30.
    assert land["state"] == "open"
    assert land["due_at"] == vn(3, 13, 16, 30)
    assert land["due_soon_at"] == vn(3, 12, 16, 30)
    whole = await sla.deadline(dossier, "dossier")
    moved = desk_cal.add_working_hours(
        vn(3, 10, 13, 30), desk_cal.working_hours_between(vn(3, 4, 10), appointment)
    )
    assert whole["due_at"] == moved

    # The land office's warning, then its overrun; the appointment is not at risk yet.
    assert await sla.handlers.fire_due_timers(vn(3, 12, 16, 30)) == 1
    assert await sla.handlers.fire_due_timers(vn(3, 13, 16, 30)) == 1
    assert await sla.handlers.fire_due_timers(vn(3, 13, 16, 30)) == 0  # once only
    kinds = [t for t, _ in await sla.events()]
    assert kinds[-2:] == ["deadline.due_soon", "step.overdue"]
    assert "apology.issued" not in kinds

    # Still overdue 8 working hours after its due instant: escalated to the province.
    assert await sla.handlers.fire_due_timers(vn(3, 16, 16, 30)) == 1
    escalated = [p for t, p in await sla.events() if t == "step.escalated"]
    assert len(escalated) == 1
    assert escalated[0]["unit_code"] == LAND_OFFICE
    assert escalated[0]["supervisor_unit"] == PROVINCE
    assert Decimal(escalated[0]["overdue_working_hours"]) == 8

    # One working day before the appointment: the dossier is warned and, since the land
    # office overran its own allotment, it apologises with a new appointment (form 04).
    soon = whole["due_soon_at"]
    assert soon is not None and soon > vn(3, 16, 16, 30)
    assert await sla.handlers.fire_due_timers(soon) == 1
    events = await sla.events()
    apology = [p for t, p in events if t == "apology.issued"]
    assert len(apology) == 1
    assert apology[0]["responsible_unit"] == LAND_OFFICE
    assert apology[0]["old_appointment_at"] == moved.isoformat()
    new_date = desk_cal.add_working_hours(moved, 16)
    assert datetime.fromisoformat(apology[0]["new_appointment_at"]) == new_date
    letter = json.loads(
        await sla.pool.fetchval("SELECT letter FROM apologies WHERE dossier_id = $1", dossier)
    )
    assert letter["dossier_code"] == code
    assert letter["contact_ref"] == "contact-ref-1"
    assert letter["procedure_code"] == "1.012603"
    assert letter["responsible_unit_name"] == "Văn phòng Đăng ký đất đai tỉnh Hà Sơn"
    assert letter["signed_by_role"] == "unit_head"
    assert "Van phong" in letter["reason"]
    extension: Any = await sla.pool.fetchrow(
        "SELECT * FROM extensions WHERE dossier_id = $1", dossier
    )
    assert extension["new_appointment_at"] == new_date
    assert extension["letter_id"] == UUID(letter["id"])
    assert all("Nguyễn" not in json.dumps(p) for _, p in events)  # no personal data

    # The appointment passes: dossier overdue, and no second apology.
    assert await sla.handlers.fire_due_timers(moved) >= 1
    events = await sla.events()
    assert [t for t, _ in events].count("dossier.overdue") == 1
    assert [t for t, _ in events].count("apology.issued") == 1

    # Done three days later: the step and the dossier end late.
    end = desk_cal.add_working_hours(moved, 24)
    await sla.consume(
        "step.handed_off", dossier, handed_off(code, land_task, LAND_OFFICE, None, end)
    )
    await sla.consume(
        "dossier.result_ready",
        dossier,
        {"dossier_code": code, "status": 9, "at": end.isoformat(), "unit_code": DESK},
    )
    assert (await sla.deadline(dossier, "step", land_task))["outcome"] == "late"
    assert (await sla.deadline(dossier, "dossier"))["outcome"] == "late"
    facts: Any = await sla.pool.fetchrow("SELECT * FROM dossiers WHERE dossier_id = $1", dossier)
    assert (facts["status"], facts["end_status"], facts["outcome"]) == (9, 9, "late")
    assert facts["supplement_count"] == 1
    assert facts["ended_at"] == end
    assert await sla.handlers.fire_due_timers(vn(12, 31, 17)) == 0  # nothing left to fire


async def test_a_second_supplement_request_makes_an_early_dossier_late(sla: Sla) -> None:
    dossier, code = uuid4(), "000.02.01.H99-260302-0002"
    appointment = sla.book.for_unit(DESK).add_working_hours(vn(3, 2, 9), 80)
    await sla.consume("dossier.received", dossier, received(code, vn(3, 2, 9), appointment, 80))
    for n, (pause, resume) in enumerate([(vn(3, 2, 10), vn(3, 3, 9)), (vn(3, 3, 10), vn(3, 4, 9))]):
        await sla.consume(
            "dossier.supplement_requested",
            dossier,
            {
                "dossier_code": code,
                "status": 5,
                "at": pause.isoformat(),
                "task_id": f"t{n}",
                "unit_code": DESK,
                "missing_documents": ["GCN"],
            },
        )
        await sla.consume(
            "dossier.processing_resumed",
            dossier,
            {"dossier_code": code, "status": 4, "at": resume.isoformat(), "reason": "supplement"},
        )
    await sla.consume(
        "dossier.result_ready",
        dossier,
        {"dossier_code": code, "status": 9, "at": vn(3, 5, 9).isoformat(), "unit_code": DESK},
    )
    facts: Any = await sla.pool.fetchrow("SELECT * FROM dossiers WHERE dossier_id = $1", dossier)
    assert facts["supplement_count"] == 2
    assert facts["outcome"] == "late"  # days early, but two supplement requests (766/QĐ-TTg)


async def test_an_override_made_through_one_instance_applies_at_once_in_another(
    sla: Sla, infra: Infra
) -> None:
    other = CalendarBook(load_unit_calendars("three_level"))
    async with sla.pool.acquire() as conn:
        await other.reload(conn)
    friday = vn(3, 6, 9)
    assert other.for_unit(DESK).add_working_hours(friday, 8) == vn(3, 9, 9)
    async with sla.pool.acquire() as conn, conn.transaction():  # what PUT /overrides does
        await conn.execute(
            "INSERT INTO calendar_overrides (unit_code, day, kind) VALUES ('*', $1, 'day_off')",
            vn(3, 9).date(),
        )
        await conn.execute("UPDATE calendar_version SET version = version + 1 WHERE id = 1")
    async with sla.pool.acquire() as conn:
        await other.refresh(conn)
    assert other.for_unit(DESK).add_working_hours(friday, 8) == vn(3, 10, 9)


async def test_a_timer_that_cannot_fire_is_set_aside_and_does_not_block_the_others(
    sla: Sla,
) -> None:
    good, bad, bad_dossier = uuid4(), uuid4(), uuid4()
    for deadline, dossier, due_at in (
        (good, uuid4(), vn(3, 2, 9)),
        (bad, bad_dossier, datetime(1890, 1, 2, tzinfo=VN_TZ)),
    ):
        await sla.pool.execute(
            "INSERT INTO deadlines (id, dossier_id, dossier_code, kind, task_id, unit_code,"
            " starts_at, allotment_hours, due_at)"
            " VALUES ($1, $2, 'X', 'step', $5, $3, $4, 8, $4)",
            deadline,
            dossier,
            DESK,
            due_at,
            str(deadline),
        )
        await sla.pool.execute(
            "INSERT INTO timers (deadline_id, next_fire_at) VALUES ($1, $2)", deadline, due_at
        )
    await sla.pool.execute(
        "INSERT INTO deadlines (id, dossier_id, dossier_code, kind, unit_code, starts_at,"
        " allotment_hours, due_at) VALUES ($1, $2, 'X', 'dossier', $3, $4, 8, $4)",
        uuid4(),
        bad_dossier,
        DESK,
        vn(3, 2, 11),
    )
    # The bad step (due in a year the holiday data does not cover) sorts first; its
    # overrun cannot be measured for the apology, so its batch fails.
    assert await sla.handlers.fire_due_timers(vn(3, 2, 10)) == 1
    rows = {
        r["id"]: r
        for r in await sla.pool.fetch(
            "SELECT deadline_id AS id, overdue_fired, next_fire_at, fire_error FROM timers"
        )
    }
    assert rows[good]["overdue_fired"] is True
    assert rows[bad]["next_fire_at"] is None
    assert "CalendarError" in rows[bad]["fire_error"]
    assert [t for t, _ in await sla.events()] == ["step.overdue"]
    assert await sla.handlers.fire_due_timers(vn(3, 2, 10)) == 0


async def test_a_step_finished_in_time_but_heard_late_is_not_overdue_and_an_alarm_is_withdrawn(
    sla: Sla,
) -> None:
    desk = sla.book.for_unit(DESK)
    start = vn(3, 2, 7)
    appointment = desk.add_working_hours(start, 40)
    due = desk.add_working_hours(start, 8)  # the desk's step: due Mon 2 Mar 17:00
    assert due == vn(3, 2, 17)
    heard_late, fired_first = uuid4(), uuid4()
    for n, dossier in enumerate((heard_late, fired_first)):
        code = f"000.02.01.H99-260302-01{n}"
        await sla.consume("dossier.received", dossier, received(code, start, appointment, 40))
        await sla.consume(
            "step.assigned",
            dossier,
            assigned(code, f"{dossier}:tiep_nhan:1", "tiep_nhan", DESK, 8, start),
        )

    # Finished 16:00, heard after the due instant but before the timer job ran: no alarm.
    await sla.consume(
        "step.handed_off",
        heard_late,
        handed_off("x", f"{heard_late}:tiep_nhan:1", DESK, LAND_OFFICE, vn(3, 2, 16)),
    )
    # The other one's timer fires first; its on-time end (16:50) is heard afterwards.
    assert await sla.handlers.fire_due_timers(vn(3, 2, 17, 1)) == 1
    assert [t for t, _ in await sla.events()][-1] == "step.overdue"
    await sla.consume(
        "step.handed_off",
        fired_first,
        handed_off("y", f"{fired_first}:tiep_nhan:1", DESK, LAND_OFFICE, vn(3, 2, 16, 50)),
    )

    events = await sla.events()
    overdue = [p for t, p in events if t == "step.overdue"]
    assert [p["task_id"] for p in overdue] == [f"{fired_first}:tiep_nhan:1"]
    (withdrawn,) = [p for t, p in events if t == "deadline.overdue_withdrawn"]
    step = await sla.deadline(fired_first, "step")
    assert withdrawn["deadline_id"] == str(step["id"])
    assert withdrawn["withdrawn"] == ["step.overdue"]
    assert datetime.fromisoformat(withdrawn["completed_at"]) == vn(3, 2, 16, 50)
    for dossier in (heard_late, fired_first):
        step = await sla.deadline(dossier, "step")
        timer: Any = await sla.pool.fetchrow(
            "SELECT * FROM timers WHERE deadline_id = $1", step["id"]
        )
        assert (step["outcome"], timer["overdue_fired"], timer["next_fire_at"]) == (
            "on_time",
            False,
            None,
        )

    # A working day before the appointment, neither desk is blamed: no apology.
    soon = (await sla.deadline(fired_first, "dossier"))["due_soon_at"]
    assert await sla.handlers.fire_due_timers(soon) == 2
    kinds = [t for t, _ in await sla.events()]
    assert kinds[-2:] == ["deadline.due_soon", "deadline.due_soon"]
    assert "apology.issued" not in kinds
    assert await sla.pool.fetchval("SELECT count(*) FROM apologies") == 0


async def test_a_batch_of_several_dossiers_events_is_decided_and_saved_together(
    sla: Sla,
) -> None:
    start = vn(3, 2, 9)
    appointment = sla.book.for_unit(DESK).add_working_hours(start, 40)
    first, second = uuid4(), uuid4()
    batch: list[Envelope[Payload]] = []

    def add(event_type: str, dossier: UUID, payload: dict[str, Any]) -> None:
        env = EventEnvelope(
            event_type=event_type,
            dossier_id=dossier,
            correlation_id=dossier,
            producer="test",
            payload=payload,
        )
        batch.append(Envelope(env, Payload()))

    for dossier, code in ((first, "B-1"), (second, "B-2")):
        add("dossier.received", dossier, received(code, start, appointment, 40))
    for dossier, code in ((first, "B-1"), (second, "B-2")):
        task = f"{dossier}:tiep_nhan:1"
        add("step.assigned", dossier, assigned(code, task, "tiep_nhan", DESK, 8, start))
        add("step.handed_off", dossier, handed_off(code, task, DESK, None, vn(3, 2, 15)))
    add("dossier.result_ready", second, {"dossier_code": "B-2", "status": 9, "at": vn(3, 3, 9)})
    async with sla.pool.acquire() as conn, conn.transaction():
        await sla.handlers.handle(conn, batch)

    events = await sla.events()
    assert [t for t, _ in events] == ["deadline.opened"] * 4
    rows = await sla.pool.fetch(
        "SELECT dossier_id, kind, state, outcome FROM deadlines ORDER BY dossier_id, kind"
    )
    assert {(r["dossier_id"], r["kind"]): (r["state"], r["outcome"]) for r in rows} == {
        (first, "dossier"): ("open", None),
        (first, "step"): ("closed", "on_time"),  # 4 working hours were left of 8
        (second, "dossier"): ("closed", "early"),
        (second, "step"): ("closed", "on_time"),
    }
    opened = await sla.pool.fetch(
        "SELECT convert_from(value, 'UTF8')::jsonb AS e FROM outbox ORDER BY id"
    )
    causes = {str(env.event.event_id) for env in batch}
    assert all(json.loads(r["e"])["causation_id"] in causes for r in opened)


async def test_a_new_contact_reference_reaches_the_facts_and_the_letter_already_issued(
    sla: Sla,
) -> None:
    dossier, code = uuid4(), "000.02.01.H99-260302-0009"
    start = vn(3, 2, 9)
    await sla.consume(
        "dossier.received",
        dossier,
        received(code, start, sla.book.for_unit(DESK).add_working_hours(start, 8), 8),
    )
    assert await sla.handlers.fire_due_timers(vn(3, 4, 9)) == 1  # overdue: the desk apologises
    async with sla.pool.acquire() as conn, conn.transaction():
        env = EventEnvelope(
            event_type="dossier.contact_ref_assigned",
            dossier_id=dossier,
            correlation_id=dossier,
            producer="test",
            payload={"dossier_code": code, "contact_ref": "q2Hc0m1bX4yV9sWkP7dLfA"},
        )
        await sla.handlers.on_contact_ref_assigned(conn, env)
    facts: Any = await sla.pool.fetchrow("SELECT * FROM dossiers WHERE dossier_id = $1", dossier)
    assert facts["contact_ref"] == "q2Hc0m1bX4yV9sWkP7dLfA"
    letter = json.loads(
        await sla.pool.fetchval("SELECT letter FROM apologies WHERE dossier_id = $1", dossier)
    )
    assert letter["contact_ref"] == "q2Hc0m1bX4yV9sWkP7dLfA"
    assert letter["dossier_code"] == code
