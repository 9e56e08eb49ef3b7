"""The interlinked birth chain (1.012601: khai sinh → thường trú → thẻ BHYT) end to end,
measured as the Flowable peer (``bench_flowable``) measures the same chain as BPMN.

Intake, routing and SLA run as in production (their own topic/schema prefix; notify is
left out: nothing of the chain waits for it). Three figures, each beside the CPU its
client used:

1. **instances started/s** = chain dossiers accepted by intake (201), from ``wrk`` with
   8 connections back to back (closed loop, as Flowable's 8 threads); then ``loadgen``
   offers a fixed rate (open loop) for p50/p99 latency and 503s at that rate.
2. **tasks completed/s** through routing's operator API with 8 concurrent clients: each
   is an official of one commune who lists the unit's open birth-registration tasks (a
   page of 50, in random order), claims and completes each (a task a colleague claimed
   first answers 409 and is skipped), then the commune police official claims and
   completes the residence task and the social-insurance system answers the card's
   step by callback (routing models it as an agency's external step; Flowable's peer
   claims and completes a user task there).
3. **timers fired/s** by SLA's own timer job: once SLA has opened every deadline of the
   run, each open one (steps not worked, the dossiers' own) is moved to fall due now, as
   if the clock had passed the allotments; fired/s until none is left due.

Every process shares this machine's cores with whatever else runs (see ``machine``).
``BENCH_CHAIN_SECONDS`` (phase length), ``BENCH_CHAIN_RATE`` (open-loop rate) size it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench import loadtools
from bench.bench_intake import cpu_seconds
from services.runtime.http_client import HttpClient
from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
from tests.support.credentials import AGENCY_TOKEN, DEV_API_KEY, access_token
from tests.support.infra import isolated_env, provision
from tests.support.officials import application
from tests.support.processes import ServiceProcess, free_port

CHAIN = "1.012601"
CHOSEN = ["1.001193", "1.004194", "1.002183"]  # birth, residence, health insurance
COMMUNES = ("000.01.01.H99", "000.02.01.H99", "000.01.02.H99", "000.02.02.H99")
POLICE = ("CA0.01.01.H99", "CA0.02.01.H99", "CA0.01.02.H99", "CA0.02.02.H99")
CLIENTS = 8
SECONDS = float(os.environ.get("BENCH_CHAIN_SECONDS", "10"))
RATE = float(os.environ.get("BENCH_CHAIN_RATE", "50"))
OPEN_LOOP_SECONDS = 5.0


def _bodies() -> list[dict[str, Any]]:
    return [
        application(CHAIN, commune, chosen=CHOSEN, email=f"me{i}@example.vn")
        for i, commune in enumerate(COMMUNES * 4)
    ]


def self_cpu() -> float:
    return loadtools.proc_cpu_seconds(os.getpid())


def _share(cpu: float, seconds: float) -> float:
    return round(cpu / seconds / (os.cpu_count() or 1), 3)


# --- 1. instances started -------------------------------------------------------------


def instances(intake: ServiceProcess) -> dict[str, Any]:
    bodies = loadtools.bodies_file(_bodies())
    url = f"{intake.url}/v1/dossiers"
    assert intake.proc is not None
    try:
        warm = loadtools.open_loop(url, bodies, DEV_API_KEY, rate=10, seconds=2)
        before = cpu_seconds(intake.proc.pid)
        closed = loadtools.wrk(url, bodies, DEV_API_KEY, SECONDS, connections=CLIENTS)
        closed["intake_cpu_s"] = round(cpu_seconds(intake.proc.pid) - before, 2)
        opened = loadtools.open_loop(url, bodies, DEV_API_KEY, RATE, OPEN_LOOP_SECONDS)
    finally:
        bodies.unlink()
    return {
        "warmup_accepted": warm["accepted"],
        "closed_loop": closed,
        "open_loop": opened,
        "instances_started_per_s": closed["accepted_per_s"],
        "client_cpu_share_of_machine": closed["client_cpu_share_of_machine"],
    }


# --- 2. tasks claimed and completed ---------------------------------------------------


class Counters:
    def __init__(self) -> None:
        self.completed = 0
        self.chains = 0
        self.conflicts = 0
        self.errors: list[str] = []


async def _official(
    client: HttpClient,
    base: str,
    n: int,
    headers: dict[str, dict[str, str]],
    deadline: float,
    c: Counters,
) -> None:
    commune, police = COMMUNES[n % len(COMMUNES)], POLICE[n % len(POLICE)]
    clerk, officer = headers[commune], headers[police]
    agency = {"X-Service-Token": AGENCY_TOKEN}
    params = {"status": "open", "procedure": CHAIN, "limit": "50"}
    while time.monotonic() < deadline:
        page = (await client.get(f"{base}/v1/inbox", headers=clerk, params=params)).json()
        page = [t for t in page if t["step_id"] == "khai_sinh"]
        if not page:
            await asyncio.sleep(0.02)
            continue
        random.shuffle(page)
        for task in page:
            if time.monotonic() >= deadline:
                return
            claim = {"expected_version": task["dossier_version"]}
            claimed = await client.post(
                f"{base}/v1/tasks/{task['task_id']}/claim", headers=clerk, json=claim
            )
            if claimed.status_code != 200:  # a colleague was first
                c.conflicts += 1
                continue
            done = await client.post(
                f"{base}/v1/tasks/{task['task_id']}/complete", headers=clerk, json={}
            )
            if done.status_code == 409:
                # Two clients share a unit's development account (one official, two
                # tabs): claiming one's own task again is allowed, so the other tab
                # finished it first.
                c.conflicts += 1
                continue
            if done.status_code != 200:
                c.errors.append(f"complete {done.status_code} {done.text[:200]}")
                continue
            c.completed += 1
            after = done.json()
            waits = {w["party"]: w for w in after["waiting_on"]}
            # The commune police: claim and complete the residence step.
            unit_task = waits["unit"]["task_id"]
            if await _claim(client, base, officer, unit_task, after["version"], c):
                r = await client.post(
                    f"{base}/v1/tasks/{unit_task}/complete", headers=officer, json={}
                )
                if r.status_code == 200:
                    c.completed += 1
                else:
                    c.errors.append(f"police {r.status_code} {r.text[:200]}")
            # Social insurance's system answers the card's step by callback.
            correlation = waits["agency"]["correlation_id"]
            body = {"outcome": "approved", "note": "đã cấp"}
            r = await client.post(
                f"{base}/v1/external/{correlation}/answer", headers=agency, json=body
            )
            if r.status_code == 200:
                c.completed += 1
                c.chains += 1
            else:
                c.errors.append(f"agency {r.status_code} {r.text[:200]}")


async def _claim(
    client: HttpClient, base: str, who: dict[str, str], task_id: str, version: int, c: Counters
) -> bool:
    """Claim with the version the official saw; if the dossier moved on meanwhile (409),
    read the unit's inbox again as an official would, and retry."""
    for _ in range(3):
        claim = {"expected_version": version}
        r = await client.post(f"{base}/v1/tasks/{task_id}/claim", headers=who, json=claim)
        if r.status_code == 200:
            return True
        c.conflicts += 1
        params = {"status": "open", "procedure": CHAIN, "limit": "500"}
        page = (await client.get(f"{base}/v1/inbox", headers=who, params=params)).json()
        found = [t["dossier_version"] for t in page if t["task_id"] == task_id]
        if not found:
            break
        version = found[0]
    c.errors.append(f"claim {task_id}: {r.status_code} {r.text[:200]}")
    return False


