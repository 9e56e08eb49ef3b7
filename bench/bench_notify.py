"""Notify throughput: messages per second through the real SMTP server and SMS gateway.

The notify service runs as its own process beside the dev servers (aiosmtpd and the eSMS
/ Viettel fakes, which dedupe on the request id and send two delivery receipts per SMS
back to notify's callback endpoint). N dossier.received notices are bulk-created as
messages (email + SMS per citizen, rows under the (event, channel, contact) unique key),
then released at once; the figure is messages finished (sent or delivered) per second,
counting everything notify does per message: contact look-up, rendering, the send, the
status writes with their outbox events, and the receipts arriving meanwhile.
Intake's contact endpoints are stood in for by a small server in this process; it
counts the look-ups (notify asks once per claimed batch).

Reported: messages per second (wall clock, on a shared machine) and CPU milliseconds
per message of notify and of the stand-ins, which say what an idle machine would do.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from services.runtime.setup import ensure_topics
from tests.support.infra import isolated_env, provision
from tests.support.processes import ServiceProcess, free_port

MESSAGES = int(os.environ.get("BENCH_NOTIFY_MESSAGES", "2000"))
TARGET_PER_SECOND = 1000
# 0: gateways' receipts go nowhere, to see the send path alone.
RECEIPTS = os.environ.get("BENCH_NOTIFY_RECEIPTS", "1") != "0"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LOOKUPS = {"one": 0, "batch": 0}


def _contact_of(ref: str) -> dict[str, Any]:
    n = int(ref.rsplit("-", 1)[-1], 16) % 10**8
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


async def _create(dsn: str, schema: str, citizens: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET search_path TO {schema}")
        rows = []
        for i in range(citizens):
            event_id, dossier_id = uuid.uuid4(), uuid.uuid4()
            ref = f"bench-{i:08x}"
            code = f"000.01.01.H99-261122-{i:05d}"
            params = json.dumps(
                {
                    "dossier_code": code,
                    "procedure_code": "1.001193",
                    "appointment_date": "2026-11-25",
                }
            )
            for channel in ("email", "sms"):
                rows.append((uuid.uuid4(), event_id, channel, ref, dossier_id, code, params))
        await conn.executemany(
            "INSERT INTO messages (id, event_id, event_type, channel, contact_ref, dossier_id,"
            " dossier_code, template_id, template_version, body_text, status,"
            " next_attempt_at, params) VALUES ($1, $2, 'dossier.received', $3, $4, $5, $6,"
            " 'dossier.received.' || $3, 1, '', 'created', 'infinity', $7::jsonb)"
            " ON CONFLICT (event_id, channel, contact_ref) DO NOTHING",
            rows,
        )
    finally:
        await conn.close()


async def _measure(dsn: str, schema: str, total: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET search_path TO {schema}")
        started = time.perf_counter()
        await conn.execute("UPDATE messages SET next_attempt_at = now()")
        finished_at: float | None = None
        while True:
            pending = await conn.fetchval(
                "SELECT count(*) FROM messages"
                " WHERE status IN ('created', 'sending', 'temporary_failure')"
            )
            if pending == 0:
                finished_at = time.perf_counter()
                break
            if time.perf_counter() - started > 600:
                break
            await asyncio.sleep(0.1)
        seconds = (finished_at or time.perf_counter()) - started
        statuses: dict[str, int] = {
            r["status"]: int(r["n"])
            for r in await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
        }
        # Receipts still arriving after the last send are not part of the figure.
        await asyncio.sleep(3)
        delivered = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE channel = 'sms' AND status = 'delivered'"
        )
        return {
            "drain_seconds": round(seconds, 2),
            "statuses_at_end": statuses,
            "sms_delivered_after_receipts": int(delivered),
        }
    finally:
        await conn.close()


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
    schema = f"{prefix}notify"
    try:
        dev.wait_ready(path="/healthz")
        notify.wait_ready()
        asyncio.run(_create(infra.database_url, schema, MESSAGES // 2))
        assert notify.proc is not None and dev.proc is not None
        pids = {"notify": notify.proc.pid, "devservers": dev.proc.pid}
        cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        load_before = os.getloadavg()[0]
        measured = asyncio.run(_measure(infra.database_url, schema, MESSAGES))
        cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        mails = httpx.get(f"{dev.url}/_mail", timeout=30).json()
        sms = (
            httpx.get(f"http://127.0.0.1:{env['ESMS_PORT']}/_messages", timeout=30).json()
            + httpx.get(f"http://127.0.0.1:{env['VIETTEL_PORT']}/_messages", timeout=30).json()
        )
        request_ids = [m.get("RequestId") or m.get("RequestID") for m in sms]
        per_second = MESSAGES / measured["drain_seconds"] if measured["drain_seconds"] else 0.0
        return {
            "messages": MESSAGES,
            "channels": "email via aiosmtpd + SMS via eSMS/Viettel fakes",
            "delivery_receipts": "processed by notify" if RECEIPTS else "off",
            **measured,
            "messages_per_second": round(per_second, 1),
            # The machine is shared: CPU per message says what an idle one would do.
            "machine": f"{os.cpu_count()} cores, shared with other work",
            "load_average_at_start": round(load_before, 1),
            "cpu_ms_per_message": {k: round(1000 * v / MESSAGES, 2) for k, v in cpu.items()},
            "notify_cpu_bound_messages_per_second_on_one_core": round(MESSAGES / cpu["notify"], 1)
            if cpu["notify"]
            else None,
            "target_messages_per_second": TARGET_PER_SECOND,
            "met": per_second >= TARGET_PER_SECOND,
            "mails_received": len(mails),
            "sms_received": len(sms),
            "sms_duplicates": len(request_ids) - len(set(request_ids)),
            "contact_lookups": dict(LOOKUPS),
        }
    finally:
        notify.stop()
        dev.stop()
        contacts.should_exit = True
