"""PostgreSQL pool (one schema per service) and a tiny forward-only migration runner."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    DbConn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    DbConn = asyncpg.Connection

MIGRATION_LOCK_KEY = 715_001  # any constant; serialises migrations across instances
_SAFE_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked_identifier(name: str) -> str:
    """Schema names come from settings; refuse anything that is not a plain identifier."""
    if not _SAFE_IDENTIFIER.match(name):
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return name


def uuid_or_none(ref: str) -> UUID | None:
    """A dossier reference (its code or its id) as an id, when it is one. Lookups compare
    ``dossier_id = $2`` with this rather than ``dossier_id::text = $1``, which no index
    serves: every such lookup read the whole table."""
    try:
        return UUID(ref)
    except ValueError:
        return None


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (which always rolls back
    a transaction the caller left open).

    asyncpg's default also sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: one more round trip (and four statements for
    PostgreSQL) per acquire, on every hot path. Pooled connections here never LISTEN,
    never SET a session variable and never keep a cursor past their transaction; the
    one session-level lock (the migration's, taken at start-up) is held on a connection
    of its own (:func:`migrate_before_pool`), never a pooled one.
    """
    del conn


async def create_pool(dsn: str, schema: str, min_size: int, max_size: int) -> asyncpg.Pool:
    schema = checked_identifier(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f"{schema},public", "application_name": schema},
        reset=keep_session,
    )
    assert pool is not None
    return pool


async def migrate_before_pool(dsn: str, schema: str, migrations_dir: Path) -> list[str]:
    """Start-up's migration on a connection opened and closed around it, before the
    service's pool exists, so every pooled connection is opened after its schema and
    tables are there. (Once, in CI, a second instance's first pooled query did not find a
    table whose migration was recorded as applied; its pool had connected before the
    schema was complete.)"""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, schema, migrations_dir)
    finally:
        await conn.close()


async def migrate(conn: DbConn, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the ``NNN_name.sql`` files not yet applied, in order, each in a transaction.

    The common runtime tables (outbox, processed events, spans) come first from this
    package's own ``migrations`` folder.
    """
    schema = checked_identifier(schema)
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
        files = sorted((Path(__file__).parent / "migrations").glob("*.sql")) + sorted(
            migrations_dir.glob("*.sql")
        )
        for path in files:
            name = f"{path.parent.parent.name}/{path.name}"
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", name
                )
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied
