"""Two routing instances in one consumer group share the dossiers; one is killed
mid-run (SIGKILL) and still no dossier is lost, stuck or started twice."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.credentials import PORTAL
from tests.support.infra import Infra
from tests.support.officials import DONG_LAM, DONG_PHU, application, submit
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import eventually

pytestmark = pytest.mark.e2e
DOSSIERS = 100


def consumed_from_intake(instance: ServiceProcess) -> float:
    """How many dossier.intake records this process's routing consumer has handled."""
    metrics = httpx.get(f"{instance.url}/metrics", timeout=5).text
    prefix = instance.env["TOPIC_PREFIX"]
    total = 0.0
    pattern = re.compile(
        r'^consumer_records_total\{consumer="' + re.escape(prefix) + r'routing",'
        r'topic="' + re.escape(prefix) + r'dossier\.intake"\} (\S+)$',
        re.M,
    )
    for match in pattern.finditer(metrics):
        total += float(match.group(1))
    return total


async def fetch(infra: Infra, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def test_two_routing_instances_share_the_load_and_survive_one_being_killed(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake, first = system["intake"], system["routing"]
    schema = f"{first.env['SCHEMA_PREFIX']}routing"
    second = ServiceProcess("routing-2", "services.routing", first.env, free_port())
    second.start()
    receipts: list[dict[str, Any]] = []
    try:
        second.wait_ready()
        # Until the group has rebalanced, the first instance may take every partition:
        # keep the portal submitting until both have had a share.
        before = consumed_from_intake(first)

        def both_working() -> bool:
            receipts.append(submit(intake.url, application("1.001193", DONG_LAM)))
            return consumed_from_intake(second) > 0 and consumed_from_intake(first) > before

        eventually(both_working, timeout=60, every=0.3)

        # A steady stream of submissions; the fixture's instance dies in the middle of it.
        submitted = threading.Event()
        errors: list[BaseException] = []

        def portal() -> None:
            try:
                for i in range(DOSSIERS - len(receipts)):
                    unit = DONG_LAM if i % 2 else DONG_PHU
                    receipts.append(submit(intake.url, application("1.001193", unit)))
                    if len(receipts) == DOSSIERS // 2:
                        submitted.set()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                submitted.set()

        feeder = threading.Thread(target=portal)
        feeder.start()
        submitted.wait(60)
        first.kill()
        feeder.join(120)
        assert not errors, errors
        assert len(receipts) == DOSSIERS
        ids = [r["id"] for r in receipts]

        # The survivor takes the dead instance's partitions (after the session timeout)
        # and its outbox relay; every dossier reaches its first inbox.
        def all_in_inbox() -> list[asyncpg.Record] | None:
            rows = asyncio.run(
                fetch(
                    infra,
                    f"SELECT dossier_id, count(*) AS n FROM {schema}.inbox"
                    " WHERE dossier_id = ANY($1::uuid[]) GROUP BY dossier_id",
                    ids,
                )
            )
            return rows if len(rows) == DOSSIERS else None

        inbox_rows = eventually(all_in_inbox, timeout=120, every=0.5)
        assert all(r["n"] == 1 for r in inbox_rows), "one task per dossier"

        starts = asyncio.run(
            fetch(
                infra,
                f"SELECT dossier_id, count(*) AS n FROM {schema}.instance_events"
                " WHERE dossier_id = ANY($1::uuid[]) AND type = 'DossierReceived'"
                " GROUP BY dossier_id",
                ids,
            )
        )
        assert len(starts) == DOSSIERS
        assert all(r["n"] == 1 for r in starts), "a dossier was started twice"
        audits = asyncio.run(
            fetch(
                infra,
                f"SELECT dossier_id, count(*) AS n FROM {schema}.audit"
                " WHERE dossier_id = ANY($1::uuid[]) AND action = 'Start' GROUP BY dossier_id",
                ids,
            )
        )
        assert sorted(r["n"] for r in audits) == [1] * DOSSIERS

        # Nothing stuck in the outbox: each assignment left once for intake and once for
        # the commune queue, and intake saw every dossier assigned.
        def all_published() -> list[asyncpg.Record] | None:
            rows = asyncio.run(
                fetch(
                    infra,
                    f"SELECT key, topic, count(*) AS n, bool_and(published_at IS NOT NULL) AS ok"
                    f" FROM {schema}.outbox WHERE event_type = 'step.assigned'"
                    " AND topic LIKE '%dossier.routing' AND key = ANY($1::text[])"
                    " GROUP BY key, topic",
                    ids,
                )
            )
            done = len(rows) == DOSSIERS and all(r["ok"] for r in rows)
            return rows if done else None

        published = eventually(all_published, timeout=60, every=0.5)
        assert all(r["n"] == 1 for r in published)

        def intake_saw_all() -> bool:
            return all(
                any(
                    (e["source"], e["event_type"]) == ("routing", "step.assigned")
                    for e in httpx.get(
                        f"{intake.url}/v1/dossiers/{i}", headers=PORTAL, timeout=5
                    ).json()["timeline"]
                )
                for i in ids
            )

        eventually(intake_saw_all, timeout=60, every=1.0)
    finally:
        # Put the fixture's instance back before the helper leaves, so a routing consumer
        # is always there for the other tests.
        if first.proc is None or first.proc.poll() is not None:
            first.start()
            first.wait_ready()
        second.stop()
