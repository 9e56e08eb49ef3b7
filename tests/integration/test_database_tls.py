"""DATABASE_SSLMODE reaches every PostgreSQL connection the runtime opens.

The shared test server speaks no TLS, so it stands for a server (or a man in the middle)
that refuses the upgrade: with ``sslmode=require`` the pool and the outbox relay's
LISTEN connection refuse to go on in the clear, and nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from services.runtime.db import create_pool, migrate
from services.runtime.outbox import OutboxRelay
from services.runtime.settings import ServiceSettings
from tests.conftest import unique_prefix
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
EMPTY_MIGRATIONS = Path(__file__).parent / "no_migrations"


async def test_a_server_that_will_not_do_tls_gets_no_connection_when_tls_is_required(
    infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = unique_prefix()
    required = ServiceSettings(
        database_url=infra.database_url, database_sslmode="require", schema_prefix=prefix
    )
    assert "sslmode=require" in required.database_dsn

    with pytest.raises(ConnectionError, match="rejected SSL upgrade"):
        await create_pool(required.database_dsn, required.db_schema, 1, 2)

    # The relay's LISTEN connection is opened with the same DSN (its pool is a plain one
    # here, so that the relay can be built at all).
    plain = await create_pool(infra.database_url, required.db_schema, 1, 2)
    try:
        async with plain.acquire() as conn:
            await migrate(conn, required.db_schema, EMPTY_MIGRATIONS)
        relay = OutboxRelay(plain, required.database_dsn, required.db_schema, producer=None)
        # The relay keeps trying (a database restart must not stop it for good), but
        # never in the clear: it never holds the lock, and says why.
        with caplog.at_level(logging.WARNING), pytest.raises(TimeoutError):
            await asyncio.wait_for(relay.run(), timeout=3.0)
        assert not relay.holds_lock
        assert "rejected SSL upgrade" in caplog.text
        assert await plain.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        async with plain.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {required.db_schema} CASCADE")
        await plain.close()
