"""Routing's inbox flag follows SLA: set by ``step.overdue``, cleared when SLA withdraws the
alarm (the step had ended in time and was only heard late)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import pytest

from contracts.envelope import EventEnvelope
from contracts.events import Payload
from services.routing.entrypoints.consumers import RoutingConsumers
from services.runtime.consumer import Envelope
from services.runtime.db import create_pool, migrate
from tests.conftest import unique_prefix
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "routing" / "migrations"


def sla_event(event_type: str, dossier_id: Any, task_id: str) -> EventEnvelope:
    payload: dict[str, Any] = {"dossier_code": "000.01.01.H99-261201-0001", "task_id": task_id}
    payload |= {"unit_code": "000.01.01.H99", "due_at": "2026-12-01T15:00:00+07:00"}
    if event_type == "deadline.overdue_withdrawn":
        payload |= {"completed_at": "2026-12-01T14:20:00+07:00", "withdrawn": ["step.overdue"]}
    return EventEnvelope(
        event_type=event_type,
        dossier_id=dossier_id,
        correlation_id=dossier_id,
        producer="sla",
        payload=payload,
    )


def heard(env: EventEnvelope) -> Envelope[Payload]:
    return Envelope(env, Payload())


async def test_a_withdrawn_alarm_clears_the_inbox_flag_it_set(infra: Infra) -> None:
    schema = f"{unique_prefix()}routing"
    pool = await create_pool(infra.database_url, schema, 1, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, MIGRATIONS)
            dossier_id = uuid4()
            task_id = f"{dossier_id}:khai_sinh:1"
            await conn.execute(
                "INSERT INTO inbox (task_id, dossier_id, dossier_code, procedure_code, step_id,"
                " unit_code, queue_level, status, allotment_hours, assigned_at)"
                " VALUES ($1, $2, 'C', '1.001193', 'khai_sinh', '000.01.01.H99', 'commune',"
                " 'open', 8, $3)",
                task_id,
                dossier_id,
                datetime.now(UTC),
            )
            consumers = RoutingConsumers(cast("Any", None))  # the alarms need no workflow
            flag = "SELECT overdue FROM inbox WHERE task_id = $1"
            overdue = sla_event("step.overdue", dossier_id, task_id)
            await consumers.on_deadline_alerts(conn, [heard(overdue)])
            assert await conn.fetchval(flag, task_id) is True
            withdrawn = sla_event("deadline.overdue_withdrawn", dossier_id, task_id)
            await consumers.on_deadline_alerts(conn, [heard(withdrawn)])
            assert await conn.fetchval(flag, task_id) is False
            # Both in one batch: the later one counts.
            await consumers.on_deadline_alerts(conn, [heard(overdue), heard(withdrawn)])
            assert await conn.fetchval(flag, task_id) is False
            await consumers.on_deadline_alerts(conn, [heard(withdrawn), heard(overdue)])
            assert await conn.fetchval(flag, task_id) is True
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()
