"""The whole system under load, with one and with two instances of every service.

All four services run (their own topic/schema prefix; ``instances`` processes each of
routing, SLA and notify, and as many uvicorn workers of intake), with the local SMTP
and SMS stand-ins. A portal submits complete dossiers, spread over every (procedure,
agency) pair of the reference data, from the compiled open-loop generator
(``bench/loadgen``), which records when each accepted request was due. Afterwards the
services' own tables say when each dossier got there:

* **submission -> first inbox**: the first task row in routing's inbox (``created_at``);
* **submission -> deadlines**: the last of the dossier's deadlines opened in SLA
  (``created_at``; the dossier's own and its first steps').

Before the measured phases a **warm-up** (``BENCH_SYSTEM_WARMUP_SECONDS``, 5 s at 20/s,
not measured) lets every consumer group join and every process take its first requests
and events: the paced figures are the system holding a rate, not its first seconds
after a start (in an A/B on 2026-12-03 the first two seconds after a cold start had p99
~430 ms against ~300 ms for the rest at 100/s).

Phases per instance count: paced at ``BENCH_SYSTEM_RATES`` (default 100, 200, 300/s)
for ``BENCH_SYSTEM_SECONDS`` each; then **overload** at ``BENCH_OVERLOAD_FACTOR`` (5) times
the highest paced rate: intake answers 201 or 503 with ``Retry-After``; once the system
has drained, a count shows whether every accepted dossier was stored once, routed once
(one routing instance, each first task assigned once) and got its deadlines once, and
that no refused request left a dossier behind. The CPU each service used is reported
per accepted dossier. With ``BENCH_SYSTEM_CLUSTER=1`` (the default) the paced phases run
again, with 1 and 2 instances, on a local 3-broker KRaft cluster started by the project's
script (replication factor 3, ``min.insync.replicas=2``), beside the single broker's.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import loadtools
from bench.bench_intake import cpu_seconds, dossier_bodies
from bench.bench_routing import pct, summary_ms
from services.runtime.credentials import dev_service_token
from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
from tests.support.cluster import KafkaCluster
from tests.support.infra import Infra, isolated_env, provision
from tests.support.processes import ServiceProcess, free_port

RATES = [int(r) for r in os.environ.get("BENCH_SYSTEM_RATES", "100,200,300").split(",")]
SECONDS = float(os.environ.get("BENCH_SYSTEM_SECONDS", "10"))
OVERLOAD_FACTOR = float(os.environ.get("BENCH_OVERLOAD_FACTOR", "5"))
INSTANCE_COUNTS = [int(n) for n in os.environ.get("BENCH_SYSTEM_INSTANCES", "1,2").split(",")]
WARMUP_SECONDS = float(os.environ.get("BENCH_SYSTEM_WARMUP_SECONDS", "5"))
WARMUP_RATE = 20.0
DRAIN_SECONDS = float(os.environ.get("BENCH_SYSTEM_DRAIN_SECONDS", "180"))
# The same runs again on a 3-broker cluster (RF 3, min.insync.replicas 2, acks=all).
ON_CLUSTER = os.environ.get("BENCH_SYSTEM_CLUSTER", "1") == "1"
# Intake as a web process (requests) and a worker (relay, consumers, jobs), as deployed.
SPLIT_INTAKE = os.environ.get("BENCH_INTAKE_SPLIT", "1") == "1"
SERVICES = ("intake", "routing", "sla", "notify")


class System:
    """The four services (``instances`` of each) and the dev servers, on one prefix."""

    def __init__(self, infra: Infra, instances: int) -> None:
        self.prefix = register_prefix(f"b{uuid.uuid4().hex[:8]}_")
        asyncio.run(ensure_topics(infra.kafka_bootstrap, self.prefix))
        env = isolated_env(
            infra,
            self.prefix,
            QUIET_HOURS="",
            LOG_LEVEL="WARNING",
            OTEL_SAMPLE_RATIO=loadtools.SAMPLE_RATIO,
        )
        env.update(
            {k: str(free_port()) for k in ("SMTP_PORT", "ESMS_PORT", "VIETTEL_PORT", "ZALO_PORT")}
        )
        ports = {name: free_port() for name in SERVICES}
        env.update({f"{n.upper()}_URL": f"http://127.0.0.1:{p}" for n, p in ports.items()})
        devservers = "services.notify.devservers"
        self.devservers = ServiceProcess("devservers", devservers, env, free_port())
        intake_env = {**env, "WORKERS": str(instances), "DB_POOL_MAX": "20"}
        if SPLIT_INTAKE:
            intake_env["SERVICE_ROLE"] = "web"
        self.intake = ServiceProcess("intake", "services.intake", intake_env, ports["intake"])
        self.by_service: dict[str, list[ServiceProcess]] = {"intake": [self.intake]}
        if SPLIT_INTAKE:  # its outbox, its consumers and its jobs in a process of their own
            worker_env = {**env, "SERVICE_ROLE": "worker"}
            worker = ServiceProcess("intake-worker", "services.intake", worker_env, free_port())
            self.by_service["intake"].append(worker)
        for name in SERVICES[1:]:
            # The first instance answers on the port the others call; the rest only consume.
            self.by_service[name] = [
                ServiceProcess(
                    f"{name}-{i}" if i else name,
                    f"services.{name}",
                    env,
                    ports[name] if i == 0 else free_port(),
                )
                for i in range(instances)
            ]
        self.processes = [self.devservers] + [p for ps in self.by_service.values() for p in ps]

    def __enter__(self) -> System:
        for proc in self.processes:
            proc.start()
        for proc in self.processes:
            proc.wait_ready(path="/healthz" if proc is self.devservers else "/readyz")
        return self

    def __exit__(self, *_: object) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def cpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, procs in self.by_service.items():
            out[name] = sum(cpu_seconds(p.proc.pid) for p in procs if p.proc is not None)
        return out


async def _arrivals(dsn: str, prefix: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per accepted dossier: when it reached the first inbox and its deadlines, and the
    counts that show it was handled once."""
    conn = await asyncpg.connect(dsn)
    try:
        inbox = await conn.fetch(
            f"SELECT dossier_id::text AS d, extract(epoch FROM min(created_at)) AS t,"
            f" count(*) AS tasks FROM {prefix}routing.inbox"
            " WHERE dossier_id = ANY($1::uuid[]) GROUP BY dossier_id",
            ids,
        )
        deadlines = await conn.fetch(
            f"SELECT dossier_id::text AS d, extract(epoch FROM max(created_at)) AS t,"
            f" count(*) FILTER (WHERE kind = 'dossier') AS own, count(*) AS n"
            f" FROM {prefix}sla.deadlines WHERE dossier_id = ANY($1::uuid[]) GROUP BY dossier_id",
            ids,
        )
        assigned = await conn.fetch(
            "SELECT key AS d, count(*) AS n,"
            " count(DISTINCT convert_from(value, 'UTF8')::jsonb->'payload'->>'task_id') AS tasks"
            f" FROM {prefix}routing.outbox WHERE key = ANY($1::text[])"
            " AND event_type = 'step.assigned' AND topic LIKE '%dossier.routing' GROUP BY key",
            ids,
        )
        instances = await conn.fetch(
            f"SELECT dossier_id::text AS d FROM {prefix}routing.instances"
            " WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await conn.close()
    rows: dict[str, dict[str, Any]] = {d: {} for d in ids}
    for r in inbox:
        rows[r["d"]].update(inbox=float(r["t"]), tasks=r["tasks"])
    for r in deadlines:
        rows[r["d"]].update(deadlines=float(r["t"]), own_deadlines=r["own"], all_deadlines=r["n"])
    for r in assigned:
        rows[r["d"]].update(assignments=r["n"], assigned_tasks=r["tasks"])
    for r in instances:
        rows[r["d"]]["instance"] = True
    return rows


async def _settled(dsn: str, prefix: str, ids: list[str], within: float) -> dict[str, Any]:
    """Wait until every accepted dossier is routed, in an inbox and has its own deadline
    and its first step's (or ``within`` passes): the counts and the latest deadline are
    read only then."""
    deadline = time.monotonic() + within
    rows = await _arrivals(dsn, prefix, ids)
    while time.monotonic() < deadline and not all(map(_complete, rows.values())):
        await asyncio.sleep(1.0)
        rows = await _arrivals(dsn, prefix, ids)
    return rows


def _complete(row: dict[str, Any]) -> bool:
    return (
        "instance" in row
        and "inbox" in row
        and row.get("all_deadlines", 0) > row.get("own_deadlines", 0) > 0
    )


def _by_second(samples: list[tuple[float, float]]) -> list[float | None]:
    """The p99 of the dossiers submitted in each second of the phase: a tail from the
    phase's first seconds, or one second's stall, reads apart from a steady one."""
    seconds: dict[int, list[float]] = {}
    for at, ms in samples:
        seconds.setdefault(max(int(at), 0), []).append(ms)
    return [pct(seconds.get(s, []), 99) for s in range(max(seconds, default=-1) + 1)]


async def _stored(dsn: str, prefix: str, since: float) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            f"SELECT count(*) FROM {prefix}intake.dossiers WHERE created_at >= to_timestamp($1)",
            since,
        )
    finally:
        await conn.close()
    return count


