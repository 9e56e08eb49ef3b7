"""Routing throughput and latency, with raw Kafka measured in the same run as the ceiling.

1. ``kafka_ceiling``: aiokafka alone produces (acks=all, idempotent, as the outbox relay
   does) and then consumes N records of a dossier event's size on a 6-partition topic.
2. ``routed``: routing alone (its own topic/schema prefix). ``dossier.received`` events
   are produced onto ``dossier.intake`` as intake would; routing consumes each, decides,
   commits state + inbox row + outbox, the relay publishes the assignment, and a bench
   consumer reads it off the level queue. One hand-off = desk -> first unit's queue.
   * paced, light (20/s, below capacity) and at the 200/s target: the lag each hop
     adds (p50/p99):
     ``intake topic -> routing inbox row`` (Kafka + consume + decide + commit),
     ``routing outbox -> broker ack`` (relay), ``broker -> next consumer``, and in all;
   * flooded: hand-offs per second end to end (first produce to last arrival).
3. ``submission_to_inbox``: all four services (their own prefix); a portal POSTs
   dossiers to intake at 200/s (open loop); latency = the task row landing in the
   commune's inbox (``inbox.created_at``) minus the moment the POST was sent.

Every process runs on this machine, bench client included: figures are for the whole
stack sharing its cores (see the report's ``machine`` and load averages).
Part 3 runs only with ``BENCH_ROUTING_SYSTEM=1`` (``bench_system`` measures the same
with a compiled client); ``BENCH_RAW_RECORDS``, ``BENCH_PACED_SECONDS``,
``BENCH_FLOOD_DOSSIERS`` and ``BENCH_LIGHT_RATE`` size the runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import loadtools
from contracts.envelope import EventEnvelope
from contracts.events import Channel, DossierReceived
from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
from tests.support.credentials import PORTAL
from tests.support.infra import Infra, isolated_env, provision
from tests.support.officials import application
from tests.support.processes import ServiceProcess, free_port

COMMUNE = "000.01.01.H99"
COMMUNES = ("000.01.01.H99", "000.02.01.H99", "000.01.02.H99", "000.02.02.H99")
RAW_RECORDS = int(os.environ.get("BENCH_RAW_RECORDS", "20000"))
PACED_RATE = 200
LIGHT_RATE = int(os.environ.get("BENCH_LIGHT_RATE", "20"))
PACED_SECONDS = float(os.environ.get("BENCH_PACED_SECONDS", "5"))
FLOOD_DOSSIERS = int(os.environ.get("BENCH_FLOOD_DOSSIERS", "5000"))


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return round(ordered[index], 2)


def summary_ms(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": pct(values, 50),
        "p99_ms": pct(values, 99),
        "max_ms": round(max(values), 2) if values else None,
        "mean_ms": round(statistics.fmean(values), 2) if values else None,
    }


# --- 1. raw Kafka ---------------------------------------------------------------------


async def kafka_ceiling(bootstrap: str, prefix: str) -> dict[str, Any]:
    topic = f"{prefix}bench.raw"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    value = received_envelope(uuid.uuid4(), "000.01.01.H99-000000-0000").model_dump_json()
    payload = value.encode()
    keys = [str(uuid.uuid4()).encode() for _ in range(RAW_RECORDS)]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, payload, key=k) for k in keys]
        await asyncio.gather(*futures)
        produce_s = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}bench-raw",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        got = 0
        started = time.perf_counter()
        while got < RAW_RECORDS:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            got += sum(len(records) for records in batches.values())
        consume_s = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {
        "records": RAW_RECORDS,
        "record_bytes": len(payload),
        "produce_per_s": round(RAW_RECORDS / produce_s),
        "consume_per_s": round(RAW_RECORDS / consume_s),
    }


# --- 2. routing alone -------------------------------------------------------------------


def received_envelope(dossier_id: uuid.UUID, code: str) -> EventEnvelope:
    now = datetime.now(UTC)
    payload = DossierReceived(
        dossier_code=code,
        procedure_code="1.001193",
        field_code="ho_tich",
        receiving_unit=COMMUNE,
        channel=Channel.ONLINE,
        received_at=now,
        clock_started_at=now,
        appointment_at=now + timedelta(days=1),
        legal_hours=8,
        contact_ref=secrets.token_urlsafe(16),  # opaque, as intake issues them
    )
    return EventEnvelope(
        event_type="dossier.received",
        dossier_id=dossier_id,
        sequence=1,
        correlation_id=dossier_id,
        producer="intake",
        payload=payload.model_dump(mode="json"),
    )


class QueueWatcher:
    """Reads the commune queue as the next consumer would; notes each arrival."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(
            f"{prefix}queue.commune",
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}bench-watch-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",  # a fresh prefix: the queue starts empty
            enable_auto_commit=False,
        )
        self.intake_topic = f"{prefix}dossier.intake"
        self.arrivals: dict[str, tuple[float, float]] = {}  # dossier -> (arrived, created)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for record in records:
                    body = json.loads(record.value or b"{}")
                    self.arrivals[body["dossier_id"]] = (now, record.timestamp / 1000)

    async def wait_for(self, ids: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not ids <= self.arrivals.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def _hop_rows(dsn: str, schema: str, ids: list[str]) -> dict[str, dict[str, float]]:
    conn = await asyncpg.connect(dsn)
    try:
        inbox = await conn.fetch(
            f"SELECT dossier_id::text AS d, extract(epoch FROM created_at) AS t"
            f" FROM {schema}.inbox WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
        outbox = await conn.fetch(
            f"SELECT key AS d, extract(epoch FROM created_at) AS c,"
            f" extract(epoch FROM published_at) AS p FROM {schema}.outbox"
            " WHERE key = ANY($1::text[]) AND topic LIKE '%dossier.routing'"
            " AND event_type = 'step.assigned'",
            ids,
        )
    finally:
        await conn.close()
    rows: dict[str, dict[str, float]] = {r["d"]: {"inbox": float(r["t"])} for r in inbox}
    for r in outbox:
        if r["d"] in rows and r["p"] is not None:
            rows[r["d"]].update(outbox_created=float(r["c"]), published=float(r["p"]))
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (so far), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _paced(
    infra: Infra,
    schema: str,
    producer: AIOKafkaProducer,
    watcher: QueueWatcher,
    rate: int,
    tag: str,
) -> dict[str, Any]:
    topic = watcher.intake_topic
    sent: dict[str, float] = {}
    count = int(rate * PACED_SECONDS)
    started = time.time()
    for i in range(count):
        delay = started + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        dossier = uuid.uuid4()
        envelope = received_envelope(dossier, f"{COMMUNE}-{tag}-{i:05d}")
        meta = await producer.send_and_wait(
            topic, envelope.model_dump_json().encode(), key=str(dossier).encode()
        )
        sent[str(dossier)] = meta.timestamp / 1000
    await watcher.wait_for(set(sent), within=120)
    hops = await _hop_rows(infra.database_url, schema, list(sent))
    to_routing: list[float] = []
    relay: list[float] = []
    to_consumer: list[float] = []
    total: list[float] = []
    for key, produced in sent.items():
        row, arrival = hops.get(key), watcher.arrivals.get(key)
        if row is None or arrival is None or "published" not in row:
            continue
        to_routing.append((row["inbox"] - produced) * 1000)
        relay.append((row["published"] - row["outbox_created"]) * 1000)
        to_consumer.append((arrival[0] - arrival[1]) * 1000)
        total.append((arrival[0] - produced) * 1000)
    return {
        "rate_per_s": rate,
        "dossiers": count,
        "arrived": len(total),
        "hop_intake_topic_to_routing_inbox": summary_ms(to_routing),
        "hop_routing_outbox_to_broker": summary_ms(relay),
        "hop_broker_to_next_consumer": summary_ms(to_consumer),
        "end_to_end_per_handoff": summary_ms(total),
    }


async def routed(infra: Infra, prefix: str, pid: int) -> dict[str, Any]:
    schema = f"{prefix}routing"
    watcher = QueueWatcher(infra.kafka_bootstrap, prefix)
    await watcher.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    topic = f"{prefix}dossier.intake"
    try:
        # Paced: the lag each hop adds, below capacity (light) and at the target rate.
        paced = {
            "light": await _paced(infra, schema, producer, watcher, LIGHT_RATE, "L"),
            "target": await _paced(infra, schema, producer, watcher, PACED_RATE, "P"),
        }

        # Flooded: what routing sustains end to end.
        envelopes = []
        for i in range(FLOOD_DOSSIERS):
            dossier = uuid.uuid4()
            envelope = received_envelope(dossier, f"{COMMUNE}-FLOOD-{i:05d}")
            envelopes.append((str(dossier), envelope.model_dump_json().encode()))
        cpu_before = cpu_seconds(pid)
        first = time.time()
        futures = [await producer.send(topic, body, key=d.encode()) for d, body in envelopes]
        await asyncio.gather(*futures)
        produced_s = time.time() - first
        ids = {d for d, _ in envelopes}
        await watcher.wait_for(ids, within=600)
        arrived = [watcher.arrivals[d][0] for d in ids if d in watcher.arrivals]
        last = max(arrived) if arrived else time.time()
        cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, len(arrived))
        flood = {
            "dossiers": FLOOD_DOSSIERS,
            "arrived": len(arrived),
            "produce_seconds": round(produced_s, 2),
            "handoffs_per_s": round(len(arrived) / (last - first)) if arrived else 0,
            "target_handoffs_per_s": 1000,
            # Independent of what else the machine runs: the routing process's own CPU
            # per hand-off, and the rate one core would give at that cost.
            "routing_cpu_ms_per_handoff": round(cpu_ms, 2),
            "routing_cpu_bound_handoffs_per_core_s": round(1000 / cpu_ms) if cpu_ms else None,
        }
    finally:
        await producer.stop()
        await watcher.stop()
    return {"paced": paced, "flood": flood}


# --- 3. the whole system: submission to the first inbox --------------------------------


async def submission_to_inbox(infra: Infra, intake: str, schema: str) -> dict[str, Any]:
    count = int(PACED_RATE * PACED_SECONDS)
    sent: dict[str, float] = {}
    post_ms: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int, at: float) -> None:
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            began = time.time()
            # Citizens of several communes: each commune's daily sequence is one row lock.
            body = application("1.001193", COMMUNES[i % len(COMMUNES)], email=f"b{i}@example.vn")
            try:
                response = await client.post(f"{intake}/v1/dossiers", headers=PORTAL, json=body)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                return
            post_ms.append((time.time() - began) * 1000)
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            sent[response.json()["id"]] = began

        started = time.time() + 0.5
        await asyncio.gather(*(one(i, started + i / PACED_RATE) for i in range(count)))
        submitted_s = time.time() - started
    conn = await asyncpg.connect(infra.database_url)
    try:
        deadline = time.monotonic() + 120
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                f"SELECT dossier_id::text AS d, extract(epoch FROM created_at) AS t"
                f" FROM {schema}.inbox WHERE dossier_id = ANY($1::uuid[])",
                list(sent),
            )
            if len(rows) >= len(sent):
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    latency = [(float(r["t"]) - sent[r["d"]]) * 1000 for r in rows]
    return {
        "rate_per_s": PACED_RATE,
        "dossiers": count,
        "accepted": len(sent),
        "failures": failures[:5],
        "achieved_submit_rate_per_s": round(len(sent) / submitted_s, 1),
        "post_latency": summary_ms(post_ms),
        "submission_to_first_inbox": summary_ms(latency),
        "target_p99_ms": 50,
    }


