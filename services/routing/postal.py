"""Results by post: the sender of postal orders (the outbox of ``postal_orders``) and
the tracking callbacks of the postal service. See docs/POSTAL.md."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from contracts.envelope import EventEnvelope
from contracts.events import PostalTracking
from services.routing.adapters import postal as pa
from services.routing.adapters import store
from services.routing.domain import Rejected
from services.routing.domain import commands as cmd
from services.routing.domain import postal as core
from services.routing.domain.state import DossierState
from services.routing.handlers import Actor, Routing
from services.runtime import clock
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records
from services.runtime.telemetry import current_trace_headers

log = logging.getLogger(__name__)
LEASE_SECONDS = 30.0
MAX_ATTEMPTS = 12
POSTAL = Actor.system("postal")


@dataclass(frozen=True)
class PostalConfig:
    postal_url: str
    api_key: str
    callback_url: str
    intake_url: str
    service_token: str


class PostalSender:
    """Creates each pending order once at the postal service: rows are claimed under a
    lease (several routing instances never send the same one at once), a failure backs
    off, and a repeat is harmless (the postal service is idempotent on our order_ref)."""

    def __init__(self, routing: Routing, cfg: PostalConfig, client: httpx.AsyncClient) -> None:
        self.routing = routing
        self.cfg = cfg
        self.client = client

    async def run(self) -> None:
        while True:
            try:
                sent = await self.send_due()
            except Exception:  # a database hiccup: try again shortly
                log.exception("postal sender")
                sent = 0
            if sent == 0:
                await asyncio.sleep(0.5)

    async def send_due(self) -> int:
        pool = self.routing.rt.pool
        async with pool.acquire() as conn, conn.transaction():
            rows = await pa.claim_due(conn, LEASE_SECONDS)
        for row in rows:
            await self._send(row)
        return len(rows)

    async def _send(self, row: dict[str, Any]) -> None:
        ref = row["order_ref"]
        try:
            receiver = await pa.fetch_receiver(
                self.client, self.cfg.intake_url, self.cfg.service_token, row["contact_ref"]
            )
        except pa.NoSuchContact:
            await self._failed(ref, row["attempts"], "no contact or address at intake", False)
            return
        except (httpx.HTTPError, ValueError) as exc:
            await self._failed(ref, row["attempts"], f"intake: {type(exc).__name__}", True)
            return
        request = core.order_request(
            ref,
            dossier_code=row["dossier_code"],
            unit_code=row["unit_code"],
            papers=row["papers"],
            receiver=receiver,
            callback_url=self.cfg.callback_url,
        )
        attempt = await pa.create_order(self.client, self.cfg.postal_url, self.cfg.api_key, request)
        if attempt.order_id is None or attempt.tracking_number is None:
            await self._failed(ref, row["attempts"], attempt.error or "?", attempt.retryable)
            return
        async with self.routing.rt.pool.acquire() as conn, conn.transaction():
            if not await pa.mark_created(conn, ref, attempt.order_id, attempt.tracking_number):
                return
            loaded = await store.load_for_update(conn, row["dossier_id"])
            if loaded is None:
                return
            state, code = loaded
            order = {
                "order_ref": ref,
                "order_id": attempt.order_id,
                "tracking_number": attempt.tracking_number,
                "unit_code": row["unit_code"],
            }
            await self._timeline(conn, state, code, order, "created", clock.now())

    async def _failed(self, ref: str, attempts: int, error: str, retryable: bool) -> None:
        tried = attempts + 1
        retry_in = core.backoff_seconds(tried) if retryable and tried < MAX_ATTEMPTS else None
        log.warning("postal order %s failed (%s); retry in %s", ref, error, retry_in)
        async with self.routing.rt.pool.acquire() as conn:
            await pa.mark_failed(conn, ref, error, retry_in)

    async def _timeline(
        self,
        conn: DbConn,
        state: DossierState,
        code: str,
        order: dict[str, Any],
        status: str,
        at: datetime,
    ) -> None:
        await timeline(self.routing, conn, state, code, order, status, at)


async def timeline(
    routing: Routing,
    conn: DbConn,
    state: DossierState,
    code: str,
    order: dict[str, Any],
    status: str,
    at: datetime,
    note: str | None = None,
) -> None:
    """An audit line and a ``dossier.postal_tracking`` event (intake's timeline, notify)."""
    dossier_id = UUID(state.dossier_id)
    details = {k: order[k] for k in ("order_ref", "order_id", "tracking_number")}
    entry = store.AuditEntry(
        dossier_id=dossier_id,
        task_id=None,
        actor=POSTAL.user_id,
        role=POSTAL.role,
        unit_code=order["unit_code"],
        action=f"postal.{status}",
        at=at,
        details={**details, **({"note": note} if note else {})},
    )
    await store.audit(conn, [entry])
    payload = PostalTracking(
        dossier_code=code,
        procedure_code=state.procedure_code,
        status=state.status,
        at=at,
        postal_status=status,
        unit_code=order["unit_code"],
        **details,
    )
    envelope = EventEnvelope(
        event_type="dossier.postal_tracking",
        dossier_id=dossier_id,
        sequence=state.version,
        correlation_id=dossier_id,
        producer=routing.rt.settings.service_name,
        payload=payload.model_dump(mode="json"),
    )
    record = OutboxRecord(
        routing.rt.topic("dossier.routing"),
        str(dossier_id),
        envelope.event_id,
        envelope.event_type,
        envelope.model_dump_json().encode(),
    )
    await append_records(conn, routing.rt.schema, [record], current_trace_headers())


class UnknownOrder(Exception):
    pass


async def on_tracking(
    routing: Routing, conn: DbConn, order_id: str, status: str, at: datetime
) -> dict[str, Any]:
    """One verified tracking callback, in the caller's transaction: a timeline event once
    per status; ``delivered`` returns the result (status 10) through the core."""
    order = await pa.order_for_update(conn, order_id)
    if order is None:
        raise UnknownOrder(order_id)
    if not await pa.record_tracking(conn, order_id, status, at):
        return {"order_id": order_id, "status": status, "duplicate": True}
    loaded = await store.load_for_update(conn, order["dossier_id"])
    assert loaded is not None  # an order exists only for a started dossier
    state, code = loaded
    effect = core.effect_of(status)
    note = (
        "bưu điện trả lại; kết quả chờ tại bộ phận một cửa"
        if (effect == "note_returned_to_sender")
        else None
    )
    await timeline(routing, conn, state, code, order, status, at, note)
    if effect == "return_result":
        official = cmd.Official(user_id=f"postal:{order_id}", unit_code=state.receiving_unit)
        try:
            state = await routing.apply(
                conn, state, code, cmd.ReturnResult(official=official), POSTAL, at=at
            )
        except Rejected as refused:
            entry = store.AuditEntry(
                dossier_id=UUID(state.dossier_id),
                task_id=None,
                actor=POSTAL.user_id,
                role=POSTAL.role,
                unit_code=order["unit_code"],
                action="rejected",
                at=at,
                details={"reason": str(refused), "order_id": order_id},
            )
            await store.audit(conn, [entry])
    return {"order_id": order_id, "status": status, "dossier_status": int(state.status)}
