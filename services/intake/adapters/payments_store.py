"""Intake's SQL for online payments (tables of migration 007)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from services.runtime.db import DbConn


async def open_obligation(conn: DbConn, dossier_id: UUID) -> dict[str, Any] | None:
    """The last obligation routing assessed for the dossier (from its timeline)."""
    row = await conn.fetchrow(
        "SELECT event_id, (details->>'amount_vnd')::bigint AS amount_vnd,"
        " details->>'unit_code' AS unit_code FROM timeline"
        " WHERE dossier_id = $1 AND source = 'routing'"
        " AND event_type = 'dossier.obligation_requested'"
        " ORDER BY sequence DESC LIMIT 1",
        dossier_id,
    )
    return dict(row) if row is not None else None


async def insert_payment(
    conn: DbConn,
    *,
    txn_ref: str,
    dossier: dict[str, Any],
    portal_id: str,
    obligation: dict[str, Any],
    created_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO payments (txn_ref, dossier_id, dossier_code, portal_id, obligation_event,"
        " assessing_unit, amount_vnd, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        txn_ref,
        dossier["id"],
        dossier["code"],
        portal_id,
        obligation["event_id"],
        obligation["unit_code"] or "",
        obligation["amount_vnd"],
        created_at,
    )


async def load_for_update(conn: DbConn, txn_ref: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM payments WHERE txn_ref = $1 FOR UPDATE", txn_ref)
    return dict(row) if row is not None else None


async def load(conn: DbConn, txn_ref: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM payments WHERE txn_ref = $1", txn_ref)
    return dict(row) if row is not None else None


async def of_dossier(conn: DbConn, dossier_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM payments WHERE dossier_id = $1 ORDER BY created_at", dossier_id
    )
    return [dict(r) for r in rows]


async def settle(
    conn: DbConn,
    txn_ref: str,
    *,
    state: str,
    at: datetime,
    by: str,
    response_code: str,
    transaction_no: str,
    bank_code: str,
    pay_date: str,
    with_receipt: bool,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        "UPDATE payments SET state = $2, settled_at = $3, settled_by = $4, response_code = $5,"
        " transaction_no = $6, bank_code = $7, pay_date = $8,"
        " receipt_no = CASE WHEN $9 THEN to_char($3 AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY')"
        " || '-' || lpad(nextval('payment_receipt_numbers')::text, 7, '0') END"
        " WHERE txn_ref = $1 AND state = 'pending' RETURNING *",
        txn_ref,
        state,
        at,
        by,
        response_code,
        transaction_no,
        bank_code,
        pay_date,
        with_receipt,
    )
    assert row is not None, "settle() is called on a pending payment it locked"
    return dict(row)


async def record_ipn(conn: DbConn, txn_ref: str, params: dict[str, str], rsp_code: str) -> None:
    await conn.execute(
        "INSERT INTO payment_ipns (txn_ref, params, rsp_code) VALUES ($1, $2::jsonb, $3)",
        txn_ref or None,
        json.dumps(params),
        rsp_code,
    )


async def to_reconcile(conn: DbConn, since: datetime, older_than: datetime) -> list[dict[str, Any]]:
    """Attempts created in the window and at least a little old (an IPN may be on its way)."""
    rows = await conn.fetch(
        "SELECT * FROM payments WHERE created_at >= $1 AND created_at <= $2 ORDER BY created_at",
        since,
        older_than,
    )
    return [dict(r) for r in rows]


async def record_reconciliation(
    conn: DbConn, started: datetime, finished: datetime, checked: int, findings: list[Any]
) -> int:
    value = await conn.fetchval(
        "INSERT INTO payment_reconciliations (started_at, finished_at, checked, findings)"
        " VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
        started,
        finished,
        checked,
        json.dumps(findings, default=str),
    )
    return int(value)
