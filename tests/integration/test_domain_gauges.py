"""The domain gauges: the failure counts on every pass, the table-wide counts (inbox,
deadlines, messages: whole-table reads) only on the passes that ask for them."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.runtime.db import create_pool, migrate_before_pool
from services.runtime.metrics import INBOX_SIZE, refresh_domain_gauges
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra

pytestmark = pytest.mark.integration


def _open_tasks(unit: str) -> float:
    return INBOX_SIZE.labels(unit, "open")._value.get()  # type: ignore[no-any-return]


async def test_the_inbox_gauge_counts_only_on_a_table_wide_pass(infra: Infra) -> None:
    schema = f"{unique_prefix()}routing"
    await migrate_before_pool(infra.database_url, schema, REPO / "services/routing/migrations")
    pool = await create_pool(infra.database_url, schema, 1, 1)
    unit = f"GAUGE-{uuid4().hex[:8]}"
    try:
        await refresh_domain_gauges(pool)
        assert _open_tasks(unit) == 0
        await pool.execute(
            "INSERT INTO inbox (task_id, dossier_id, dossier_code, procedure_code, step_id,"
            " unit_code, queue_level, status, allotment_hours, assigned_at)"
            " VALUES ($1, $2, 'C-1', 'P', 's1', $3, 'commune', 'open', 8, $4)",
            str(uuid4()),
            uuid4(),
            unit,
            datetime.now(UTC),
        )
        await refresh_domain_gauges(pool, table_wide=False)
        assert _open_tasks(unit) == 0  # not read on this pass
        await refresh_domain_gauges(pool)
        assert _open_tasks(unit) == 1
    finally:
        await pool.close()
