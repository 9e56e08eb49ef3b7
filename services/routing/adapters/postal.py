"""Results by post, the I/O: routing's postal tables (SQL) and the two HTTP calls the
postal sender makes (intake's contact of the dossier, the postal service's order API)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from services.routing.domain import events as ev
from services.routing.domain.postal import is_retryable, order_ref
from services.runtime.db import DbConn

ORDERS_PATH = "/api/v1/orders"


async def remember(conn: DbConn, wishes: Sequence[tuple[UUID, str]]) -> None:
    """(dossier id, contact reference) of dossiers whose citizen chose postal return."""
    if wishes:
        await conn.execute(
            "INSERT INTO postal_returns (dossier_id, contact_ref)"
            " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING",
            [w[0] for w in wishes],
            [w[1] for w in wishes],
        )


async def request_orders(conn: DbConn, changes: Sequence[Any]) -> None:
    """The outbox side: an order row for each dossier of the batch whose result just became
    ready and whose citizen chose post, in the transaction that saves the decision."""
    ready = [(c, e) for c in changes for e in c.events if isinstance(e, ev.ResultReady)]
    if not ready:
        return
    await conn.execute(
        "INSERT INTO postal_orders (order_ref, dossier_id, dossier_code, procedure_code,"
        " unit_code, contact_ref, papers)"
        " SELECT c.ref, c.id, c.code, c.procedure, c.unit, r.contact_ref,"
        " ARRAY(SELECT jsonb_array_elements_text(c.papers))"
        " FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[])"
        " AS c(ref, id, code, procedure, unit, papers)"
        " JOIN postal_returns r ON r.dossier_id = c.id ON CONFLICT DO NOTHING",
        [order_ref(c.state.dossier_id) for c, _ in ready],
        [UUID(c.state.dossier_id) for c, _ in ready],
        [c.dossier_code for c, _ in ready],
        [c.state.procedure_code for c, _ in ready],
        [e.unit_code for _, e in ready],
        [_json_list(e.papers) for _, e in ready],
    )


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


async def claim_due(conn: DbConn, lease_seconds: float, limit: int = 20) -> list[dict[str, Any]]:
    """Due orders for one attempt each; the lease makes them due again if we crash."""
    rows = await conn.fetch(
        "WITH due AS (SELECT order_ref FROM postal_orders WHERE state = 'pending'"
        " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE postal_orders o SET next_attempt_at = now() + $2::interval, updated_at = now()"
        " FROM due WHERE o.order_ref = due.order_ref"
        " RETURNING o.order_ref, o.dossier_id, o.dossier_code, o.procedure_code, o.unit_code,"
        " o.contact_ref, o.papers, o.attempts",
        limit,
        timedelta(seconds=lease_seconds),
    )
    return [dict(r) for r in rows]


async def mark_created(conn: DbConn, ref: str, order_id: str, tracking_number: str) -> bool:
    """False when another worker recorded it first (nothing more to do)."""
    done = await conn.fetchval(
        "UPDATE postal_orders SET state = 'created', order_id = $2, tracking_number = $3,"
        " postal_status = 'created', attempts = attempts + 1, last_error = NULL,"
        " updated_at = now() WHERE order_ref = $1 AND state = 'pending' RETURNING true",
        ref,
        order_id,
        tracking_number,
    )
    return bool(done)


async def mark_failed(conn: DbConn, ref: str, error: str, retry_in: float | None) -> None:
    """Try again in ``retry_in`` seconds, or never (None: the order is dead)."""
    await conn.execute(
        "UPDATE postal_orders SET attempts = attempts + 1, last_error = $2,"
        " state = CASE WHEN $3::float8 IS NULL THEN 'dead' ELSE state END,"
        " next_attempt_at = now() + make_interval(secs => COALESCE($3::float8, 0)),"
        " updated_at = now() WHERE order_ref = $1 AND state = 'pending'",
        ref,
        error[:500],
        retry_in,
    )


async def order_for_update(conn: DbConn, order_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT order_ref, dossier_id, order_id, tracking_number, unit_code, postal_status"
        " FROM postal_orders WHERE order_id = $1 FOR UPDATE",
        order_id,
    )
    return dict(row) if row is not None else None


async def record_tracking(conn: DbConn, order_id: str, status: str, at: datetime) -> bool:
    """False when this status of this order was heard before (a repeated callback)."""
    fresh = await conn.fetchval(
        "INSERT INTO postal_tracking (order_id, status, at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        order_id,
        status,
        at,
    )
    if fresh:
        await conn.execute(
            "UPDATE postal_orders SET postal_status = $2, updated_at = now() WHERE order_id = $1",
            order_id,
            status,
        )
    return bool(fresh)


async def order_of(conn: DbConn, dossier_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT order_ref, state, attempts, order_id, tracking_number, postal_status, last_error"
        " FROM postal_orders WHERE dossier_id = $1",
        dossier_id,
    )
    return dict(row) if row is not None else None


# --- HTTP -------------------------------------------------------------------------------


class NoSuchContact(Exception):
    """Intake has no contact (or no address) for the reference: the order can never go."""


@dataclass(frozen=True)
class Attempt:
    order_id: str | None = None
    tracking_number: str | None = None
    error: str | None = None
    retryable: bool = True


async def fetch_receiver(
    client: httpx.AsyncClient, intake_url: str, token: str, contact_ref: str
) -> dict[str, Any]:
    response = await client.get(
        f"{intake_url.rstrip('/')}/internal/v1/postal-recipients/{contact_ref}",
        headers={"X-Service-Token": token},
        timeout=5.0,
    )
    if response.status_code == httpx.codes.NOT_FOUND:
        raise NoSuchContact(contact_ref)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if not body.get("postal_address"):
        raise NoSuchContact(contact_ref)
    return body


async def create_order(
    client: httpx.AsyncClient, postal_url: str, api_key: str, request: dict[str, Any]
) -> Attempt:
    """One creation attempt; the postal service answers a repeated ``partner_order_code``
    with the order it already made."""
    try:
        response = await client.post(
            f"{postal_url.rstrip('/')}{ORDERS_PATH}",
            json=request,
            headers={"Token": api_key, "Idempotency-Key": request["partner_order_code"]},
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        return Attempt(error=f"network: {type(exc).__name__}")
    if response.status_code >= 300:
        return Attempt(
            error=f"HTTP {response.status_code}", retryable=is_retryable(response.status_code)
        )
    try:
        data = response.json()["data"]
        return Attempt(order_id=str(data["order_id"]), tracking_number=str(data["tracking_number"]))
    except (ValueError, KeyError, TypeError):
        return Attempt(error="unreadable answer")
