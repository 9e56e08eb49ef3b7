"""Intake split in two processes: a "web" one answers portals, a "worker" one publishes
what the web one stored and does the background work. The web process never publishes;
nothing it accepted waits longer than the worker's absence."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest

from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e


async def publication(infra: Infra, schema: str, dossier_id: str) -> tuple[int, bool]:
    """(dossier.received rows, all of them published) of the dossier."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, bool_and(published_at IS NOT NULL) AS published"
            f" FROM {schema}.outbox WHERE key = $1 AND event_type = 'dossier.received'",
            dossier_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), bool(row["published"])


def test_the_web_process_stores_and_the_worker_publishes(infra: Infra) -> None:
    prefix = register_prefix(f"r{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    env = isolated_env(infra, prefix, SCHEMA_PREFIX=prefix)
    schema = f"{prefix}intake"
    web = ServiceProcess(
        "intake-web", "services.intake", {**env, "SERVICE_ROLE": "web"}, free_port()
    )
    worker = ServiceProcess(
        "intake-worker", "services.intake", {**env, "SERVICE_ROLE": "worker"}, free_port()
    )
    web.start()
    try:
        web.wait_ready()
        portal = httpx.post(
            f"{web.url}/v1/admin/portals",
            json={"name": "Cổng DVC thử nghiệm", "units": [COMMUNE]},
            headers={"X-Service-Token": OPS_TOKEN},
            timeout=10,
        ).json()
        answer = httpx.post(
            f"{web.url}/v1/dossiers",
            json=birth_registration(),
            headers={"X-API-Key": portal["api_key"], "Idempotency-Key": "roles-1"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        dossier_id = answer.json()["id"]
        time.sleep(3)  # a relay wakes at the commit: it would have published by now
        assert asyncio.run(publication(infra, schema, dossier_id)) == (1, False)

        worker.start()
        worker.wait_ready()
        eventually(
            lambda: asyncio.run(publication(infra, schema, dossier_id)) == (1, True) or None,
            timeout=30,
        )
        # The receipt is still the web process's to answer, the same one.
        again = httpx.post(
            f"{web.url}/v1/dossiers",
            json=birth_registration(),
            headers={"X-API-Key": portal["api_key"], "Idempotency-Key": "roles-1"},
            timeout=30,
        )
        assert again.status_code == 201 and again.json() == answer.json()
    finally:
        worker.stop()
        web.stop()
