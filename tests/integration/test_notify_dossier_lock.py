"""Two notify instances holding events of one dossier at once (its events come on several
topics): the second waits for the first's transaction, so a message planned beside an
uncommitted `dossier.received` still gets the citizen's contact reference."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from services.notify.domain.plan import PENDING_CONTACT
from services.notify.handlers import NotifyContext, on_citizen_events
from services.runtime.db import migrate
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra
from tests.unit.test_notify_core import UNIT, received, routing_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(infra: Infra) -> AsyncIterator[str]:
    name = f"{unique_prefix()}notify"
    conn = await asyncpg.connect(infra.database_url)
    try:
        await migrate(conn, name, REPO / "services" / "notify" / "migrations")
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


def context() -> NotifyContext:
    # The planning path reads the rules only; nothing is sent here.
    nothing = cast("Any", None)
    return NotifyContext(
        runtime=nothing,
        procedure_names={"1.001193": "Đăng ký khai sinh"},
        contacts=nothing,
        smtp=nothing,
        sms=nothing,
        unit_names={UNIT: "Ủy ban nhân dân xã Đông Lâm"},
        quiet_window=None,
        zalo_enabled=False,
    )


async def connect(infra: Infra, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})


async def waiting_on_a_lock(watcher: asyncpg.Connection, pid: int) -> bool:
    return bool(
        await watcher.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)",
            pid,
        )
    )


async def test_an_event_beside_an_uncommitted_dossier_received_waits_and_gets_the_contact(
    infra: Infra, schema: str
) -> None:
    told = received("ref-lock-1")
    dossier = told.dossier_id
    ctx = context()
    first, second, watcher = [await connect(infra, schema) for _ in range(3)]
    try:
        # Instance 1 plans the dossier's dossier.received and has not committed yet.
        tx1 = first.transaction()
        await tx1.start()
        assert await on_citizen_events(ctx, first, [told]) > 0

        # Instance 2 meanwhile takes the dossier's result_ready from another topic.
        async def instance_two() -> int:
            async with second.transaction():
                return await on_citizen_events(
                    ctx, second, [routing_event("dossier.result_ready", dossier, unit_code=UNIT)]
                )

        later = asyncio.create_task(instance_two())
        pid = second.get_server_pid()
        for _ in range(200):
            if await waiting_on_a_lock(watcher, pid) or later.done():
                break
            await asyncio.sleep(0.05)
        # Instance 2 is held up (by whichever lock) until instance 1 commits.
        assert not later.done()
        assert await waiting_on_a_lock(watcher, pid)

        await tx1.commit()
        assert await later > 0

        rows = await watcher.fetch(
            "SELECT template_id, contact_ref FROM messages WHERE dossier_id = $1", dossier
        )
        assert {r["template_id"].split(".")[1] for r in rows} >= {"received", "result_ready"}
        assert all(r["contact_ref"] == "ref-lock-1" for r in rows), [dict(r) for r in rows]
        assert not [r for r in rows if r["contact_ref"] == PENDING_CONTACT]
    finally:
        for conn in (first, second, watcher):
            await conn.close()
