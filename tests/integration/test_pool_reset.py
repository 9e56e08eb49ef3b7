"""The pool's release: an unfinished transaction rolled back, nothing else sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.runtime.db import MIGRATION_LOCK_KEY, create_pool, migrate_before_pool
from tests.conftest import unique_prefix
from tests.support.infra import Infra


async def test_a_connection_given_back_inside_a_transaction_comes_back_clean(
    infra: Infra,
) -> None:
    pool = await create_pool(infra.database_url, "public", 1, 1)
    try:
        async with pool.acquire() as conn:
            # A caller cancelled half-way: its transaction and what it changed are still
            # there when the connection goes back.
            await conn.execute("BEGIN")
            await conn.execute("SET work_mem = '7MB'")
            await conn.execute("SELECT pg_advisory_xact_lock(424242)")
            pid = conn.get_server_pid()
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid  # the same connection, rolled back
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW work_mem") != "7MB"
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid
            )
            assert held == 0
    finally:
        await pool.close()


async def test_a_clean_release_costs_no_round_trip(infra: Infra) -> None:
    pool = await create_pool(infra.database_url, "public", 1, 1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'pool-reset-probe'")
        async with pool.acquire() as conn:
            # asyncpg's default release would have sent RESET ALL, undoing this.
            assert await conn.fetchval("SHOW application_name") == "pool-reset-probe"
    finally:
        await pool.close()


async def test_start_up_migrates_on_a_connection_of_its_own_before_the_pool(
    infra: Infra,
) -> None:
    """Two instances starting together: each migration runs on its own connection, which
    is closed after (its session lock with it); the pool opened next sees every table."""
    schema = f"{unique_prefix()}sla"
    migrations = Path(__file__).resolve().parents[2] / "services/sla/migrations"
    first, second = await asyncio.gather(
        migrate_before_pool(infra.database_url, schema, migrations),
        migrate_before_pool(infra.database_url, schema, migrations),
    )
    assert sorted(first + second) == sorted(set(first + second))  # each file applied once
    assert "sla/002_sla_apologies_reports.sql" in first + second
    pool = await create_pool(infra.database_url, schema, 2, 2)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT version FROM calendar_version WHERE id = 1") == 0
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = $1::bigint::oid",
                MIGRATION_LOCK_KEY,
            )
            assert held == 0
    finally:
        await pool.close()
