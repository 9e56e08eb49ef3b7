"""Where a dossier's time goes, hop by hop, from the services' own tables.

One system (one instance of each service, as ``bench_system``), one paced phase at
``BENCH_HOPS_RATE`` (default 100/s) for ``BENCH_HOPS_SECONDS`` (default 30). Afterwards,
per accepted dossier, the instants each service recorded:

* ``due``: when the load generator was due to send the request;
* intake's outbox row of ``dossier.received``: ``created_at`` (inside the group-commit
  transaction) and ``published_at`` (after the broker's acknowledgement);
* routing's dedupe row of that event (``processed_at``: the start of the consuming
  transaction), routing's outbox row of the first ``step.assigned`` (created, published);
* SLA's dedupe row of that ``step.assigned``, SLA's last ``deadline.opened`` (created,
  published), the last of the dossier's deadlines (``sla.deadlines.created_at``: what
  ``bench_system`` calls "deadlines");
* intake's dedupe row of that ``deadline.opened``: the deadlines are visible at intake.

Each hop is printed as p50 / p99 / max in ms, with the load average and the CPU each
service used per dossier (also less what it burns idle, measured for a few seconds before
the load). ``processed_at`` and the tables' ``created_at`` are the transaction's start
(``now()``), the outbox's ``created_at`` the insert itself; the gap between a published
row and its dedupe row is the broker and the consumer's fetch.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import loadtools
from bench.bench_intake import dossier_bodies
from bench.bench_system import SERVICES, System
from services.runtime.credentials import dev_service_token
from tests.support.infra import provision

RATE = float(os.environ.get("BENCH_HOPS_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_HOPS_SECONDS", "30"))
# A directory: py-spy records each service (raw stacks, idle frames left out) during the load.
PROFILE = os.environ.get("BENCH_HOPS_PROFILE", "")
IDLE_SECONDS = 5.0

# Per dossier: epoch seconds of each instant (NULL when missing).
_INSTANTS = """
WITH d AS (SELECT unnest($1::uuid[]) AS id),
received AS (
  SELECT o.key::uuid AS id, o.event_id, o.created_at, o.published_at
  FROM {p}intake.outbox o JOIN d ON o.key = d.id::text
  WHERE o.event_type = 'dossier.received' AND o.topic LIKE '%dossier.intake'
),
assigned AS (
  SELECT DISTINCT ON (o.key) o.key::uuid AS id, o.event_id, o.created_at, o.published_at
  FROM {p}routing.outbox o JOIN d ON o.key = d.id::text
  WHERE o.event_type = 'step.assigned' AND o.topic LIKE '%dossier.routing'
  ORDER BY o.key, o.id
),
opened AS (
  SELECT DISTINCT ON (o.key) o.key::uuid AS id, o.event_id, o.created_at, o.published_at
  FROM {p}sla.outbox o JOIN d ON o.key = d.id::text
  WHERE o.event_type = 'deadline.opened' ORDER BY o.key, o.id DESC
),
deadlines AS (
  SELECT dl.dossier_id AS id, max(dl.created_at) AS t
  FROM {p}sla.deadlines dl JOIN d ON dl.dossier_id = d.id GROUP BY dl.dossier_id
)
SELECT d.id::text AS id,
  extract(epoch FROM r.created_at) AS intake_outbox,
  extract(epoch FROM r.published_at) AS intake_published,
  extract(epoch FROM (SELECT min(processed_at) FROM {p}routing.processed_events pe
                      WHERE pe.event_id = r.event_id)) AS routing_consumed,
  extract(epoch FROM a.created_at) AS routing_outbox,
  extract(epoch FROM a.published_at) AS routing_published,
  extract(epoch FROM (SELECT min(processed_at) FROM {p}sla.processed_events pe
                      WHERE pe.event_id = a.event_id)) AS sla_consumed,
  extract(epoch FROM dl.t) AS sla_deadlines,
  extract(epoch FROM o.created_at) AS sla_outbox,
  extract(epoch FROM o.published_at) AS sla_published,
  extract(epoch FROM (SELECT min(processed_at) FROM {p}intake.processed_events pe
                      WHERE pe.event_id = o.event_id)) AS intake_visible
