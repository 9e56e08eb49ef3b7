"""What tests and benchmarks create on the shared broker and database goes again.

Every topic/schema prefix a test run or a bench takes is registered here; when the run
ends, the schemas whose names start with one of them are dropped and the topics (with
their dead-letter topics) deleted. Only registered prefixes are touched, so runs of
other checkouts sharing the same servers keep theirs."""

from __future__ import annotations

import asyncio
import logging
import re

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)
_PREFIX = re.compile(r"^[a-z][0-9a-f]{6,16}_$")
REGISTERED: set[str] = set()


def register_prefix(prefix: str) -> str:
    """Remember ``prefix`` for :func:`drop_registered`; returns it."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"not a generated prefix: {prefix!r}")
    REGISTERED.add(prefix)
    return prefix


async def drop_prefixes(database_url: str, bootstrap: str, prefixes: set[str]) -> tuple[int, int]:
    """(schemas dropped, topics deleted) for ``prefixes``."""
    if not prefixes:
        return 0, 0
    patterns = sorted(prefixes)
    conn = await asyncpg.connect(database_url)
    try:
        schemas = [
            r["nspname"]
            for r in await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE ANY($1::text[])",
                [p.replace("_", "\\_") + "%" for p in patterns],
            )
        ]
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(tuple(patterns))]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()
    return len(schemas), len(topics)


def drop_registered(database_url: str | None, bootstrap: str | None) -> None:
    """Drop what the registered prefixes created; a failure is logged, never raised (the
    run's own outcome is what matters)."""
    if not REGISTERED or not database_url or not bootstrap:
        return
    try:
        dropped = asyncio.run(drop_prefixes(database_url, bootstrap, set(REGISTERED)))
    except Exception:
        log.warning("could not drop the run's schemas and topics", exc_info=True)
        return
    REGISTERED.clear()
    log.info("dropped %d schemas and %d topics", *dropped)
