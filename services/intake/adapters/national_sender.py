"""Background job: push dossiers and their processing steps to the national portal
(DVCQG), in order per dossier, retried with backoff, dead-lettered at last.

The outbox is ``dvcqg_pushes`` (rows committed with the change they tell of). A row is
claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, and only when it is its dossier's
first pending row: a dossier's next push waits until the one before it was sent (or
dead-lettered), while different dossiers go in parallel, across any number of intake
instances. A crash mid-send only delays the row; a re-send of a dossier the portal took
answers "đã tồn tại", which counts as sent. The portal's shape is built when a row is
sent (``services.intake.domain.dvcqg_shape``), after the login handshake (one session
per instance, taken again after any refused call).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from prometheus_client import Counter

from services.intake.adapters.repository import SYNC_JSON
from services.intake.config import IntakeSettings
from services.intake.domain import dvcqg
from services.intake.domain import dvcqg_shape as shape
from services.intake.domain import webhooks as wh
from services.intake.domain.catalog import Catalog
from services.intake.domain.personal_data import documents_for

log = logging.getLogger(__name__)
PUSH_ATTEMPTS = Counter(
    "dvcqg_push_attempts_total",
    "Pushes to the national portal by outcome: sent, retry (will be tried again), dead.",
    ["outcome"],
)
BATCH = 50
PUSH_COLUMNS = (
    "id, dossier_id, kind, state, attempts, last_error, answer, created_at, sent_at, facts"
)


@dataclass(frozen=True)
class Outcome:
    sent: bool
    error: str | None = None
    answer: str | None = None


class NationalPortal:
    """The portal's two calls: login (session) and a service call with it."""

    def __init__(self, client: httpx.AsyncClient, settings: IntakeSettings) -> None:
        self.client = client
        self.settings = settings
        self.session: str | None = None
        self._login = asyncio.Lock()

    def _url(self, path: str) -> str:
        return self.settings.dvcqg_push_url.rstrip("/") + path

    async def session_id(self) -> str | None:
        async with self._login:
            if self.session is None:
                response = await self.client.post(
                    self._url(self.settings.dvcqg_push_login_path),
                    json={
                        "username": self.settings.dvcqg_push_username,
                        "password": self.settings.dvcqg_push_password,
                    },
                    headers={"dstcode": self.settings.dvcqg_push_dstcode},
                )
                reply = response.json() if response.status_code < 300 else {}
                code = str(reply.get("error_code", "")) if isinstance(reply, dict) else ""
                if code in shape.SUCCESS_CODES and reply.get("session"):
                    self.session = str(reply["session"])
            return self.session

    async def call(self, body: dict[str, Any]) -> Outcome:
        service = str(body["service"])
        try:
            session = await self.session_id()
            if session is None:
                return Outcome(False, "login refused")
            response = await self.client.post(
                self._url(self.settings.dvcqg_push_service_path),
                content=json.dumps({**body, "session": session}, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return Outcome(False, f"network: {type(exc).__name__}")
        except ValueError:  # a login answer that is not JSON
            return Outcome(False, "login refused: not JSON")
        if response.status_code >= 300:
            self.session = None
            return Outcome(False, f"HTTP {response.status_code}")
        try:
            reply = shape.read_reply(service, response.json())
        except ValueError:
            reply = shape.Reply(False, "câu trả lời không phải JSON")
        if not reply.accepted:
            self.session = None  # expired perhaps: log in again for the next attempt
            return Outcome(False, reply.message)
        return Outcome(True, answer=reply.message)


def push_body(push: asyncpg.Record, row: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """The call for one outbox row, in the portal's shape (``session`` added when sent).
    The dossier is as it is now, with the status of the change the row tells of."""
    facts: dict[str, Any] = json.loads(push["facts"])
    names = dvcqg.names_of(catalog, row["procedure_code"], row["current_unit"])
    if push["kind"] == "step":
        unit = catalog.units.get(facts.get("unit_code") or "")
        unit_name = unit.name if unit else names.unit_name
        ma_ho_so = row.get("external_code") or row["code"]
        item = shape.to_step(ma_ho_so, facts, unit_name, row["appointment_at"])
        return shape.call_body(shape.SERVICE_STEP, "", row["agency_code"], [item])
    # The portal is not the submitting portal: identity documents' references withheld.
    view = documents_for(row["documents"], submitting_portal=False)
    row["documents"] = [
        {**stored, "storage_ref": shown["storage_ref"]}
        for stored, shown in zip(row["documents"], view.documents, strict=True)
    ]
    if "status" in facts:  # the status of the change this push tells of, not a later one
        row["status"] = int(facts["status"])
    item = shape.to_dongbo(dvcqg.sync_dossier(row, names))
    if "status" in facts and int(facts["status"]) in shape.CLOSING:
        item = shape.with_end_dates(
            item, int(facts["status"]), datetime.fromisoformat(str(facts["at"]))
        )
    return shape.call_body(
        shape.SERVICE_DOSSIER, "", row["agency_code"], [item], push["kind"] == "update"
    )


async def claim_due(pool: asyncpg.Pool, lease_seconds: float) -> list[asyncpg.Record]:
    """Each dossier's first pending push when it is due, leased for one attempt."""
    return await pool.fetch(
        "WITH due AS (SELECT p.id FROM dvcqg_pushes p"
        " WHERE p.state = 'pending' AND p.next_attempt_at <= now()"
        " AND NOT EXISTS (SELECT 1 FROM dvcqg_pushes q WHERE q.dossier_id = p.dossier_id"
        " AND q.state = 'pending' AND q.id < p.id)"
        " ORDER BY p.next_attempt_at, p.id LIMIT $1 FOR UPDATE OF p SKIP LOCKED)"
        " UPDATE dvcqg_pushes p SET next_attempt_at = now() + $2::interval FROM due"
        " WHERE p.id = due.id RETURNING p.id, p.dossier_id, p.kind, p.facts, p.attempts",
        BATCH,
        timedelta(seconds=lease_seconds),
    )


async def load_row(pool: asyncpg.Pool, push: asyncpg.Record) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM dossiers WHERE id = $1", push["dossier_id"])
    if row is None:
        return None
    out = dict(row)
    for column in SYNC_JSON:
        if isinstance(out.get(column), str):
            out[column] = json.loads(out[column])
    return out


async def record_outcome(
    pool: asyncpg.Pool, push: asyncpg.Record, outcome: Outcome, settings: IntakeSettings
) -> None:
    attempts = push["attempts"] + 1
    if outcome.sent:
        state, delay = "sent", 0.0
    elif attempts < settings.dvcqg_push_max_attempts:
        state = "pending"
        delay = wh.backoff_seconds(settings.dvcqg_push_backoff_seconds, attempts)
    else:
        state, delay = "dead", 0.0
        log.warning("national portal push %s dead after %s attempt(s)", push["id"], attempts)
    PUSH_ATTEMPTS.labels("retry" if state == "pending" else state).inc()
    await pool.execute(
        # A push sent after failures keeps the last failure (what delayed it).
        "UPDATE dvcqg_pushes SET state = $2, attempts = $3,"
        " last_error = COALESCE($4::text, last_error), answer = $5,"
        " next_attempt_at = now() + $6::interval,"
        " sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1",
        push["id"],
        state,
        attempts,
        outcome.error,
        outcome.answer,
        timedelta(seconds=delay),
    )


async def run_pusher(pool: asyncpg.Pool, catalog: Catalog, settings: IntakeSettings) -> None:
    """Send each due push on its own task (one per dossier at a time)."""
    slots = asyncio.Semaphore(settings.dvcqg_push_concurrency)
    running: set[asyncio.Task[None]] = set()
    timeout = settings.dvcqg_push_timeout_seconds

    async def attempt(portal: NationalPortal, push: asyncpg.Record) -> None:
        try:
            row = await load_row(pool, push)
            if row is None:
                outcome = Outcome(False, "no such dossier")
            else:
                outcome = await portal.call(push_body(push, row, catalog))
            await record_outcome(pool, push, outcome, settings)
        except Exception:  # a row that cannot be built must not stop the others
            log.exception("national portal push %s failed", push["id"])
            await record_outcome(pool, push, Outcome(False, "internal error"), settings)
        finally:
            slots.release()

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        portal = NationalPortal(client, settings)
        while True:
            # Login and the call each take at most `timeout`: the lease outlasts both.
            pushes = await claim_due(pool, lease_seconds=2 * timeout + 30)
            for push in pushes:
                await slots.acquire()
                task = asyncio.create_task(attempt(portal, push))
                running.add(task)
                task.add_done_callback(running.discard)
            if len(pushes) < BATCH:
                await asyncio.sleep(settings.dvcqg_push_poll_seconds)


async def list_pushes(conn: Any, state: str, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {PUSH_COLUMNS} FROM dvcqg_pushes WHERE state = $1 ORDER BY id LIMIT $2",
        state,
        limit,
    )
    return [{**dict(r), "facts": json.loads(r["facts"])} for r in rows]


async def replay_push(conn: Any, push_id: int) -> dict[str, Any] | None:
    """A dead push is pending again with its attempts from zero; it goes before any
    later push of its dossier still pending."""
    row = await conn.fetchrow(
        "UPDATE dvcqg_pushes SET state = 'pending', attempts = 0, next_attempt_at = now(),"
        f" last_error = NULL WHERE id = $1 AND state = 'dead' RETURNING {PUSH_COLUMNS}",
        push_id,
    )
    return {**dict(row), "facts": json.loads(row["facts"])} if row is not None else None