async def _wait_for_tasks(routing: str, headers: dict[str, dict[str, str]], want: int) -> int:
    """Until routing has put (nearly) every accepted dossier in a commune inbox."""
    deadline = time.monotonic() + 120
    seen, last_change, last = 0, time.monotonic(), -1
    async with httpx.AsyncClient(base_url=routing, timeout=30) as client:
        while time.monotonic() < deadline:
            seen = 0
            for commune in COMMUNES:
                params: dict[str, str | int] = {"status": "open", "procedure": CHAIN, "limit": 500}
                page = (
                    await client.get("/v1/inbox", headers=headers[commune], params=params)
                ).json()
                seen += len(page)
            if seen >= min(want, 500 * len(COMMUNES)):
                return seen
            if seen != last:
                last, last_change = seen, time.monotonic()
            elif time.monotonic() - last_change > 10:
                return seen
            await asyncio.sleep(0.5)
    return seen


async def tasks(routing: ServiceProcess, accepted: int) -> dict[str, Any]:
    headers = {
        u: {"Authorization": f"Bearer {access_token(routing.url, f'canbo@{u}')}"}
        for u in COMMUNES + POLICE
    }
    waiting = await _wait_for_tasks(routing.url, headers, accepted)
    counters = Counters()
    assert routing.proc is not None
    routing_before = cpu_seconds(routing.proc.pid)
    # aiohttp (the services' own per-message client): httpx cost the client ~1.7 ms of
    # CPU per request, on the cores routing runs on.
    client = HttpClient(timeout=30, max_connections=CLIENTS)
    try:
        cpu_before, started = self_cpu(), time.monotonic()
        deadline = started + SECONDS
        await asyncio.gather(
            *(
                _official(client, routing.url, n, headers, deadline, counters)
                for n in range(CLIENTS)
            )
        )
        elapsed, cpu = time.monotonic() - started, self_cpu() - cpu_before
    finally:
        await client.aclose()
    return {
        "open_tasks_at_start": waiting,
        "tasks_completed": counters.completed,
        "chains_completed": counters.chains,
        "claim_conflicts": counters.conflicts,
        "errors": counters.errors[:5],
        "seconds": round(elapsed, 2),
        "tasks_completed_per_s": round(counters.completed / elapsed, 1),
        "routing_cpu_s": round(cpu_seconds(routing.proc.pid) - routing_before, 2),
        "client": "Python (aiohttp, asyncio), 8 concurrent clients in one process",
        "client_cpu_s": round(cpu, 2),
        "client_cpu_share_of_machine": _share(cpu, elapsed),
    }


