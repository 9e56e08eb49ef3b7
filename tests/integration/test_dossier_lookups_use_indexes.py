"""An official looking a dossier up by code or id (console, SLA's reports, notify's message
list) is served by indexes in every service, never by reading the whole table: a province
keeps millions of instances and messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.notify.entrypoints.http import DOSSIER_BY_REF
from services.routing.console.common import INSTANCE_BY_REF
from services.runtime.db import migrate, uuid_or_none
from services.sla.adapters.dossier_units import DOSSIERS_BY_REF
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra

pytestmark = pytest.mark.integration
LOOKUPS = {"routing": INSTANCE_BY_REF, "sla": DOSSIERS_BY_REF, "notify": DOSSIER_BY_REF}
CODE = "000.01.01.H99-261203-0001"


@pytest.fixture
async def schemas(infra: Infra) -> AsyncIterator[dict[str, str]]:
    conn = await asyncpg.connect(infra.database_url)
    made = {s: f"{unique_prefix()}{s}" for s in LOOKUPS}
    try:
        for service, schema in made.items():
            await migrate(conn, schema, REPO / "services" / service / "migrations")
        yield made
    finally:
        for schema in made.values():
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


def scans(plan: Any) -> Iterator[tuple[str, str]]:
    """(node type, relation) of every scan in an EXPLAIN (FORMAT JSON) plan."""
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield plan["Node Type"], plan["Relation Name"]
        for child in plan.get("Plans", []):
            yield from scans(child)
        if "Plan" in plan:
            yield from scans(plan["Plan"])
    elif isinstance(plan, list):
        for item in plan:
            yield from scans(item)


async def plan_of(conn: asyncpg.Connection, query: str, *args: Any) -> list[tuple[str, str]]:
    # With sequential scans priced out, the planner still picks one where no index serves.
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
    return list(scans(json.loads(explained)))


@pytest.mark.parametrize("ref", [CODE, str(uuid4())])
async def test_a_lookup_by_code_or_id_reads_indexes_only(
    infra: Infra, schemas: dict[str, str], ref: str
) -> None:
    for service, query in LOOKUPS.items():
        conn = await asyncpg.connect(
            infra.database_url, server_settings={"search_path": schemas[service]}
        )
        try:
            found = await plan_of(conn, query, ref, uuid_or_none(ref))
        finally:
            await conn.close()
        assert found, service
        assert not [s for s in found if s[0] == "Seq Scan"], f"{service}: {found}"


async def test_the_former_text_comparison_of_the_id_read_the_whole_table(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": schemas["routing"]}
    )
    try:
        old = "SELECT dossier_id FROM instances WHERE dossier_code = $1 OR dossier_id::text = $1"
        assert ("Seq Scan", "instances") in await plan_of(conn, old, CODE)
    finally:
        await conn.close()


def test_a_reference_is_an_id_only_when_it_parses_as_one() -> None:
    some = uuid4()
    assert uuid_or_none(str(some)) == some
    assert uuid_or_none(CODE) is None
    assert uuid_or_none("") is None
