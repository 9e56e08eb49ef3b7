"""The loop that runs a service's retention purge (its SQL lives in its own adapter).

A service's purge is ``purge(conn, now) -> {kind: rows}``: set-based statements that
delete or anonymise what is past its retention, in one transaction. This module runs it
on an interval, counts the rows (``personal_data_purged_total{service,kind}``) and records
the last success (``personal_data_purge_last_success_timestamp_seconds{service}``) so an
alert notices a purge that stopped running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
from prometheus_client import Counter, Gauge

from services.runtime import clock
from services.runtime.db import DbConn

log = logging.getLogger(__name__)

Purge = Callable[[DbConn, datetime], Awaitable[dict[str, int]]]
PURGED = Counter(
    "personal_data_purged_total",
    "Rows deleted or anonymised because their retention period ended.",
    ["service", "kind"],
)
LAST_PURGE = Gauge(
    "personal_data_purge_last_success_timestamp_seconds",
    "When the retention purge last completed (Unix time).",
    ["service"],
)


async def purge_once(
    pool: asyncpg.Pool, service: str, purge: Purge, now: datetime | None = None
) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        counts = await purge(conn, now or clock.now())
    for kind, rows in counts.items():
        if rows:
            PURGED.labels(service, kind).inc(rows)
    LAST_PURGE.labels(service).set(time.time())
    if any(counts.values()):
        log.info(
            "retention purge: %s",
            ", ".join(f"{kind}={rows}" for kind, rows in sorted(counts.items()) if rows),
        )
    return counts


async def run_retention(
    pool: asyncpg.Pool, service: str, purge: Purge, interval_seconds: float
) -> None:
    """Purge now, then every ``interval_seconds`` (a failure is logged and retried)."""
    while True:
        try:
            await purge_once(pool, service, purge)
        except (OSError, asyncpg.PostgresError):
            log.warning("retention purge failed; will retry", exc_info=True)
        await asyncio.sleep(interval_seconds)


def count(status: str) -> int:
    """Rows touched, from asyncpg's command tag ("UPDATE 3", "DELETE 0")."""
    return int(status.rsplit(maxsplit=1)[-1])