# --- 3. timers fired ------------------------------------------------------------------


async def timers(dsn: str, schema: str, sla: ServiceProcess) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        # SLA has opened (and closed) what the run's events asked for once the counts rest.
        last, quiet_since, deadline = (-1, -1), time.monotonic(), time.monotonic() + 120
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
            now = tuple(
                await conn.fetchrow(  # type: ignore[arg-type]
                    "SELECT count(*), count(*) FILTER (WHERE state = 'closed')"
                    f" FROM {schema}.deadlines"
                )
            )
            if now != last:
                last, quiet_since = now, time.monotonic()
            await asyncio.sleep(0.5)
        assert sla.proc is not None
        sla_before = cpu_seconds(sla.proc.pid)
        # The clock passes every allotment: each open deadline falls due now.
        async with conn.transaction():
            t0 = await conn.fetchval("SELECT clock_timestamp()")
            await conn.execute(
                f"UPDATE {schema}.deadlines d SET due_at = $1::timestamptz - interval '1 second',"
                " due_soon_at = NULL, escalate_at = $1::timestamptz + interval '1 day'"
                f" FROM {schema}.timers t"
                " WHERE t.deadline_id = d.id AND t.next_fire_at IS NOT NULL",
                t0,
            )
            opened = await conn.fetchval(
                f"WITH due AS (UPDATE {schema}.timers"
                " SET next_fire_at = $1::timestamptz - interval '1 second'"
                " WHERE next_fire_at IS NOT NULL RETURNING 1) SELECT count(*) FROM due",
                t0,
            )
        started = time.monotonic()
        remaining = opened
        while remaining and time.monotonic() - started < 120:
            await asyncio.sleep(0.05)
            remaining = await conn.fetchval(
                f"SELECT count(*) FROM {schema}.timers WHERE next_fire_at <= $1", t0
            )
        elapsed = time.monotonic() - started
        overdue = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.outbox"
            " WHERE event_type IN ('step.overdue', 'dossier.overdue')"
            " AND created_at >= $1",
            t0,
        )
    finally:
        await conn.close()
    fired = opened - remaining
    return {
        "open_timers": opened,
        "timers_fired": fired,
        "overdue_events": overdue,
        "seconds": round(elapsed, 2),
        "timers_fired_per_s": round(fired / elapsed, 1) if elapsed else None,
        "sla_cpu_s": round(cpu_seconds(sla.proc.pid) - sla_before, 2),
        "client": "none (SLA's own timer job; the bench polls a count every 50 ms)",
    }


# --- orchestration --------------------------------------------------------------------


def run() -> dict[str, Any]:
    loadtools.ensure_tools()
    infra = provision()
    prefix = register_prefix(f"b{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    env = isolated_env(
        infra,
        prefix,
        QUIET_HOURS="",
        LOG_LEVEL="WARNING",
        WORKERS="2",
        OTEL_SAMPLE_RATIO=loadtools.SAMPLE_RATIO,
    )
    ports = {name: free_port() for name in ("intake", "routing", "sla")}
    env.update({f"{n.upper()}_URL": f"http://127.0.0.1:{p}" for n, p in ports.items()})
    procs = {n: ServiceProcess(n, f"services.{n}", env, p) for n, p in ports.items()}
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0], "procedure": CHAIN}
    try:
        for proc in procs.values():
            proc.start()
        for proc in procs.values():
            proc.wait_ready()
        result["instances"] = instances(procs["intake"])
        accepted = (
            result["instances"]["closed_loop"]["accepted"]
            + result["instances"]["open_loop"]["accepted"]
        )
        result["tasks"] = asyncio.run(tasks(procs["routing"], accepted))
        result["timers"] = asyncio.run(timers(infra.database_url, f"{prefix}sla", procs["sla"]))
    finally:
        for proc in procs.values():
            proc.stop()
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
