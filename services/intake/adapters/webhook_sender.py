"""Background job: send due webhook deliveries, back off on failure, dead-letter at last.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, so several intake workers
never send the same delivery at once, and a crash mid-send only delays it. Deliveries go
through :func:`callback_client`: each connection is vetted against the network policy at
connect time (a host that now resolves inside is refused, and the delivery is dead at
once), and a redirect is never followed (a 3xx is a failed delivery).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import Counter

from services.intake.adapters.callback_network import DestinationRefused, callback_client
from services.intake.domain import webhooks as wh
from services.intake.domain.callback_targets import NetworkPolicy, RefusedTarget, parse_callback_url

log = logging.getLogger(__name__)
BATCH = 50
DELIVERY_ATTEMPTS = Counter(
    "webhook_delivery_attempts_total",
    "Status callback attempts by outcome: delivered, retry (will be tried again), dead.",
    ["outcome"],
)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool
    error: str | None
    retry_after: float | None = None


async def send_one(
    client: httpx.AsyncClient, url: str, secret: str, delivery_id: int, body: bytes
) -> Outcome:
    try:
        parse_callback_url(url)  # stored before the checks existed, perhaps
    except RefusedTarget as refused:
        return Outcome(False, False, f"refused: {refused.reason}")
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        wh.TIMESTAMP_HEADER: timestamp,
        wh.SIGNATURE_HEADER: wh.sign(secret, timestamp, body),
        wh.DELIVERY_HEADER: str(delivery_id),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except DestinationRefused as exc:
        return Outcome(False, False, f"refused: {exc}")
    except httpx.HTTPError as exc:
        return Outcome(False, True, f"network: {type(exc).__name__}")
    if response.status_code < 300:
        return Outcome(True, False, None)
    if 300 <= response.status_code < 400:
        return Outcome(False, False, f"HTTP {response.status_code}: redirects are not followed")
    retry_after = _seconds(response.headers.get("Retry-After"))
    return Outcome(
        False, wh.is_retryable(response.status_code), f"HTTP {response.status_code}", retry_after
    )


async def claim_due(pool: asyncpg.Pool, lease_seconds: float) -> list[asyncpg.Record]:
    """Take due deliveries for one attempt; the lease makes them due again if we crash."""
    return await pool.fetch(
        "WITH due AS (SELECT d.id FROM webhook_deliveries d"
        " WHERE d.state = 'pending' AND d.next_attempt_at <= now()"
        " ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE webhook_deliveries d SET next_attempt_at = now() + $2::interval"
        " FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id"
        " RETURNING d.id, d.body, d.attempts, w.url, w.secret, w.max_attempts,"
        " w.backoff_seconds",
        BATCH,
        timedelta(seconds=lease_seconds),
    )


async def record_outcome(pool: asyncpg.Pool, row: asyncpg.Record, outcome: Outcome) -> None:
    attempts = row["attempts"] + 1
    if outcome.delivered:
        state, delay = "delivered", 0.0
    elif outcome.retryable and attempts < row["max_attempts"]:
        state = "pending"
        delay = wh.backoff_seconds(row["backoff_seconds"], attempts, outcome.retry_after)
    else:
        state, delay = "dead", 0.0
        log.warning("webhook delivery %s dead after %s attempt(s)", row["id"], attempts)
    DELIVERY_ATTEMPTS.labels("retry" if state == "pending" else state).inc()
    await pool.execute(
        "UPDATE webhook_deliveries SET state = $2, attempts = $3, last_error = $4,"
        " next_attempt_at = now() + $5::interval,"
        " delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE id = $1",
        row["id"],
        state,
        attempts,
        outcome.error,
        timedelta(seconds=delay),
    )


async def run_sender(
    pool: asyncpg.Pool,
    poll_seconds: float,
    timeout_seconds: float,
    policy: NetworkPolicy,
    concurrency: int = 64,
) -> None:
    """Each delivery is sent on its own: a slow or dead portal never holds up the others."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def attempt(client: httpx.AsyncClient, row: asyncpg.Record) -> None:
        try:
            body = _body_bytes(row["body"])
            outcome = await send_one(client, row["url"], row["secret"], row["id"], body)
            await record_outcome(pool, row, outcome)
        finally:
            slots.release()

    async with callback_client(policy, timeout_seconds) as client:
        while True:
            rows = await claim_due(pool, lease_seconds=timeout_seconds + 30)
            for row in rows:
                await slots.acquire()
                task = asyncio.create_task(attempt(client, row))
                running.add(task)
                task.add_done_callback(running.discard)
            if len(rows) < BATCH:
                await asyncio.sleep(poll_seconds)


def _body_bytes(stored: str) -> bytes:
    return json.dumps(json.loads(stored), ensure_ascii=False, separators=(",", ":")).encode()


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None