def _phase(
    infra: Infra, system: System, api_key: str, bodies: Path, rate: float, overload: bool
) -> dict[str, Any]:
    record = Path(f"/tmp/bench-system-{uuid.uuid4().hex}.tsv")
    url = f"{system.intake.url}/v1/dossiers"
    cpu_before = system.cpu()
    began = time.time()
    try:
        load = loadtools.open_loop(
            url, bodies, api_key, rate, SECONDS, max_inflight=2000, record=record
        )
        due = loadtools.recorded(record)
    finally:
        record.unlink(missing_ok=True)
    ids = list(due)
    rows = asyncio.run(_settled(infra.database_url, system.prefix, ids, DRAIN_SECONDS))
    drained_s = time.time() - began
    cpu_after = system.cpu()
    to_inbox = [(r["inbox"] - due[d]) * 1000 for d, r in rows.items() if "inbox" in r]
    to_deadlines = [(r["deadlines"] - due[d]) * 1000 for d, r in rows.items() if "deadlines" in r]
    accepted = len(ids)
    result: dict[str, Any] = {
        "offered_per_s": rate,
        "seconds": SECONDS,
        "load": {
            k: load.get(k)
            for k in (
                "accepted",
                "accepted_per_s",
                "http_503",
                "http_503_with_retry_after",
                "transport_errors",
                "status_counts",
                "p50_ms",
                "p99_ms",
                "p99_ms_by_second",
                "client_cpu_share_of_machine",
            )
        },
        "submission_to_first_inbox": summary_ms(to_inbox),
        "submission_to_deadlines": summary_ms(to_deadlines),
        "deadlines_p99_ms_by_second": _by_second(
            [
                (due[d] - began, (r["deadlines"] - due[d]) * 1000)
                for d, r in rows.items()
                if "deadlines" in r
            ]
        ),
        "cpu_ms_per_dossier": {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(accepted, 1), 2)
            for name in SERVICES
        },
        "seconds_until_all_deadlines": round(drained_s, 1),
    }
    if overload:
        result["count"] = {
            "accepted": accepted,
            "stored_by_intake_in_phase": asyncio.run(
                _stored(infra.database_url, system.prefix, began - 1)
            ),
            "routed_once": sum(1 for r in rows.values() if r.get("instance")),
            "each_first_task_assigned_once": sum(
                1
                for r in rows.values()
                if r.get("assignments") and r["assignments"] == r.get("assigned_tasks")
            ),
            "in_an_inbox": sum(1 for r in rows.values() if "inbox" in r),
            "own_deadline_once": sum(1 for r in rows.values() if r.get("own_deadlines") == 1),
        }
    return result


