"""A unit's inbox of many tasks, seeded straight into routing's and intake's tables in a
few set-based statements (submitting a thousand dossiers through the API would take
minutes on a shared machine). Each row is known to the caller, so a test computes what
the console must answer from the rows themselves."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from reference import reference

PROCEDURES = ("1.001193", "1.004873", "1.012601", "1.012602", "1.012603")
NAMES = (
    "Trần Văn Minh",
    "Lê Thị Hồng",
    "Phạm Đức Anh",
    "Hoàng Thị Mai",
    "Đặng Quốc Bảo",
    "Vũ Thị Thu",
    "Bùi Văn Đông",
    "Nguyễn Thị Lanh",  # not "Nguyễn Thị Lan": a search for that one must not find her
)
LAN = ("Nguyễn Thị Lan", "NGUYỄN THỊ LAN", "nguyễn thị lan")
PHONE_SUFFIX = "5678"


@dataclass(frozen=True)
class Task:
    task_id: str
    dossier_id: uuid.UUID
    code: str
    procedure: str
    step_id: str
    status: str
    assigned_at: datetime
    due_at: datetime | None
    full_name: str
    phone: str


def first_step(profile: str, procedure: str) -> str:
    workflows = reference(profile).procedures[procedure].workflows
    return max(workflows, key=lambda w: w.version).steps[0].id


def make_tasks(
    unit: str, n: int, now: datetime, tag: str, profile: str = "three_level"
) -> list[Task]:
    """``n`` tasks: every fifth procedure, 7 in 10 open, 2 claimed, 1 waiting; received one
    every 37 minutes back from ``now``; due from 60 hours ago to 140 hours ahead (wall
    clock), one in 50 without a deadline; one in 100 filed by "Nguyễn Thị Lan" (in three
    spellings), one in 250 with a phone ending in 5678."""
    tasks = []
    for i in range(n):
        procedure = PROCEDURES[i % len(PROCEDURES)]
        status = "open" if i % 10 < 7 else "claimed" if i % 10 < 9 else "waiting"
        due = None if i % 50 == 0 else now + timedelta(hours=(i * 13) % 200 - 60, minutes=7)
        name = LAN[(i // 100) % 3] if i % 100 == 3 else NAMES[i % len(NAMES)]
        phone = f"09{i:04d}{PHONE_SUFFIX}" if i % 250 == 7 else f"09{i:08d}"
        tasks.append(
            Task(
                task_id=f"{tag}-{i:05d}:s1",
                dossier_id=uuid.uuid4(),
                code=f"{tag}-{i:05d}",
                procedure=procedure,
                step_id=first_step(profile, procedure),
                status=status,
                assigned_at=now - timedelta(minutes=37 * i + 1),
                due_at=due,
                full_name=name,
                phone=phone,
            )
        )
    return tasks


async def seed(
    database_url: str, prefix: str, unit: str, tasks: list[Task], *, clear: bool = False
) -> None:
    """Insert the tasks (routing: instances + inbox) and their dossiers (intake); with
    ``clear``, the unit's inbox is emptied first (for exact counts: only tests and
    benches that seed use these units)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            if clear:
                await conn.execute(f"DELETE FROM {prefix}routing.inbox WHERE unit_code = $1", unit)
            await conn.execute(
                f"INSERT INTO {prefix}routing.instances (dossier_id, dossier_code,"
                " procedure_code, status, version, state)"
                " SELECT d, c, p, 4, 1, jsonb_build_object('receiving_unit', $4::text)"
                " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(d, c, p)",
                [t.dossier_id for t in tasks],
                [t.code for t in tasks],
                [t.procedure for t in tasks],
                unit,
            )
            await conn.execute(
                f"INSERT INTO {prefix}routing.inbox (task_id, dossier_id, dossier_code,"
                " procedure_code, step_id, unit_code, queue_level, status, claimed_by,"
                " allotment_hours, assigned_at, due_at)"
                " SELECT t, d, c, p, s, $9::text, 'commune', st,"
                " CASE WHEN st = 'claimed' THEN 'canbo@' || $9 END, 8, a, du"
                " FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
                " $6::text[], $7::timestamptz[], $8::timestamptz[]) AS u(t, d, c, p, s, st, a, du)",
                [t.task_id for t in tasks],
                [t.dossier_id for t in tasks],
                [t.code for t in tasks],
                [t.procedure for t in tasks],
                [t.step_id for t in tasks],
                [t.status for t in tasks],
                [t.assigned_at for t in tasks],
                [t.due_at for t in tasks],
                unit,
            )
            ref = reference("three_level")
            await conn.execute(
                f"INSERT INTO {prefix}intake.dossiers (id, code, agency_code, procedure_code,"
                " field_code, receiving_unit, channel, applicant, documents, fees, request,"
                " received_at, clock_started_at, appointment_at, status, current_unit,"
                " contact_ref)"
                " SELECT d, c, $7::text, p, f, $7::text, 2, ap::jsonb, '[]', '[]', '{}',"
                " a, a, a + interval '5 days', 4, $7::text, r"
                " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
                " $6::timestamptz[], $8::text[]) AS u(d, c, p, f, ap, a, r)",
                [t.dossier_id for t in tasks],
                [t.code for t in tasks],
                [t.procedure for t in tasks],
                [ref.procedures[t.procedure].field for t in tasks],
                [
                    json.dumps(
                        {
                            "kind": "citizen",
                            "full_name": t.full_name,
                            "citizen_id": "001190012345",
                            "phone": t.phone,
                            "address": "Thôn Đông",
                        },
                        ensure_ascii=False,
                    )
                    for t in tasks
                ],
                [t.assigned_at for t in tasks],
                unit,
                [secrets.token_urlsafe(16) for _ in tasks],
            )
    finally:
        await conn.close()