FROM d
LEFT JOIN received r ON r.id = d.id
LEFT JOIN assigned a ON a.id = d.id
LEFT JOIN opened o ON o.id = d.id
LEFT JOIN deadlines dl ON dl.id = d.id
"""

HOPS = (
    ("due -> intake outbox row (HTTP, queue, group commit)", "due", "intake_outbox"),
    ("intake outbox -> published (commit, relay, acks)", "intake_outbox", "intake_published"),
    ("intake published -> routing consumed", "intake_published", "routing_consumed"),
    ("routing consumed -> outbox row", "routing_consumed", "routing_outbox"),
    ("routing outbox -> published", "routing_outbox", "routing_published"),
    ("routing published -> SLA consumed", "routing_published", "sla_consumed"),
    ("SLA consumed -> outbox row", "sla_consumed", "sla_outbox"),
    ("SLA outbox -> published", "sla_outbox", "sla_published"),
    ("SLA published -> intake consumed (visible)", "sla_published", "intake_visible"),
    ("END TO END due -> SLA deadlines (bench_system)", "due", "sla_deadlines"),
    ("END TO END due -> visible at intake", "due", "intake_visible"),
)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def instants(dsn: str, prefix: str, due: dict[str, float]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 120
        while True:
            rows = await conn.fetch(_INSTANTS.format(p=prefix), list(due))
            if all(r["intake_visible"] is not None for r in rows) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    out = []
    for r in rows:
        row = {k: (None if v is None else float(v)) for k, v in dict(r).items() if k != "id"}
        row["due"] = due[r["id"]]
        out.append(row)
    return out


def hops(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    result = {}
    for name, a, b in HOPS:
        values = [(r[b] - r[a]) * 1000 for r in rows if r[a] is not None and r[b] is not None]
        if values:
            result[name] = {
                "n": len(values),
                "p50": round(_pct(values, 0.5), 1),
                "p99": round(_pct(values, 0.99), 1),
                "max": round(max(values), 1),
            }
    return result


def _profile(system: System) -> list[subprocess.Popen[bytes]]:
    out = Path(PROFILE)
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    procs = []
    for name, services in system.by_service.items():
        for n, service in enumerate(services):  # e.g. intake's web and worker processes
            if service.proc is None:
                continue
            cmd = [str(spy), "record", "-f", "raw", "--nonblocking", "--subprocesses", "-r", "50"]
            cmd += ["-d", f"{SECONDS:g}", "-p", str(service.proc.pid)]
            cmd += ["-o", str(out / f"{name}-{n}.txt")]
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    return procs


def run() -> dict[str, Any]:
    loadtools.ensure_tools()
    infra = provision()
    with System(infra, 1) as system:
        portal = httpx.post(
            f"{system.intake.url}/v1/admin/portals",
            json={"name": "Bench portal", "units": ["*"]},
            headers={"X-Service-Token": dev_service_token("ops")},
            timeout=10,
        ).json()
        bodies = loadtools.bodies_file(dossier_bodies())
        record = Path(f"/tmp/bench-hops-{uuid.uuid4().hex}.tsv")
        try:
            time.sleep(3)  # consumers joined their groups
            # What the services burn idle (polls, fetches, gauges): left out of the
            # per-dossier figures, since a slower drain would count more of it.
            idle_before, idle_started = system.cpu(), time.monotonic()
            time.sleep(IDLE_SECONDS)
            cpu_before, machine_before = system.cpu(), loadtools.cpu_by_program()
            idle_per_s = {
                n: (cpu_before[n] - idle_before[n]) / (time.monotonic() - idle_started)
                for n in SERVICES
            }
            load_before = os.getloadavg()
            started = time.monotonic()
            profilers = _profile(system) if PROFILE else []
            load = loadtools.open_loop(
                f"{system.intake.url}/v1/dossiers",
                bodies,
                portal["api_key"],
                RATE,
                SECONDS,
                max_inflight=2000,
                record=record,
            )
            due = loadtools.recorded(record)
            for profiler in profilers:
                profiler.wait(60)
            rows = asyncio.run(instants(infra.database_url, system.prefix, due))
            cpu_after, machine_after = system.cpu(), loadtools.cpu_by_program()
            elapsed = time.monotonic() - started
            load_after = os.getloadavg()
        finally:
            record.unlink(missing_ok=True)
            bodies.unlink()
    accepted = max(len(due), 1)
    return {
        "rate": RATE,
        "seconds": SECONDS,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "accepted_per_s": load.get("accepted_per_s"),
        "http_p50_ms": load.get("p50_ms"),
        "http_p99_ms": load.get("p99_ms"),
        "client_cpu_share": load.get("client_cpu_share_of_machine"),
        "cpu_ms_per_dossier": {
            n: round((cpu_after[n] - cpu_before[n]) * 1000 / accepted, 2) for n in SERVICES
        },
        "idle_cpu_ms_per_s": {n: round(idle_per_s[n] * 1000, 1) for n in SERVICES},
        "cpu_ms_per_dossier_less_idle": {
            n: round((cpu_after[n] - cpu_before[n] - idle_per_s[n] * elapsed) * 1000 / accepted, 2)
            for n in SERVICES
        },
        # Every process on the machine by program (the bench's own, the stand-ins and
        # anything else running are "other" or their module), CPU ms per accepted dossier.
        "machine_cpu_ms_per_dossier": {
            name: round((used - machine_before.get(name, 0.0)) * 1000 / accepted, 2)
            for name, used in sorted(machine_after.items())
            if used - machine_before.get(name, 0.0) > 0.05
        },
        "seconds_until_all_visible": round(elapsed, 1),
        "hops_ms": hops(rows),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
