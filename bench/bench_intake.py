"""Intake throughput and latency over HTTP, beside PostgreSQL's raw insert rate.

1. ``postgres_ceiling``: single-row INSERT + COMMIT of a dossier-sized row from 32
   concurrent connections for a few seconds: what the database takes at most.
2. ``paced``: a real intake (its own topic/schema prefix, ``WORKERS`` uvicorn workers)
   receives complete dossiers from a portal at a fixed offered load (open loop: each
   request leaves on schedule whether or not earlier ones answered), spread over every
   (procedure, agency) pair of the reference data; accepted/s and p50/p99 latency.
3. ``flood``: 64 clients back to back for a few seconds: the most intake accepts,
   also as a share of the PostgreSQL ceiling.

Intake stores submissions by group commit and sheds load beyond its queue with 503:
each phase reports how many were shed and how fast that answer came (``shed_503``,
``shed_p99_ms``). ``SUBMIT_BATCH_WINDOW_MS``, ``SUBMIT_BATCH_MAX`` and
``SUBMIT_QUEUE_MAX`` from the environment are passed on to intake.

Every process runs on this machine, the bench client included, so the figures are for
the whole thing sharing its cores (see the report's ``machine``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.reference import intake_catalog
from services.runtime.credentials import dev_service_token
from services.runtime.setup import ensure_topics
from tests.support.infra import isolated_env, provision
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import document

RATE = int(os.environ.get("BENCH_INTAKE_RATE", "500"))
SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "10"))
FLOOD_SECONDS = float(os.environ.get("BENCH_INTAKE_FLOOD_SECONDS", "8"))
WORKERS = os.environ.get("BENCH_INTAKE_WORKERS", "2")
TOKEN = dev_service_token("ops")
MAX_IN_FLIGHT = 300


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return total


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))], 2)


def dossier_bodies() -> list[dict[str, Any]]:
    """One complete dossier per (procedure, receiving agency) pair of the reference data."""
    catalog = intake_catalog("three_level")
    bodies = []
    for proc in catalog.procedures.values():
        chosen = list(proc.chain.options[: proc.chain.min_choices]) if proc.chain else []
        for unit in catalog.units.values():
            if unit.level not in proc.active_levels:
                continue
            bodies.append(
                {
                    "procedure_code": proc.code,
                    "receiving_unit": unit.code,
                    "channel": 2,
                    "applicant": {
                        "full_name": "Nguyễn Văn Bình",
                        "citizen_id": "001090001234",
                        "phone": "0987654321",
                        "email": "binh@example.vn",
                        "address": "Thôn Đông",
                    },
                    "documents": [document(c, n) for c, n in proc.required_documents.items()],
                    "chosen_subprocedures": chosen,
                    "summary": f"Hồ sơ {proc.name}",
                }
            )
    return bodies


async def postgres_ceiling(dsn: str, seconds: float = 4.0, clients: int = 32) -> dict[str, Any]:
    table = f"bench_insert_{uuid.uuid4().hex[:8]}"
    row = json.dumps(dossier_bodies()[0], ensure_ascii=False)
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    assert pool is not None
    await pool.execute(
        f"CREATE TABLE {table} (id uuid PRIMARY KEY, body jsonb NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                await conn.execute(
                    f"INSERT INTO {table} (id, body) VALUES ($1, $2::jsonb)", uuid.uuid4(), row
                )
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await pool.execute(f"DROP TABLE {table}")
    await pool.close()
    return {"inserts_per_s": round(done / elapsed), "clients": clients, "seconds": seconds}


async def _post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], out: list[tuple[int, float]]
) -> None:
    sent = time.perf_counter()
    try:
        status = (await client.post(url, json=body)).status_code
    except httpx.HTTPError:
        status = 0
    out.append((status, (time.perf_counter() - sent) * 1000))


def _report(results: list[tuple[int, float]], elapsed: float) -> dict[str, Any]:
    accepted = [ms for status, ms in results if status == 201]
    shed = [ms for status, ms in results if status == 503]
    return {
        "sent": len(results),
        "accepted": len(accepted),
        "other_statuses": sorted({s for s, _ in results if s != 201}),
        "accepted_per_s": round(len(accepted) / elapsed, 1),
        "p50_ms": pct(accepted, 50),
        "p99_ms": pct(accepted, 99),
        "mean_ms": round(statistics.fmean(accepted), 2) if accepted else None,
        # Load shedding: how many were refused with 503 and how fast that answer came.
        "shed_503": len(shed),
        "shed_p99_ms": pct(shed, 99),
    }


async def paced(url: str, key: str, rate: int, seconds: float) -> dict[str, Any]:
    """Open loop. A request due while MAX_IN_FLIGHT are unanswered is counted as shed
    (status -1) rather than queued in the client, whose pool degrades with many waiters."""
    bodies = itertools.cycle(dossier_bodies())
    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as client:
        total = int(rate * seconds)
        started = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(tasks) >= MAX_IN_FLIGHT:
                results.append((-1, 0.0))
                continue
            task = asyncio.create_task(_post(client, url, next(bodies), results))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    report = _report(results, elapsed)
    report.update({"offered_per_s": rate, "seconds": seconds})
    return report


async def flood(url: str, key: str, seconds: float, clients: int = 64) -> dict[str, Any]:
    bodies = itertools.cycle(dossier_bodies())
    results: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers={"X-API-Key": key}) as client:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                await _post(client, url, next(bodies), results)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    report = _report(results, elapsed)
    report["clients"] = clients
    return report


def run() -> dict[str, Any]:
    infra = provision()
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    env = {
        **isolated_env(infra, prefix),
        "WORKERS": WORKERS,
        "DB_POOL_MAX": os.environ.get("BENCH_INTAKE_POOL", "20"),
    }
    for name in ("SUBMIT_BATCH_WINDOW_MS", "SUBMIT_BATCH_MAX", "SUBMIT_QUEUE_MAX"):
        if name in os.environ:
            env[name] = os.environ[name]
    intake = ServiceProcess("intake", "services.intake", env, free_port())
    intake.start()
    try:
        intake.wait_ready()
        portal = httpx.post(
            f"{intake.url}/v1/admin/portals",
            json={"name": "Bench portal", "units": ["*"]},
            headers={"X-Service-Token": TOKEN},
            timeout=10,
        ).json()
        url = f"{intake.url}/v1/dossiers"
        ceiling = asyncio.run(postgres_ceiling(infra.database_url))
        assert intake.proc is not None
        cpu_before = cpu_seconds(intake.proc.pid)
        paced_result = asyncio.run(paced(url, portal["api_key"], RATE, SECONDS))
        flood_result = asyncio.run(flood(url, portal["api_key"], FLOOD_SECONDS))
        accepted = paced_result["accepted"] + flood_result["accepted"]
        cpu_ms = (cpu_seconds(intake.proc.pid) - cpu_before) * 1000 / max(accepted, 1)
    finally:
        intake.stop()
    ceiling_per_s = ceiling["inserts_per_s"]
    return {
        "machine": {"cpus": os.cpu_count(), "note": "shared with the other processes"},
        "intake_workers": int(WORKERS),
        "group_commit": {
            name: env.get(name.upper(), "default")
            for name in ("submit_batch_window_ms", "submit_batch_max", "submit_queue_max")
        },
        "agencies": len({b["receiving_unit"] for b in dossier_bodies()}),
        "postgres_ceiling": ceiling,
        "paced": paced_result,
        "flood": flood_result,
        "flood_share_of_postgres_ceiling": round(
            flood_result["accepted_per_s"] / max(ceiling_per_s, 1), 3
        ),
        "intake_cpu_ms_per_accepted_dossier": round(cpu_ms, 2),
        "load_average_at_end": os.getloadavg(),
        "targets": {"accepted_per_s": 2000, "p99_ms_at_500_per_s": 25},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
