"""The migration Job's command: every named service's schema migrated, once."""

from __future__ import annotations

import asyncpg
import pytest

from services.runtime import migrate
from tests.conftest import unique_prefix
from tests.support.infra import Infra


async def test_the_job_migrates_each_service_once_and_again_does_nothing(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_prefix()
    monkeypatch.setenv("SCHEMA_PREFIX", prefix)
    monkeypatch.setenv("DATABASE_URL", infra.database_url)
    monkeypatch.setenv("ENVIRONMENT", "development")
    conn = await asyncpg.connect(infra.database_url)
    try:
        first = await migrate.migrate_services(["intake", "notify"])
        assert "intake/001_intake.sql" in first["intake"]
        assert "notify/001_notify.sql" in first["notify"]
        tables = {
            (r["table_schema"], r["table_name"])
            for r in await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema = ANY($1::text[])",
                [f"{prefix}intake", f"{prefix}notify"],
            )
        }
        assert (f"{prefix}intake", "dossiers") in tables
        assert (f"{prefix}notify", "messages") in tables
        assert (f"{prefix}intake", "outbox") in tables  # the runtime's tables come first
        again = await migrate.migrate_services(["intake", "notify"])
        assert again == {"intake": [], "notify": []}
        recorded = await conn.fetchval(f"SELECT count(*) FROM {prefix}intake.schema_migrations")
        assert recorded == len(first["intake"])
    finally:
        for name in ("intake", "notify"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}{name} CASCADE")
        await conn.close()


def test_an_unknown_service_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main(["billing"]) == 2
    assert "unknown service(s): billing" in capsys.readouterr().err
