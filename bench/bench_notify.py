"""Notify throughput and latency: dossier events in, messages at the gateways, receipts in.

The notify service runs as its own process beside the dev servers (aiosmtpd and the eSMS
/ Viettel fakes, which dedupe on the request id and send two delivery receipts per SMS
back to notify's callback endpoints). The bench produces ``dossier.received`` events onto
``dossier.intake`` as intake would; notify consumes them (dedupe, plan: an email and an
SMS per citizen, rows under the (event, channel, contact) unique key), claims, looks the
contacts up, renders, sends, records each status change with its outbox event, and
takes the gateways' receipts (authenticated; eSMS's confirmed with its status query).
Intake's contact endpoints are stood in for by a small server in this process; it
counts the look-ups (notify asks once per claimed batch).

Two phases:

* **flood**: ``BENCH_NOTIFY_MESSAGES`` messages' worth of events produced at once.
  Messages per second = messages / (first event produced → every message handed to its
  gateway *and* every SMS's delivery receipt recorded as ``delivered``). The time to the
  last hand-over alone is reported too.
* **paced**: events offered at ``BENCH_NOTIFY_RATE`` messages per second for
  ``BENCH_NOTIFY_PACED_SECONDS``: latency from the event's produce to the gateway's (or
  SMTP server's) receipt of the message, p50 / p99 (the flood's latencies are queueing).

CPU is read from ``/proc`` for notify, for the stand-ins (dev servers) and for this
process (the bench client: the Kafka producer, the contact stand-in, the polling), and
for the whole machine, which is shared: what the others ran meanwhile is the noise.
``notify_cpu_ms_per_message`` is the number to drive down; it says what an idle machine
would do (``notify_cpu_bound_messages_per_second_on_one_core``).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from contracts.envelope import EventEnvelope
from contracts.events import Channel, DossierReceived
from services.runtime.setup import ensure_topics
from tests.support.infra import isolated_env, provision
from tests.support.processes import ServiceProcess, free_port

MESSAGES = int(os.environ.get("BENCH_NOTIFY_MESSAGES", "2000"))
RATE = float(os.environ.get("BENCH_NOTIFY_RATE", "300"))  # messages/s offered when paced
PACED_SECONDS = float(os.environ.get("BENCH_NOTIFY_PACED_SECONDS", "4"))
TARGET_PER_SECOND = 1000
# 0: gateways' receipts go nowhere, to see the send path alone.
RECEIPTS = os.environ.get("BENCH_NOTIFY_RECEIPTS", "1") != "0"
CHANNELS = ("email", "sms")  # what a dossier.received gives a citizen (Zalo off)
UNIT = "000.01.01.H99"
TIMEOUT_SECONDS = 300.0
RECEIPT_QUIET_SECONDS = 5.0


def _cpu_seconds(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process, ours and the others')."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


LOOKUPS = {"one": 0, "batch": 0}


def _index(ref: str) -> int:
    return int(ref.rsplit("-", 1)[-1], 16)


def _contact_of(ref: str) -> dict[str, Any]:
    n = _index(ref) % 10**8
    return {
        "full_name": "Nguyễn Văn An",
        "phone": f"09{n:08d}",
        "email": f"an{n}@example.vn",
        "procedure_code": "1.001193",
    }


def _contact_server(port: int) -> uvicorn.Server:
    app = FastAPI()

    @app.get("/internal/v1/contacts/{ref}")
    async def contact(ref: str) -> dict[str, Any]:
        LOOKUPS["one"] += 1
        return _contact_of(ref)

    @app.post("/internal/v1/contacts:batch")
    async def contacts(body: dict[str, list[str]]) -> dict[str, Any]:
        LOOKUPS["batch"] += 1
        return {"contacts": {r: _contact_of(r) for r in body["refs"]}, "missing": []}

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    return server


def _event(i: int) -> tuple[str, bytes]:
    """Intake's `dossier.received` for citizen `i` (contact reference ``bench-{i:08x}``)."""
    now = datetime.now(UTC)
    dossier_id = uuid.uuid4()
    payload = DossierReceived(
        dossier_code=f"{UNIT}-261122-{i:05d}",
        procedure_code="1.001193",
        field_code="ho_tich",
        receiving_unit=UNIT,
        channel=Channel.ONLINE,
        received_at=now,
        clock_started_at=now,
        appointment_at=now + timedelta(days=3),
        legal_hours=24,
        contact_ref=f"bench-{i:08x}",
    )
    envelope = EventEnvelope(
        event_type="dossier.received",
        dossier_id=dossier_id,
        sequence=1,
        correlation_id=dossier_id,
        producer="intake",
        payload=payload.model_dump(mode="json"),
    )
    return str(dossier_id), envelope.model_dump_json().encode()


