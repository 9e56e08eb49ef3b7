"""Portals, their hashed API keys, and their webhooks."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from services.runtime.db import DbConn

ALL_UNITS = "*"
DEV_PORTAL_ID = "dev"


@dataclass(frozen=True)
class Portal:
    id: str
    units: frozenset[str]

    def may_act_for(self, unit_code: str) -> bool:
        return ALL_UNITS in self.units or unit_code in self.units


def key_hash(api_key: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(api_key.encode()).hexdigest()


async def seed_dev_portal(conn: DbConn, api_key: str) -> None:
    await conn.execute(
        "INSERT INTO portals (id, name, units) VALUES ($1, 'Cổng thử nghiệm (dev)', $2)"
        " ON CONFLICT (id) DO NOTHING",
        DEV_PORTAL_ID,
        [ALL_UNITS],
    )
    await conn.execute(
        "INSERT INTO api_keys (key_hash, portal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        key_hash(api_key),
        DEV_PORTAL_ID,
    )


async def dev_portal_exists(conn: DbConn) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM portals WHERE id = $1)", DEV_PORTAL_ID
    )
    return found


async def create_portal(conn: DbConn, name: str, units: list[str]) -> tuple[str, str]:
    portal_id = f"p-{secrets.token_hex(6)}"
    api_key = f"ok_{secrets.token_urlsafe(32)}"
    await conn.execute(
        "INSERT INTO portals (id, name, units) VALUES ($1, $2, $3)", portal_id, name, units
    )
    await conn.execute(
        "INSERT INTO api_keys (key_hash, portal_id) VALUES ($1, $2)", key_hash(api_key), portal_id
    )
    return portal_id, api_key


async def portal_for_key(conn: DbConn, api_key: str) -> Portal | None:
    row = await conn.fetchrow(
        "SELECT p.id, p.units FROM api_keys k JOIN portals p ON p.id = k.portal_id"
        " WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key_hash(api_key),
    )
    return Portal(id=row["id"], units=frozenset(row["units"])) if row is not None else None


async def create_webhook(
    conn: DbConn, portal_id: str, url: str, max_attempts: int, backoff_seconds: float
) -> tuple[UUID, str]:
    webhook_id = uuid4()
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO webhooks (id, portal_id, url, secret, max_attempts, backoff_seconds)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        webhook_id,
        portal_id,
        url,
        secret,
        max_attempts,
        backoff_seconds,
    )
    return webhook_id, secret


DELIVERY_COLUMNS = "id, webhook_id, dossier_id, version, state, attempts, last_error, created_at"


async def list_deliveries(conn: DbConn, state: str, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE state = $1 ORDER BY id LIMIT $2",
        state,
        limit,
    )
    return [dict(r) for r in rows]


async def replay_delivery(conn: DbConn, delivery_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0,"
        " next_attempt_at = now(), last_error = NULL"
        f" WHERE id = $1 AND state = 'dead' RETURNING {DELIVERY_COLUMNS}",
        delivery_id,
    )
    return dict(row) if row is not None else None
