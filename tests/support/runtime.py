"""A service's runtime for tests and benches that drive its handlers directly."""

from __future__ import annotations

from typing import Any, cast

import asyncpg

from services.runtime.service import Runtime
from services.runtime.settings import ServiceSettings


def bare_runtime(settings: ServiceSettings, pool: asyncpg.Pool) -> Runtime:
    """Settings and a pool only: no producer, relay, authentication or credentials (a
    handler that reached for one would fail at once)."""
    return Runtime(
        settings=settings,
        pool=pool,
        producer=cast("Any", None),
        relay=cast("Any", None),
        auth=cast("Any", None),
        credentials=cast("Any", None),
    )
