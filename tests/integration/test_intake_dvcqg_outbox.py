"""The national portal's outbox against real PostgreSQL: two intake instances claiming
at once never take the same push, a dossier's next push waits for the one before it
(sent or dead), a replayed push goes first again, a redelivered event adds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.intake.adapters import national_sender as sender
from services.intake.adapters.repository import enqueue_national
from services.intake.config import IntakeSettings
from services.runtime.db import migrate
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra

pytestmark = pytest.mark.integration
SETTINGS = IntakeSettings(dvcqg_push_max_attempts=2, dvcqg_push_backoff_seconds=0.001)


@pytest.fixture
async def pools(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two instances' pools on one freshly migrated intake schema."""
    schema = f"{unique_prefix()}intake"
    conn = await asyncpg.connect(infra.database_url)
    await migrate(conn, schema, REPO / "services" / "intake" / "migrations")
    settings = {"search_path": schema}
    one = await asyncpg.create_pool(
        infra.database_url, server_settings=settings, min_size=1, max_size=2
    )
    two = await asyncpg.create_pool(
        infra.database_url, server_settings=settings, min_size=1, max_size=2
    )
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def enqueue(pool: asyncpg.Pool, dossier_id: UUID, n: int) -> list[int]:
    async with pool.acquire() as conn:
        await enqueue_national(
            conn, dossier_id, [("step", {"status": 4, "n": i}) for i in range(n)]
        )
        rows = await conn.fetch(
            "SELECT id FROM dvcqg_pushes WHERE dossier_id = $1 ORDER BY id", dossier_id
        )
    return [r["id"] for r in rows]


async def claim(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await sender.claim_due(pool, lease_seconds=60)


async def test_two_instances_take_each_dossiers_next_push_once(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    one, two = pools
    dossiers = [uuid4() for _ in range(20)]
    ids = {d: await enqueue(one, d, 3) for d in dossiers}

    a, b = await asyncio.gather(claim(one), claim(two))
    taken = [r["id"] for r in a] + [r["id"] for r in b]
    assert sorted(taken) == sorted(ids[d][0] for d in dossiers)  # each head once, no other
    assert await claim(one) == [] and await claim(two) == []  # leased; the rest wait

    first = dossiers[0]
    head = next(r for r in [*a, *b] if r["id"] == ids[first][0])
    await sender.record_outcome(one, head, sender.Outcome(True, answer="ok"), SETTINGS)
    assert [r["id"] for r in await claim(two)] == [ids[first][1]]


async def test_a_dead_push_lets_the_next_go_and_a_replay_goes_first(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    pool, _ = pools
    dossier = uuid4()
    ids = await enqueue(pool, dossier, 3)
    for _ in range(SETTINGS.dvcqg_push_max_attempts):
        (head,) = await claim(pool)
        assert head["id"] == ids[0]
        await pool.execute("UPDATE dvcqg_pushes SET next_attempt_at = now() WHERE id = $1", ids[0])
        await sender.record_outcome(pool, head, sender.Outcome(False, "HTTP 503"), SETTINGS)
        await pool.execute("UPDATE dvcqg_pushes SET next_attempt_at = now() WHERE id = $1", ids[0])
    async with pool.acquire() as conn:
        dead = await sender.list_pushes(conn, "dead", 10)
    assert [(p["id"], p["attempts"], p["last_error"]) for p in dead] == [(ids[0], 2, "HTTP 503")]
    (nxt,) = await claim(pool)
    assert nxt["id"] == ids[1]  # the dead one no longer holds the dossier up
    await pool.execute("UPDATE dvcqg_pushes SET next_attempt_at = now() WHERE id = $1", ids[1])
    async with pool.acquire() as conn:
        replayed = await sender.replay_push(conn, ids[0])
        assert replayed is not None and replayed["state"] == "pending"
        assert await sender.replay_push(conn, ids[0]) is None  # not dead any more
    assert [r["id"] for r in await claim(pool)] == [ids[0]]  # before the later ones


async def test_a_redelivered_event_adds_no_push(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    pool, _ = pools
    dossier, event = uuid4(), uuid4()
    async with pool.acquire() as conn:
        for _ in range(2):
            await enqueue_national(
                conn, dossier, [("step", {"status": 9}), ("update", {"status": 9})], event
            )
        kinds = await conn.fetch(
            "SELECT kind FROM dvcqg_pushes WHERE dossier_id = $1 ORDER BY id", dossier
        )
    assert [r["kind"] for r in kinds] == ["step", "update"]