def _warm_up(system: System, api_key: str, bodies: Path) -> dict[str, Any]:
    """A few seconds at a low rate, not measured; then a pause that lets it drain (and
    keeps its dossiers out of the next phase's stored count, which starts a second before
    that phase)."""
    if WARMUP_SECONDS <= 0:
        return {"seconds": 0}
    url = f"{system.intake.url}/v1/dossiers"
    load = loadtools.open_loop(url, bodies, api_key, WARMUP_RATE, WARMUP_SECONDS)
    time.sleep(3.0)
    return {"seconds": WARMUP_SECONDS, "offered_per_s": WARMUP_RATE, "accepted": load["accepted"]}


def run_system(infra: Infra, instances: int, overload: bool = True) -> dict[str, Any]:
    with System(infra, instances) as system:
        portal = httpx.post(
            f"{system.intake.url}/v1/admin/portals",
            json={"name": "Bench portal", "units": ["*"]},
            headers={"X-Service-Token": dev_service_token("ops")},
            timeout=10,
        ).json()
        bodies = loadtools.bodies_file(dossier_bodies())
        try:
            warm = _warm_up(system, portal["api_key"], bodies)
            paced = {
                f"{rate}_per_s": _phase(infra, system, portal["api_key"], bodies, rate, False)
                for rate in RATES
            }
            result: dict[str, Any] = {
                "instances_per_service": instances,
                "warmup": warm,
                "paced": paced,
            }
            if overload and OVERLOAD_FACTOR > 0:  # 0: the paced runs alone
                rate = OVERLOAD_FACTOR * max(RATES)
                result["overload"] = _phase(infra, system, portal["api_key"], bodies, rate, True)
        finally:
            bodies.unlink()
    return result


def run_on_cluster(infra: Infra) -> dict[str, Any]:
    """The paced runs with 1 and 2 instances per service on a local 3-broker cluster."""
    state = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = KafkaCluster(state=state)
    try:
        started = time.perf_counter()
        cluster.start()
        cluster.wait()
        on_cluster = Infra(database_url=infra.database_url, kafka_bootstrap=cluster.bootstrap)
        result: dict[str, Any] = {
            "brokers": cluster.nodes,
            "start_seconds": round(time.perf_counter() - started, 1),
        }
        for instances in INSTANCE_COUNTS:
            result[f"instances_{instances}"] = run_system(on_cluster, instances, overload=False)
        return result
    finally:
        cluster.stop()
        cluster.remove()


def run() -> dict[str, Any]:
    loadtools.ensure_tools()
    infra = provision()
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    for instances in INSTANCE_COUNTS:
        result[f"instances_{instances}"] = run_system(infra, instances)
    if ON_CLUSTER:
        result["cluster"] = run_on_cluster(infra)
    result["load_average_at_end"] = os.getloadavg()[0]
    result["targets"] = {
        "floor": "100/s offered: submission -> deadlines p99 < 250 ms",
        "target": "300/s offered: p99 <= 100 ms; first inbox p99 <= 50 ms at 200/s",
        "overload": "5x offered: accepted p99 <= 1 s, the rest 503 + Retry-After,"
        " every accepted dossier routed once",
    }
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