async def _produce(
    producer: AIOKafkaProducer, topic: str, citizens: range, per_second: float | None
) -> dict[int, float]:
    """Produce one event per citizen (all at once, or paced); when each was produced."""
    produced: dict[int, float] = {}
    events = [(i, *_event(i)) for i in citizens]  # built before the clock starts
    started = time.perf_counter()
    pending = []
    for n, (i, key, value) in enumerate(events):
        if per_second:
            delay = started + n / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        produced[i] = time.time()
        pending.append(await producer.send(topic, value, key=key.encode()))
    await asyncio.gather(*pending)
    return produced


_PROGRESS = (
    "SELECT count(*) AS total,"
    " count(*) FILTER (WHERE status IN ('sent', 'delivered')) AS handed,"
    " count(*) FILTER (WHERE channel = 'sms') AS sms,"
    " count(*) FILTER (WHERE channel = 'sms' AND status = 'delivered') AS delivered,"
    " count(*) FILTER (WHERE status NOT IN ('created', 'sending', 'temporary_failure',"
    " 'sent', 'delivered')) AS failed"
    " FROM messages WHERE contact_ref = ANY($1::text[])"
)
# When the last message reached its gateway (or its end, when it failed) and when the
# last SMS receipt was recorded, as the service recorded them (epoch seconds).
_INSTANTS = (
    "SELECT extract(epoch FROM max(COALESCE(m.sent_at, m.updated_at))) AS handed,"
    " (SELECT extract(epoch FROM max(h.at)) FROM message_status_history h"
    " JOIN messages s ON s.id = h.message_id"
    " WHERE s.contact_ref = ANY($1::text[]) AND h.status = 'delivered') AS delivered"
    " FROM messages m WHERE m.contact_ref = ANY($1::text[])"
)
# The progress query reads every message of the phase (a few milliseconds of PostgreSQL's
# CPU): polled every 20 ms it was a third of PostgreSQL's work in the flood. The figures
# come from the instants the service recorded, so a slow poll only delays the bench.
_POLL_SECONDS = 0.25


async def _wait(
    conn: asyncpg.Connection, refs: list[str], expected: int, started_at: float
) -> dict[str, Any]:
    """Poll until every message is at its gateway and every SMS receipt is recorded (or
    no receipt was recorded for `RECEIPT_QUIET_SECONDS`: a receipt the stand-in gave up
    on is reported missing, not waited for). Seconds are counted from `started_at`
    (epoch) to the instants the service recorded."""
    started = time.perf_counter()
    row: Any = None
    delivered, progress_at = -1, started
    while time.perf_counter() - started < TIMEOUT_SECONDS:
        row = await conn.fetchrow(_PROGRESS, refs)
        now = time.perf_counter()
        if row["delivered"] != delivered:
            delivered, progress_at = row["delivered"], now
        handed = row["handed"] + row["failed"] >= expected
        receipts_done = not RECEIPTS or row["delivered"] >= row["sms"]
        stalled = now - progress_at > RECEIPT_QUIET_SECONDS
        if handed and (receipts_done or stalled):
            at = await conn.fetchrow(_INSTANTS, refs)
            assert at is not None  # an aggregate: always one row
            handed_at = float(at["handed"])
            done_at = max(handed_at, float(at["delivered"] or 0.0)) if RECEIPTS else handed_at
            return {
                "handed_seconds": round(handed_at - started_at, 2),
                "done_seconds": round(done_at - started_at, 2),
                "receipts_missing": row["sms"] - row["delivered"] if RECEIPTS else None,
                "counts": dict(row),
            }
        await asyncio.sleep(_POLL_SECONDS)
    return {"timed_out": True, "counts": dict(row) if row else None}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def _arrivals(dev_url: str, esms: str, viettel: str) -> dict[str, Any]:
    """What the gateways and the SMTP server received, and when, by citizen."""
    async with httpx.AsyncClient(timeout=60) as client:
        mails = (await client.get(f"{dev_url}/_mail")).json()
        sms = (await client.get(f"{esms}/_messages")).json()
        sms += (await client.get(f"{viettel}/_messages")).json()
    at: dict[tuple[str, int], float] = {}
    for m in mails:
        n = int(re.findall(r"\d+", m["to"][0])[0])
        at[("email", n)] = min(at.get(("email", n), m["received_at"]), m["received_at"])
    for m in sms:
        n = int((m.get("Phone") or m.get("ReceiverID") or "0")[-8:])
        at[("sms", n)] = min(at.get(("sms", n), m["received_at"]), m["received_at"])
    request_ids = [m.get("RequestId") or m.get("RequestID") for m in sms]
    mail_ids = [m["message_id"] for m in mails]
    return {
        "at": at,
        "mails_received": len(mails),
        "sms_received": len(sms),
        "sms_duplicates": len(request_ids) - len(set(request_ids)),
        "mail_duplicates": len(mail_ids) - len(set(mail_ids)),
    }


