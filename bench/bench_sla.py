"""SLA timers with one million open deadlines in PostgreSQL.

* Bulk-loads 1,000,000 open deadlines (due over the next 60 days): the due offsets go in
  with COPY, a staging table becomes deadlines + timers server-side in a scratch schema
  migrated like SLA's own; indexes are built after the load.
* **Throughput**: 100,000 more timers already due; two firer processes (each an SLA
  instance's ``SlaHandlers.fire_due_timers`` with its own pool) drain them; fired/s over
  the wall time of both.
* **Overdue-detection latency**: 2,000 timers falling due over the next 10 s while both
  firers run the service's loop (``SlaHandlers.run_timers``: batches of 1,000; when idle
  it sleeps until the next timer is due, at most 0.2 s); latency = when the overdue
  event's outbox row was written (clock_timestamp) minus the due instant.

Targets (issue 5): p99 ≤ 1 s, ≥ 5,000 fired/s across two instances. The figures vary a
lot with what else runs on the machine; the report states the machine.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing as mp
import os
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

OPEN_DEADLINES = int(os.environ.get("BENCH_SLA_OPEN", "1000000"))
BACKLOG = int(os.environ.get("BENCH_SLA_BACKLOG", "100000"))
LATENCY_TIMERS = 2000
LATENCY_SPREAD_S = 10.0
BATCH = int(os.environ.get("BENCH_SLA_BATCH", "1000"))  # SlaSettings.timer_batch
UNITS = ("000.01.01.H99", "000.02.01.H99", "DK0.00.00.H99", "CT0.00.00.H99", "CA0.01.01.H99")
DSN = os.environ.get("DATABASE_URL", "postgresql://onestop:onestop@127.0.0.1:55432/onestop")
INDEXES = (
    "deadlines_one_per_step",
    "deadlines_one_per_dossier",
    "deadlines_by_dossier",
    "timers_due",
)


def _offsets(n: int, due_from_s: float, due_to_s: float) -> bytes:
    """When each of ``n`` deadlines falls due, in seconds from now (COPY text format)."""
    rng = random.Random(n)
    return "".join(f"{rng.uniform(due_from_s, due_to_s):.3f}\n" for _ in range(n)).encode()


async def _load(conn: asyncpg.Connection, schema: str, n: int, lo: float, hi: float) -> None:
    """COPY the due offsets into a staging table, then build the deadlines server-side."""
    await conn.execute(
        f"CREATE UNLOGGED TABLE IF NOT EXISTS {schema}.bench_offsets (due_in double precision)"
    )
    await conn.execute(f"TRUNCATE {schema}.bench_offsets")
    await conn.copy_to_table(
        "bench_offsets", source=io.BytesIO(_offsets(n, lo, hi)), schema_name=schema
    )
    units = "ARRAY[" + ",".join(f"'{u}'" for u in UNITS) + "]"
    await conn.execute(
        f"WITH ins AS (INSERT INTO {schema}.deadlines (id, dossier_id, dossier_code, kind, task_id,"
        " unit_code, starts_at, allotment_hours, due_at, escalate_at)"
        " SELECT id, gen_random_uuid(), 'B-' || n, 'step', id::text,"
        f" ({units})[1 + n % {len(UNITS)}], t0 - interval '1 day', 40, due,"
        " due + interval '1 day'"  # escalation a working day later (approx.)
        " FROM (SELECT gen_random_uuid() AS id, row_number() OVER () AS n,"
        " clock_timestamp() + make_interval(secs => due_in) AS due, now() AS t0"
        f" FROM {schema}.bench_offsets) AS o RETURNING id, due_at)"
        f" INSERT INTO {schema}.timers (deadline_id, next_fire_at, escalated)"
        " SELECT id, due_at, false FROM ins"
    )


async def _prepare(prefix: str) -> None:
    from pathlib import Path

    from services.runtime.db import migrate

    schema = f"{prefix}sla"
    conn = await asyncpg.connect(DSN)
    try:
        await migrate(conn, schema, Path(__file__).resolve().parents[1] / "services/sla/migrations")
        await conn.execute(f"SET search_path TO {schema}")
        defs = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1", schema
            )
        }
        for name in INDEXES:
            await conn.execute(f"DROP INDEX {schema}.{name}")
        for table in ("deadlines", "timers"):
            await conn.execute(f"ALTER TABLE {schema}.{table} DROP CONSTRAINT {table}_pkey")
        await _load(conn, schema, OPEN_DEADLINES, 3600, 60 * 86400)
        await conn.execute(f"ALTER TABLE {schema}.deadlines ADD PRIMARY KEY (id)")
        await conn.execute(f"ALTER TABLE {schema}.timers ADD PRIMARY KEY (deadline_id)")
        for name in INDEXES:
            await conn.execute(defs[name])
        await conn.execute(f"VACUUM ANALYZE {schema}.deadlines")
        await conn.execute(f"VACUUM ANALYZE {schema}.timers")
    finally:
        await conn.close()


async def _add(prefix: str, n: int, due_from_s: float, due_to_s: float) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await _load(conn, f"{prefix}sla", n, due_from_s, due_to_s)
        await conn.execute(f"ANALYZE {prefix}sla.deadlines")
        await conn.execute(f"ANALYZE {prefix}sla.timers")
    finally:
        await conn.close()


def _firer(prefix: str, mode: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    out.put(asyncio.run(_fire(prefix, mode, seconds, ready, go)))


async def _fire(prefix: str, mode: str, seconds: float, ready: Any, go: Any) -> tuple[int, float]:
    from reference import load_unit_calendars
    from services.runtime.db import create_pool
    from services.runtime.service import settle_heap
    from services.sla.adapters.calendars import CalendarBook
    from services.sla.app import SlaSettings, directory
    from services.sla.handlers import SlaHandlers, SlaPolicy
    from tests.support.runtime import bare_runtime

    settings = SlaSettings(database_url=DSN, schema_prefix=prefix, topic_prefix=prefix)
    pool = await create_pool(DSN, settings.db_schema, 1, 2)
    rt = bare_runtime(settings, pool)
    book = CalendarBook(load_unit_calendars("three_level"))
    async with pool.acquire() as conn:
        await book.reload(conn)
    names, _ = directory("three_level")
    handlers = SlaHandlers(rt, book, SlaPolicy(timer_batch=BATCH), names, f"bench-{os.getpid()}")
    settle_heap()  # as an SLA instance does once it has started
    ready.release()
    await asyncio.to_thread(go.wait)
    fired = 0
    try:
        if mode == "drain":
            while (n := await handlers.fire_due_timers(datetime.now(UTC))) > 0:
                fired += n
        else:  # the service's own loop (services.sla.app)
            fired = await handlers.run_timers(
                settings.timer_interval_seconds, stop_at=time.time() + seconds
            )
    finally:
        await pool.close()
    return fired, time.time()


def _two_firers(
    prefix: str, mode: str, seconds: float = 0.0, before_go: Any = None
) -> tuple[int, float]:
    """Start two firer processes; when both are connected, run ``before_go`` and let go."""
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Semaphore(0), ctx.Event()
    procs = [
        ctx.Process(target=_firer, args=(prefix, mode, seconds, ready, go, out)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a firer process did not start")
    if before_go is not None:
        before_go()
    started = time.time()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    return sum(r[0] for r in results), max(r[1] for r in results) - started


async def _latencies(prefix: str) -> list[float]:
    conn = await asyncpg.connect(DSN)
    try:
        rows = await conn.fetch(
            f"SELECT extract(epoch FROM o.created_at - d.due_at) AS lag"
            f" FROM {prefix}sla.outbox o JOIN {prefix}sla.deadlines d"
            " ON d.id = (convert_from(o.value, 'UTF8')::jsonb -> 'payload' ->> 'deadline_id')::uuid"
            " WHERE o.event_type = 'step.overdue'"
        )
        return sorted(float(r["lag"]) for r in rows)
    finally:
        await conn.close()


async def _count(prefix: str, sql: str) -> int:
    conn = await asyncpg.connect(DSN)
    try:
        return int(await conn.fetchval(sql.format(s=f"{prefix}sla")))
    finally:
        await conn.close()


async def _drop(prefix: str) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}sla CASCADE")
    finally:
        await conn.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run() -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    result: dict[str, Any] = {"open_deadlines": OPEN_DEADLINES}
    try:
        started = time.perf_counter()
        asyncio.run(_prepare(prefix))
        result["load_seconds"] = round(time.perf_counter() - started, 1)

        # Throughput: a backlog of due timers, two firers draining it.
        asyncio.run(_add(prefix, BACKLOG, -60, -1))
        fired, elapsed = _two_firers(prefix, "drain")
        result["throughput"] = {
            "backlog": BACKLOG,
            "fired": fired,
            "seconds": round(elapsed, 2),
            "fired_per_second": round(fired / elapsed) if elapsed > 0 else None,
            "target_per_second": 5000,
        }
        result["throughput"]["overdue_events"] = asyncio.run(
            _count(prefix, "SELECT count(*) FROM {s}.outbox WHERE event_type = 'step.overdue'")
        )
        asyncio.run(_count(prefix, "WITH gone AS (DELETE FROM {s}.outbox RETURNING 1) SELECT 0"))

        # Latency: timers falling due while the service's loop runs in two instances.
        fired, _ = _two_firers(
            prefix,
            "loop",
            seconds=LATENCY_SPREAD_S + 3.0,
            before_go=lambda: asyncio.run(
                _add(prefix, LATENCY_TIMERS, 1.0, 1.0 + LATENCY_SPREAD_S)
            ),
        )
        lags = asyncio.run(_latencies(prefix))
        result["latency"] = {
            "timers": LATENCY_TIMERS,
            "fired": fired,
            "p50_ms": round(_pct(lags, 0.5) * 1000, 1),
            "p99_ms": round(_pct(lags, 0.99) * 1000, 1),
            "max_ms": round(lags[-1] * 1000, 1) if lags else None,
            "target_p99_ms": 1000,
        }
    finally:
        asyncio.run(_drop(prefix))
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
