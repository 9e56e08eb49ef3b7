"""Operator accounts, refresh tokens, revocations and the development signing key (SQL)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.runtime.db import DbConn


@dataclass(frozen=True)
class Account:
    username: str
    password_hash: str | None
    full_name: str
    unit_code: str
    role: str
    enabled: bool


def _account(row: object) -> Account | None:
    if row is None:
        return None
    r = dict(row)  # type: ignore[call-overload]
    return Account(
        r["username"], r["password_hash"], r["full_name"], r["unit_code"], r["role"], r["enabled"]
    )


async def account(conn: DbConn, username: str) -> Account | None:
    row = await conn.fetchrow(
        "SELECT username, password_hash, full_name, unit_code, role, enabled FROM officials"
        " WHERE username = $1",
        username,
    )
    return _account(row)


async def account_if_valid(conn: DbConn, username: str, jti: str | None) -> Account | None:
    """The account behind a token, unless the token was revoked (one round trip)."""
    row = await conn.fetchrow(
        "SELECT username, password_hash, full_name, unit_code, role, enabled FROM officials"
        " WHERE username = $1"
        " AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $2)",
        username,
        jti or "",
    )
    return _account(row)


async def set_password_hash(conn: DbConn, username: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE officials SET password_hash = $2 WHERE username = $1", username, password_hash
    )


async def demo_accounts(conn: DbConn) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM officials WHERE demo")
    return count


def refresh_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def store_refresh_token(
    conn: DbConn, token: str, username: str, family: UUID, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, username, family, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        refresh_digest(token),
        username,
        family,
        expires_at,
    )


@dataclass(frozen=True)
class RefreshUse:
    username: str
    family: UUID
    reused: bool  # presented again after it was exchanged: a stolen copy


async def use_refresh_token(conn: DbConn, token: str) -> RefreshUse | None:
    """Spend a refresh token once; None when unknown, expired or revoked."""
    row = await conn.fetchrow(
        "UPDATE refresh_tokens SET used_at = coalesce(used_at, now())"
        " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
        " RETURNING username, family, (used_at < now()) AS reused",
        refresh_digest(token),
    )
    if row is None:
        return None
    return RefreshUse(row["username"], row["family"], bool(row["reused"]))


async def revoke_family(conn: DbConn, family: UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
        family,
    )


async def family_of(conn: DbConn, token: str) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT family FROM refresh_tokens WHERE token_hash = $1", refresh_digest(token)
    )
    return found


async def revoke_access_token(conn: DbConn, jti: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        jti,
        expires_at,
    )


async def delete_expired(conn: DbConn) -> None:
    await conn.execute("DELETE FROM revoked_access_tokens WHERE expires_at < now()")
    await conn.execute("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")


async def dev_signing_key(conn: DbConn, generated_pem: bytes, kid: str) -> bytes:
    """The development signing key every routing instance shares (the first one stored)."""
    await conn.execute(
        "INSERT INTO dev_signing_keys (kid, private_pem)"
        " SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM dev_signing_keys)",
        kid,
        generated_pem,
    )
    pem: bytes = await conn.fetchval(
        "SELECT private_pem FROM dev_signing_keys ORDER BY created_at, kid LIMIT 1"
    )
    return pem


async def colleagues(conn: DbConn, unit_code: str) -> list[dict[str, str]]:
    """The enabled officials of one unit (for handing a task on), heads first."""
    rows = await conn.fetch(
        "SELECT username, full_name, role FROM officials WHERE unit_code = $1 AND enabled"
        " ORDER BY role = 'official', full_name, username",
        unit_code,
    )
    return [dict(r) for r in rows]
