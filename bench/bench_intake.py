"""Intake throughput and latency over HTTP, beside PostgreSQL's raw insert rate.

1. ``postgres_ceiling``: single-row INSERT + COMMIT of a dossier-sized row from 32
   concurrent connections for a few seconds: what the database takes at most.
2. ``paced``: a real intake (its own topic/schema prefix, ``WORKERS`` uvicorn workers)
   receives complete dossiers from a portal at a fixed offered load (open loop: each
   request leaves on schedule whether or not earlier ones answered; ``loadgen``, Go),
   spread over every (procedure, agency) pair of the reference data; accepted/s, 503s
   and p50/p99 latency (from the moment each request was due).
3. ``flood``: 64 connections back to back for a few seconds (``wrk``): the most intake
   accepts.

Intake stores submissions by group commit and sheds load beyond its queue with 503
(counted per phase). ``SUBMIT_BATCH_WINDOW_MS``, ``SUBMIT_BATCH_MAX`` and
``SUBMIT_QUEUE_MAX`` from the environment are passed on to intake.

Every process runs on this machine, the load generators included; they are compiled
(``bench/loadtools.py``) so that they take little of its cores, and each reports the CPU
share it took.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import loadtools
from services.intake.catalog_source import intake_catalog
from services.runtime.credentials import dev_service_token
from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
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


def run() -> dict[str, Any]:
    loadtools.ensure_tools()
    infra = provision()
    prefix = register_prefix(f"b{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    env = {
        **isolated_env(infra, prefix),
        "WORKERS": WORKERS,
        "OTEL_SAMPLE_RATIO": loadtools.SAMPLE_RATIO,
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
        bodies = loadtools.bodies_file(dossier_bodies())
        try:
            cpu_before = cpu_seconds(intake.proc.pid)
            paced_result = loadtools.open_loop(
                url, bodies, portal["api_key"], RATE, SECONDS, max_inflight=MAX_IN_FLIGHT
            )
            flood_result = loadtools.wrk(
                url, bodies, portal["api_key"], FLOOD_SECONDS, connections=64
            )
            accepted = paced_result["accepted"] + flood_result["accepted"]
            cpu_ms = (cpu_seconds(intake.proc.pid) - cpu_before) * 1000 / max(accepted, 1)
        finally:
            bodies.unlink()
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