# --- orchestration -------------------------------------------------------------------


def _env(infra: Infra, prefix: str) -> dict[str, str]:
    return isolated_env(
        infra,
        prefix,
        QUIET_HOURS="",
        LOG_LEVEL="WARNING",
        OTEL_SAMPLE_RATIO=loadtools.SAMPLE_RATIO,
    )


def _start(processes: list[ServiceProcess]) -> None:
    for proc in processes:
        proc.start()
    for proc in processes:
        proc.wait_ready(path="/healthz" if proc.name == "devservers" else "/readyz")


def run() -> dict[str, Any]:
    infra = provision()
    # Other processes on the machine compete for its cores: say how busy it was.
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    prefix = register_prefix(f"b{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    result["kafka_ceiling"] = asyncio.run(kafka_ceiling(infra.kafka_bootstrap, prefix))

    routing = ServiceProcess("routing", "services.routing", _env(infra, prefix), free_port())
    try:
        _start([routing])
        assert routing.proc is not None
        result["routed"] = asyncio.run(routed(infra, prefix, routing.proc.pid))
        print(json.dumps(result, indent=2), flush=True)
    finally:
        routing.stop()
    # The whole system is bench_system's (with the compiled load generator); this Python
    # client's own CPU would be most of what it measured.
    if os.environ.get("BENCH_ROUTING_SYSTEM") != "1":
        result["load_average_at_end"] = os.getloadavg()[0]
        return result

    prefix = register_prefix(f"b{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    env = _env(infra, prefix)
    ports = {name: free_port() for name in ("intake", "routing", "sla", "notify")}
    dev_ports = {
        k: str(free_port()) for k in ("SMTP_PORT", "ESMS_PORT", "VIETTEL_PORT", "ZALO_PORT")
    }
    env.update(dev_ports)
    env.update({f"{n.upper()}_URL": f"http://127.0.0.1:{p}" for n, p in ports.items()})
    everything = [ServiceProcess("devservers", "services.notify.devservers", env, free_port())]
    everything += [ServiceProcess(n, f"services.{n}", env, p) for n, p in ports.items()]
    try:
        _start(everything)
        result["submission_to_inbox"] = asyncio.run(
            submission_to_inbox(infra, everything[1].url, f"{prefix}routing")
        )
    finally:
        for proc in reversed(everything):
            proc.stop()
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
