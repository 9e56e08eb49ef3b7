"""An operator's action is read and saved without a lock (two round trips): the save
writes only if nobody changed the dossier since it was read, and then all of it (state,
event log, audit line, outbox, inbox row) or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from reference import reference
from services.routing.adapters import store
from services.routing.app import RoutingSettings
from services.routing.domain import commands as cmd
from services.routing.handlers import Actor, Arrival, Routing
from services.runtime.db import create_pool, migrate
from tests.conftest import unique_prefix
from tests.support.infra import Infra
from tests.support.runtime import bare_runtime

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "routing" / "migrations"
COMMUNE = "000.01.01.H99"
BIRTH = "1.001193"


async def _counts(conn: Any, dossier_id: Any) -> dict[str, Any]:
    return {
        "version": await conn.fetchval(
            "SELECT version FROM instances WHERE dossier_id = $1", dossier_id
        ),
        "events": await conn.fetchval(
            "SELECT count(*) FROM instance_events WHERE dossier_id = $1", dossier_id
        ),
        "audit": await conn.fetchval(
            "SELECT count(*) FROM audit WHERE dossier_id = $1", dossier_id
        ),
        "outbox": await conn.fetchval("SELECT count(*) FROM outbox"),
        "claimed_by": await conn.fetchval(
            "SELECT claimed_by FROM inbox WHERE dossier_id = $1", dossier_id
        ),
    }


async def test_a_save_on_a_dossier_changed_since_it_was_read_writes_nothing(
    infra: Infra,
) -> None:
    prefix = unique_prefix()
    settings = RoutingSettings(
        database_url=infra.database_url, schema_prefix=prefix, topic_prefix=prefix
    )
    pool = await create_pool(infra.database_url, settings.db_schema, 1, 2)
    rt = bare_runtime(settings, pool)
    routing = Routing(rt, reference("three_level"))
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.db_schema, MIGRATIONS)
            dossier_id = uuid4()
            start = cmd.Start(
                dossier_id=str(dossier_id), procedure_code=BIRTH, receiving_unit=COMMUNE
            )
            now = datetime.now(UTC)
            async with conn.transaction():
                await routing.start_many(conn, [Arrival(dossier_id, "C-0001", start, now)])
            task_id = await conn.fetchval(
                "SELECT task_id FROM inbox WHERE dossier_id = $1", dossier_id
            )
            loaded = await store.load_task(conn, task_id)
            assert loaded is not None
            _, read, code = loaded

            def claim(user: str) -> cmd.Claim:
                official = cmd.Official(user_id=user, unit_code=COMMUNE)
                return cmd.Claim(task_id=task_id, official=official, expected_version=read.version)

            lan, binh = (
                Actor(f"lan@{COMMUNE}", "official", COMMUNE),
                Actor(f"binh@{COMMUNE}", "official", COMMUNE),
            )
            # Lan claims first, holding the lock, from the same read.
            async with conn.transaction():
                locked = await store.load_task(conn, task_id, for_update=True)
                assert locked is not None
                await routing.apply(conn, locked[1], code, claim(lan.user_id), lan, task_id)
            after_lan = await _counts(conn, dossier_id)
            assert after_lan["claimed_by"] == lan.user_id
            assert after_lan["version"] > read.version

            # Binh's claim was decided on the old read: nothing of it is written.
            stale = await routing.apply_if_current(
                conn, read, code, claim(binh.user_id), binh, task_id
            )
            assert stale is None
            assert await _counts(conn, dossier_id) == after_lan

            # Read again, Lan completes the task: saved whole, without a lock.
            fresh = await store.load_task(conn, task_id)
            assert fresh is not None
            official = cmd.Official(user_id=lan.user_id, unit_code=COMMUNE)
            done = await routing.apply_if_current(
                conn, fresh[1], code, cmd.Complete(task_id=task_id, official=official), lan, task_id
            )
            assert done is not None and done.version > fresh[1].version
            after_done = await _counts(conn, dossier_id)
            assert after_done["version"] == done.version
            assert after_done["events"] == after_lan["events"] + (done.version - fresh[1].version)
            assert after_done["audit"] == after_lan["audit"] + 1
            assert after_done["outbox"] > after_lan["outbox"]
            assert (
                await conn.fetchval("SELECT status FROM inbox WHERE task_id = $1", task_id)
                == "done"
            )
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{settings.db_schema}" CASCADE')
        await pool.close()
