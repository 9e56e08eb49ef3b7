"""The console's inbox at a real queue's size: the first page of one unit's 10,000 tasks.

The four services run as their own processes (``tests.support.system``); the unit's
tasks are seeded straight into routing's inbox and intake's dossiers in set-based
statements (``tests.support.inbox_seed``: statuses, procedures, deadlines and applicants
mixed). An official then asks for the first page (50 rows, the least working time left
first, with the counts per status and urgency over the whole queue) ``BENCH_INBOX_REQUESTS``
times, one request after another, after a few warm-up requests (sign-in, SLA's calendar
overrides read once); p50 / p99 are of the server's whole answer as the browser waits for
it. A filtered page (one procedure, overdue, newest received first) and a search by the
applicant's name (through intake, audited) are measured the same way.

The issue's target: the first page served in <= 300 ms. The machine is shared, so the
figure is stated beside the load average (``bench.run`` records it).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.credentials import bearer
from tests.support.inbox_seed import make_tasks, seed
from tests.support.infra import provision
from tests.support.system import running_system

TASKS = int(os.environ.get("BENCH_INBOX_TASKS", "10000"))
REQUESTS = int(os.environ.get("BENCH_INBOX_REQUESTS", "50"))
WARMUP = 5
UNIT = "002.00.00.H99"
TARGET_MS = 300.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _measure(client: httpx.Client, url: str, params: dict[str, Any], n: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        assert client.get(url, params=params).status_code == 200
    took: list[float] = []
    body: dict[str, Any] = {}
    for _ in range(n):
        started = time.perf_counter()
        answer = client.get(url, params=params)
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
        body = answer.json()
    return {
        "requests": n,
        "p50_ms": round(statistics.median(took), 1),
        "p99_ms": round(_percentile(took, 0.99), 1),
        "max_ms": round(max(took), 1),
        "rows": len(body.get("items", [])),
        "total": body.get("total"),
    }


def run() -> dict[str, Any]:
    infra = provision()
    load_at_start = round(os.getloadavg()[0], 1)
    with running_system(infra) as system:
        routing = system["routing"].url
        prefix = system["routing"].env["SCHEMA_PREFIX"]
        tasks = make_tasks(UNIT, TASKS, datetime.now(UTC), f"B{uuid.uuid4().hex[:6].upper()}")
        started = time.perf_counter()
        asyncio.run(seed(infra.database_url, prefix, UNIT, tasks, clear=True))
        seeded = time.perf_counter() - started
        headers = bearer(routing, f"canbo@{UNIT}")
        url = f"{routing}/console/api/inbox"
        with httpx.Client(headers=headers, timeout=30) as client:
            first = _measure(client, url, {"unit": UNIT}, REQUESTS)
            filtered = _measure(
                client,
                url,
                {
                    "unit": UNIT,
                    "procedure": "1.001193",
                    "urgency": "overdue",
                    "sort": "received",
                    "order": "desc",
                },
                max(REQUESTS // 5, 5),
            )
            by_name = _measure(
                client,
                url,
                {"unit": UNIT, "q": "nguyen thi lan", "mode": "name"},
                max(REQUESTS // 5, 5),
            )
    return {
        "tasks": TASKS,
        "seed_seconds": round(seeded, 1),
        "load_average_at_start": load_at_start,
        "load_average_at_end": round(os.getloadavg()[0], 1),
        "first_page": first,
        "filtered_page": filtered,
        "name_search": by_name,
        "target_p99_ms": TARGET_MS,
    }
