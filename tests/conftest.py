"""Fixtures shared by the integration and end-to-end tiers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support.cleanup import drop_registered
from tests.support.infra import Infra, provision
from tests.support.processes import ServiceProcess
from tests.support.system import running_system, unique_prefix

__all__ = ["unique_prefix"]  # the integration tests import it from here


@pytest.fixture(scope="session")
def infra() -> Infra:
    found = provision()
    os.environ.setdefault("DATABASE_URL", found.database_url)
    os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", found.kafka_bootstrap)
    return found


@pytest.fixture
async def pg(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def system(infra: Infra) -> Iterator[dict[str, ServiceProcess]]:
    """The four services shared by the session's end-to-end tests."""
    with running_system(infra) as processes:
        yield processes


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run's topics and schemas go with it (only the prefixes it registered)."""
    drop_registered(os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
