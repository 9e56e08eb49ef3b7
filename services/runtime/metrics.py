"""Prometheus metrics shared by every service (each process has its own registry).

Besides the counters the runtime updates as it goes, a periodic job
(:func:`refresh_domain_gauges`) computes gauges from the service's own tables: the
runtime knows which service owns which table (``inbox`` in routing, ``deadlines`` in
SLA, ``messages`` in notify) and fills the matching gauge when the table exists in the
service's schema.
"""

from __future__ import annotations

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.runtime import clock
from services.runtime.db import DbConn

HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMED = Counter("consumer_records_total", "Records consumed.", ["consumer", "topic"])
DEAD_LETTERED = Counter("dead_letters_total", "Records sent to a DLQ.", ["consumer", "topic"])
DEAD_LETTERS_PENDING = Gauge(
    "dead_letters_pending", "Dead-lettered records not replayed yet.", ["consumer", "topic"]
)
PARKED = Counter(
    "consumer_parked_total",
    "Records set aside because their dead letter could not be written (alert on any).",
    ["consumer", "topic"],
)
PARKED_PENDING = Gauge(
    "parked_records_pending", "Parked records not resolved yet.", ["consumer", "topic"]
)
ISOLATED_BATCHES = Counter(
    "consumer_isolated_batches_total",
    "Batches that failed on a record and were handled again record by record.",
    ["consumer", "topic"],
)
OUTBOX_FAILED = Counter(
    "outbox_failed_total", "Outbox rows set aside because they can never be published.", ["topic"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows.")
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished row.")
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Records behind the partition's high watermark (highwater - position).",
    ["consumer", "topic", "partition"],
)
INBOX_SIZE = Gauge("inbox_size", "Tasks in a unit's inbox by status.", ["unit", "status"])
DEADLINES = Gauge(
    "deadlines", "Deadlines by state (open, due_soon, overdue, paused).", ["kind", "state"]
)
NOTIFICATIONS = Gauge(
    "notifications", "Messages to citizens by status and provider.", ["status", "provider"]
)

DOMAIN_QUERIES: dict[str, str] = {
    "inbox": "SELECT unit_code, status, count(*) AS n FROM inbox"
    " WHERE status <> 'done' GROUP BY 1, 2",
    "deadlines": "SELECT kind, CASE"
    " WHEN state = 'paused' THEN 'paused'"
    " WHEN due_at < $1 THEN 'overdue'"
    " WHEN due_soon_at IS NOT NULL AND due_soon_at <= $1 THEN 'due_soon'"
    " ELSE 'open' END AS st, count(*) AS n FROM deadlines WHERE state <> 'closed' GROUP BY 1, 2",
    "messages": "SELECT status, coalesce(provider, '') AS provider, count(*) AS n"
    " FROM messages GROUP BY 1, 2",
}


async def _existing_tables(conn: DbConn) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
        list(DOMAIN_QUERIES),
    )
    return {r["table_name"] for r in rows}


def _replace(gauge: Gauge, values: dict[tuple[str, ...], float]) -> None:
    """Set a labelled gauge to exactly these series (series that vanished go to 0)."""
    for labels in list(gauge._metrics):  # prometheus_client has no public API
        if labels not in values:
            gauge.labels(*labels).set(0)
    for labels, value in values.items():
        gauge.labels(*labels).set(value)


async def refresh_domain_gauges(pool: asyncpg.Pool, *, table_wide: bool = True) -> None:
    """The failure gauges (small tables), and with ``table_wide`` the inbox, deadline and
    message counts. Each of those reads its whole table (closed deadlines, done tasks and
    sent messages included), which grows with a province's years of history, so the
    caller asks for them less often."""
    async with pool.acquire() as conn:
        tables = await _existing_tables(conn) if table_wide else set()
        if "inbox" in tables:
            rows = await conn.fetch(DOMAIN_QUERIES["inbox"])
            _replace(INBOX_SIZE, {(r["unit_code"], r["status"]): r["n"] for r in rows})
        if "deadlines" in tables:
            rows = await conn.fetch(DOMAIN_QUERIES["deadlines"], clock.now())
            _replace(DEADLINES, {(r["kind"], r["st"]): r["n"] for r in rows})
        if "messages" in tables:
            rows = await conn.fetch(DOMAIN_QUERIES["messages"])
            _replace(NOTIFICATIONS, {(r["status"], r["provider"]): r["n"] for r in rows})
        rows = await conn.fetch(
            "SELECT consumer, topic, count(*) AS n FROM dead_letters"
            " WHERE replayed_at IS NULL GROUP BY 1, 2"
        )
        _replace(DEAD_LETTERS_PENDING, {(r["consumer"], r["topic"]): r["n"] for r in rows})
        rows = await conn.fetch(
            "SELECT consumer, topic, count(*) AS n FROM parked_records"
            " WHERE resolved_at IS NULL GROUP BY 1, 2"
        )
        _replace(PARKED_PENDING, {(r["consumer"], r["topic"]): r["n"] for r in rows})
