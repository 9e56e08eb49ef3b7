"""Durable timers: two SLA processes share hundreds of deadlines falling due together,
and each deadline fires exactly once — across a crashed firer's transaction, a SIGKILL
and restart of one instance and a graceful restart of the other.

Counted where firing commits: one ``step.overdue`` row per deadline in SLA's outbox
(the relay publishes those rows to ``dossier.sla``; consumers dedupe on event id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.runtime.setup import ensure_topics
from tests.conftest import unique_prefix
from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration
WAVE = 300


async def until(probe: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {within}s")


@pytest.fixture
async def two_instances(
    infra: Infra,
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess, asyncpg.Connection]]:
    prefix = unique_prefix()
    await ensure_topics(infra.kafka_bootstrap, prefix)
    env = {
        **isolated_env(infra, prefix),
        "OTEL_EXPORTER": "none",
        "TIMER_BATCH": "20",  # many small batches, so both instances take part
    }
    a = ServiceProcess("sla-a", "services.sla", env, free_port())
    b = ServiceProcess("sla-b", "services.sla", env, free_port())
    a.start()
    a.wait_ready()  # the first one migrates the schema
    b.start()
    b.wait_ready()
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": f"{prefix}sla"}
    )
    try:
        yield a, b, conn
    finally:
        a.stop()
        b.stop()
        await conn.execute(f"DROP SCHEMA {prefix}sla CASCADE")
        await conn.close()


async def add_wave(conn: asyncpg.Connection, seconds_from_now: float) -> list[UUID]:
    """``WAVE`` step deadlines of as many dossiers, all due at the same instant."""
    ids = [uuid4() for _ in range(WAVE)]
    await conn.execute(
        "INSERT INTO deadlines (id, dossier_id, dossier_code, kind, task_id, unit_code,"
        " starts_at, allotment_hours, due_at)"
        " SELECT id, gen_random_uuid(), 'T-' || id, 'step', id::text, '000.02.01.H99',"
        " now(), 8, due"
        " FROM unnest($1::uuid[]) AS id,"
        " (SELECT now() + make_interval(secs => $2) AS due) AS t",
        ids,
        seconds_from_now,
    )
    await conn.execute(
        "INSERT INTO timers (deadline_id, next_fire_at)"
        " SELECT id, due_at FROM deadlines WHERE id = ANY($1::uuid[])",
        ids,
    )
    return ids


async def overdue_events(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' ->> 'deadline_id' AS id,"
        " count(*) AS n FROM outbox WHERE event_type = 'step.overdue' GROUP BY 1"
    )
    return {r["id"]: int(r["n"]) for r in rows}


async def fired(conn: asyncpg.Connection, ids: list[UUID]) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM timers WHERE deadline_id = ANY($1::uuid[]) AND overdue_fired", ids
    )
    return n


async def test_two_instances_fire_each_deadline_exactly_once_across_crashes_and_restarts(
    two_instances: tuple[ServiceProcess, ServiceProcess, asyncpg.Connection],
    infra: Infra,
) -> None:
    a, b, conn = two_instances

    # Wave 1, with a third firer that locks 50 of the timers, writes their events and
    # dies before committing (its connection is cut, as when a machine is lost).
    wave1 = await add_wave(conn, 2.0)
    schema = await conn.fetchval("SELECT current_schema()")
    crashed = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    held = wave1[:50]
    tx = crashed.transaction()
    await tx.start()
    await crashed.fetch("SELECT id FROM deadlines WHERE id = ANY($1::uuid[]) FOR UPDATE", held)
    await crashed.fetch(
        "SELECT deadline_id FROM timers WHERE deadline_id = ANY($1::uuid[]) FOR UPDATE", held
    )
    await crashed.execute(
        "UPDATE timers SET overdue_fired = true, next_fire_at = NULL, fired_by = 'ghost'"
        " WHERE deadline_id = ANY($1::uuid[])",
        held,
    )
    await crashed.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value)"
        " SELECT 'x', id::text, gen_random_uuid(), 'step.overdue',"
        " convert_to(json_build_object('payload', json_build_object('deadline_id', id))::text,"
        " 'UTF8') FROM unnest($1::uuid[]) AS id",
        held,
    )

    async def others_fired() -> bool:
        return await fired(conn, wave1[50:]) == WAVE - 50

    await until(others_fired)
    assert await fired(conn, held) == 0  # locked by the dying firer: skipped, not waited on
    crashed.terminate()  # no commit: its updates and events vanish with it

    async def wave1_fired() -> bool:
        return await fired(conn, wave1) == WAVE

    await until(wave1_fired)

    # Wave 2: instance A is killed (SIGKILL) just as the timers fall due, then restarted.
    wave2 = await add_wave(conn, 1.0)
    await asyncio.sleep(1.0)
    a.kill()
    a.start()

    async def wave2_fired() -> bool:
        return await fired(conn, wave2) == WAVE

    await until(wave2_fired)
    a.wait_ready()

    # Wave 3: instance B restarts gracefully while its timers fall due.
    wave3 = await add_wave(conn, 1.0)
    await asyncio.sleep(1.0)
    b.stop()
    b.start()

    async def wave3_fired() -> bool:
        return await fired(conn, wave3) == WAVE

    await until(wave3_fired)
    b.wait_ready()

    counts = await overdue_events(conn)
    every = [str(i) for i in wave1 + wave2 + wave3]
    assert sorted(counts) == sorted(every)
    assert {counts[i] for i in every} == {1}  # each deadline fired exactly once
    firers = {
        r["fired_by"]
        for r in await conn.fetch(
            "SELECT DISTINCT fired_by FROM timers WHERE deadline_id = ANY($1::uuid[])",
            wave1 + wave2 + wave3,
        )
    }
    assert "ghost" not in firers
    assert None not in firers


async def test_an_override_made_through_one_instance_is_applied_by_the_other_at_once(
    two_instances: tuple[ServiceProcess, ServiceProcess, asyncpg.Connection],
) -> None:
    a, b, _ = two_instances
    body = {"start": "2027-02-26T09:00:00+07:00", "working_hours": 8, "unit_code": "000.02.01.H99"}
    async with httpx.AsyncClient(timeout=10) as client:
        before = await client.post(f"{b.url}/v1/calendar/due", json=body)
        assert before.json() == {"due": "2027-03-01T09:00:00+07:00"}
        override = {"day": "2027-03-01", "kind": "day_off", "unit_code": "000.02.01.H99"}
        put = await client.put(
            f"{a.url}/v1/calendar/overrides",
            json=override,
            headers={"X-Service-Token": OPS_TOKEN},
        )
        assert put.status_code == 204
        after = await client.post(f"{b.url}/v1/calendar/due", json=body)
        assert after.json() == {"due": "2027-03-02T09:00:00+07:00"}
        listed = await client.get(f"{b.url}/v1/calendar/overrides")
        assert [(o["day"], o["kind"]) for o in listed.json()] == [("2027-03-01", "day_off")]
