"""The outbox's clean-up: published rows older than the window go, everything else
stays, and a pass reads the start of the primary key, not the whole table."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from services.runtime.db import create_pool, migrate_before_pool
from services.runtime.outbox import _DELETE_PUBLISHED, delete_published
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra

pytestmark = pytest.mark.integration

# One row per case, in id order: (name, published this many seconds ago, set aside).
ROWS = (
    ("old", 7200, False),
    ("old set aside", None, True),
    ("old too", 3700, False),
    ("young", 60, False),
    ("old behind a young one", 7200, False),  # published out of order: goes later
    ("pending", None, False),
)


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    schema = f"{unique_prefix()}cleanup"
    await migrate_before_pool(infra.database_url, schema, REPO / "services/routing/migrations")
    made = await create_pool(infra.database_url, schema, 1, 2)
    try:
        yield made
    finally:
        await made.close()


async def _add(pool: asyncpg.Pool, name: str, ago: int | None, aside: bool) -> None:
    await pool.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value, published_at, failed_at)"
        " VALUES ('t', $1, $2, 'e', '\\x00', now() - make_interval(secs => $3),"
        " CASE WHEN $4 THEN now() - interval '2 hours' END)",
        name,
        uuid4(),
        ago,
        aside,
    )


async def test_only_published_rows_older_than_the_window_go(pool: asyncpg.Pool) -> None:
    for row in ROWS:
        await _add(pool, *row)
    assert await delete_published(pool, older_than_seconds=3600) == 2
    kept = [r["key"] for r in await pool.fetch("SELECT key FROM outbox ORDER BY id")]
    assert kept == ["old set aside", "young", "old behind a young one", "pending"]


async def test_a_backlog_goes_in_batches_and_all_of_it(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value, published_at)"
        " SELECT 't', n::text, gen_random_uuid(), 'e', '\\x00', now() - interval '2 hours'"
        " FROM generate_series(1, 250) n"
    )
    await _add(pool, "young", 60, False)
    assert await delete_published(pool, older_than_seconds=3600, batch=100, batches=2) == 200
    assert await delete_published(pool, older_than_seconds=3600, batch=100, batches=2) == 50
    assert [r["key"] for r in await pool.fetch("SELECT key FROM outbox")] == ["young"]


async def test_a_pass_reads_the_primary_key_not_the_table(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value, published_at)"
        " SELECT 't', n::text, gen_random_uuid(), 'e', '\\x00',"
        " CASE WHEN n <= 5000 THEN now() - interval '2 hours' ELSE now() END"
        " FROM generate_series(1, 25000) n"
    )
    await pool.execute("ANALYZE outbox")
    explained = await pool.fetchval(
        f"EXPLAIN (FORMAT JSON, ANALYZE) {_DELETE_PUBLISHED}", 3600, 10_000
    )
    plan = json.dumps(json.loads(explained))
    assert '"Seq Scan"' not in plan
    assert "outbox_pkey" in plan
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 20000  # the old ones went
