"""A run's topics and schemas are dropped when it ends; other runs' are not touched."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.cleanup import drop_prefixes
from tests.support.infra import Infra


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_only_the_runs_own_prefixes_are_dropped(infra: Infra, pg: asyncpg.Connection) -> None:
    ours, theirs = f"c{uuid.uuid4().hex[:8]}_", f"c{uuid.uuid4().hex[:8]}_"
    for prefix in (ours, theirs):
        await pg.execute(f'CREATE SCHEMA "{prefix}intake"')
        await pg.execute(f'CREATE TABLE "{prefix}intake".t (id int)')
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(f"{p}dossier.intake", 1, 1) for p in (ours, theirs)]
            + [NewTopic(f"{ours}dossier.intake.dlq", 1, 1)]
        )
    finally:
        await admin.close()

    dropped = await drop_prefixes(infra.database_url, infra.kafka_bootstrap, {ours})

    assert dropped == (1, 2)
    schemas = {
        r["nspname"]
        for r in await pg.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])",
            [f"{ours}intake", f"{theirs}intake"],
        )
    }
    assert schemas == {f"{theirs}intake"}
    topics = await _topics(infra.kafka_bootstrap)
    assert f"{theirs}dossier.intake" in topics
    assert not {t for t in topics if t.startswith(ours)}
    await drop_prefixes(infra.database_url, infra.kafka_bootstrap, {theirs})
