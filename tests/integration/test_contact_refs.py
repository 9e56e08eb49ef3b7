"""Contact references of dossiers received before they were random (intake's migration
003 and the announcement at start), against a real PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.intake.handlers import announce_contact_refs, new_contact_ref
from services.runtime.db import migrate
from tests.conftest import unique_prefix
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parents[2] / "services" / "intake" / "migrations"
REF = re.compile(r"[A-Za-z0-9_-]{22}")


class Publisher:
    """Stands in for the runtime: the pool, and what would go to the outbox."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.published: list[tuple[str, str, UUID, dict[str, Any]]] = []

    async def publish(
        self, conn: Any, topic: str, event_type: str, dossier_id: UUID, payload: dict[str, Any]
    ) -> None:
        self.published.append((topic, event_type, dossier_id, payload))


async def _insert_legacy(conn: asyncpg.Connection, schema: str, code: str) -> UUID:
    dossier = uuid4()
    await conn.execute(
        f"INSERT INTO {schema}.dossiers (id, code, agency_code, procedure_code, field_code,"
        " receiving_unit, channel, applicant, documents, fees, request, received_at,"
        " clock_started_at, appointment_at, status) VALUES ($1, $2, 'A', '1.001193', 'HOTICH',"
        " '000.01.01.H99', 2, '{}', '[]', '[]', '{}', now(), now(), now(), 2)",
        dossier,
        code,
    )
    return dossier


def test_a_new_reference_is_128_random_bits_url_safe() -> None:
    refs = {new_contact_ref() for _ in range(1000)}
    assert len(refs) == 1000 and all(REF.fullmatch(r) for r in refs)


async def test_old_dossiers_get_a_random_reference_announced_once(
    infra: Infra, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    schema = f"{unique_prefix()}intake"
    before = tmp_path / "intake" / "migrations"
    before.mkdir(parents=True)
    for name in ("001_intake.sql", "002_portals_webhooks.sql"):
        shutil.copy(MIGRATIONS / name, before / name)
    await migrate(pg, schema, before)
    old = [await _insert_legacy(pg, schema, f"A-261122-000{i}") for i in range(3)]
    shutil.copy(MIGRATIONS / "003_contact_refs.sql", before / "003_contact_refs.sql")
    assert await migrate(pg, schema, before) == ["intake/003_contact_refs.sql"]
    rows = await pg.fetch(f"SELECT id, contact_ref, contact_ref_announced FROM {schema}.dossiers")
    refs = {r["id"]: r["contact_ref"] for r in rows}
    assert all(REF.fullmatch(ref) for ref in refs.values())
    assert len(set(refs.values())) == 3 and not set(refs.values()) & {str(d) for d in old}
    assert not any(r["contact_ref_announced"] for r in rows)

    pool = await asyncpg.create_pool(
        infra.database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    try:
        runtime = Publisher(pool)
        assert await announce_contact_refs(cast("Any", runtime), batch=2) == 3
        assert await announce_contact_refs(cast("Any", runtime)) == 0  # a second start: nothing
    finally:
        await pool.close()
    assert {(t, e) for t, e, _, _ in runtime.published} == {
        ("dossier.intake", "dossier.contact_ref_assigned")
    }
    assert {d: p["contact_ref"] for _, _, d, p in runtime.published} == refs
    assert await pg.fetchval(f"SELECT bool_and(contact_ref_announced) FROM {schema}.dossiers")
    await pg.execute(f"DROP SCHEMA {schema} CASCADE")