def _latencies(produced: dict[int, float], at: dict[tuple[str, int], float]) -> dict[str, Any]:
    ms = [
        (at[(channel, i)] - t) * 1000
        for i, t in produced.items()
        for channel in CHANNELS
        if (channel, i) in at
    ]
    return {
        "measured": len(ms),
        "p50_ms": _pct(ms, 0.50),
        "p99_ms": _pct(ms, 0.99),
        "max_ms": round(max(ms), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
    }


class Cpu:
    """CPU seconds of the named processes and the machine between `start` and `stop`."""

    def __init__(self, pids: dict[str, int | str]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.wall = time.perf_counter()
        self.before = {n: _cpu_seconds(p) for n, p in self.pids.items()}
        self.machine = _machine_busy_seconds()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        used = {n: _cpu_seconds(p) - self.before[n] for n, p in self.pids.items()}
        used["machine"] = _machine_busy_seconds() - self.machine
        used["others"] = max(
            0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine")
        )
        used["wall"] = wall
        return used


def _cpu_report(cpu: dict[str, float], messages: int) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    return {
        "cpu_ms_per_message": {
            k: round(1000 * v / messages, 2) for k, v in cpu.items() if k not in ("wall",)
        },
        "cpu_share_of_machine": {
            k: round(v / cpu["wall"] / cores, 3) for k, v in cpu.items() if k != "wall"
        },
    }


async def _phases(
    infra_db: str,
    schema: str,
    topic: str,
    bootstrap: str,
    pids: dict[str, int | str],
    env: dict[str, str],
    dev_url: str,
) -> dict[str, Any]:
    citizens = MESSAGES // len(CHANNELS)
    flood = range(citizens)
    paced_n = int(RATE * PACED_SECONDS) // len(CHANNELS)
    paced = range(citizens, citizens + paced_n)
    conn = await asyncpg.connect(infra_db)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        await conn.execute(f"SET search_path TO {schema}")
        report: dict[str, Any] = {}
        for name, who, rate in (("flood", flood, None), ("paced", paced, RATE / len(CHANNELS))):
            refs = [f"bench-{i:08x}" for i in who]
            expected = len(refs) * len(CHANNELS)
            cpu = Cpu(pids)
            cpu.start()
            started, started_at = time.perf_counter(), time.time()
            producing = asyncio.create_task(_produce(producer, topic, who, rate))
            waited = await _wait(conn, refs, expected, started_at)
            produced = await producing
            used = cpu.stop()
            elapsed = waited.get("done_seconds")
            phase: dict[str, Any] = {
                "messages": expected,
                **waited,
                "phase_seconds": round(time.perf_counter() - started, 2),
                **_cpu_report(used, expected),
            }
            if name == "flood":
                phase["messages_per_second"] = round(expected / elapsed, 1) if elapsed else 0.0
                phase["handed_to_gateways_per_second"] = (
                    round(expected / waited["handed_seconds"], 1)
                    if waited.get("handed_seconds")
                    else 0.0
                )
            else:
                phase["offered_messages_per_second"] = RATE
            phase["_produced"] = produced
            report[name] = phase
            await asyncio.sleep(1.0)  # the last receipts of the flood are not the paced phase's
        arrivals = await _arrivals(
            dev_url,
            f"http://127.0.0.1:{env['ESMS_PORT']}",
            f"http://127.0.0.1:{env['VIETTEL_PORT']}",
        )
        for name in ("flood", "paced"):
            report[name]["latency_event_to_gateway"] = _latencies(
                report[name].pop("_produced"), arrivals["at"]
            )
        report["gateways"] = {k: v for k, v in arrivals.items() if k != "at"}
        report["statuses_at_end"] = {
            r["status"]: int(r["n"])
            for r in await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
        }
        return report
    finally:
        await producer.stop()
        await conn.close()


async def _cleanup(dsn: str, bootstrap: str, prefix: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for (name,) in await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{prefix}%"
        ):
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


def run() -> dict[str, Any]:
    infra = provision()
    prefix = f"b{uuid.uuid4().hex[:10]}_"
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    contact_port, notify_port = free_port(), free_port()
    contacts = _contact_server(contact_port)
    env = {
        **isolated_env(infra, prefix),
        "QUIET_HOURS": "",
        "LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER": "none",
        "ZALO_ENABLED": "false",
        "INTAKE_URL": f"http://127.0.0.1:{contact_port}",
        # Port 9 (discard) refuses at once: no receipt reaches notify.
        "NOTIFY_URL": f"http://127.0.0.1:{notify_port if RECEIPTS else 9}",
        "SMTP_PORT": str(free_port()),
        "ESMS_PORT": str(free_port()),
        "VIETTEL_PORT": str(free_port()),
        "ZALO_PORT": str(free_port()),
        "DB_POOL_MAX": "20",
    }
    dev = ServiceProcess("bench-devservers", "services.notify.devservers", env, free_port())
    notify = ServiceProcess("bench-notify", "services.notify", env, notify_port)
    dev.start()
    notify.start()
    try:
        dev.wait_ready(path="/healthz")
        notify.wait_ready()
        assert notify.proc is not None and dev.proc is not None
        pids: dict[str, int | str] = {
            "notify": notify.proc.pid,
            "stand_ins": dev.proc.pid,
            "bench_client": "self",
        }
        load_before = os.getloadavg()[0]
        report = asyncio.run(
            _phases(
                infra.database_url,
                f"{prefix}notify",
                f"{prefix}dossier.intake",
                infra.kafka_bootstrap,
                pids,
                env,
                dev.url,
            )
        )
        flood = report["flood"]
        per_second = flood.get("messages_per_second", 0.0)
        notify_ms = flood["cpu_ms_per_message"]["notify"]
        return {
            "channels": "email via aiosmtpd + SMS via eSMS/Viettel fakes (Zalo off)",
            "delivery_receipts": "processed by notify" if RECEIPTS else "off",
            **report,
            "messages_per_second": per_second,
            "notify_cpu_ms_per_message": notify_ms,
            "latency_p50_ms": report["paced"]["latency_event_to_gateway"]["p50_ms"],
            "latency_p99_ms": report["paced"]["latency_event_to_gateway"]["p99_ms"],
            "notify_cpu_bound_messages_per_second_on_one_core": round(1000 / notify_ms, 1)
            if notify_ms
            else None,
            "target_messages_per_second": TARGET_PER_SECOND,
            "met": per_second >= TARGET_PER_SECOND,
            "machine": f"{os.cpu_count()} cores, shared with other work",
            "load_average_at_start": round(load_before, 1),
            "contact_lookups": dict(LOOKUPS),
        }
    finally:
        notify.stop()
        dev.stop()
        contacts.should_exit = True
        asyncio.run(_cleanup(infra.database_url, infra.kafka_bootstrap, prefix))
