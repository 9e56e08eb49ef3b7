"""Apply the schema migrations of the named services and exit.

``python -m services.runtime.migrate intake routing sla notify`` is what the Kubernetes
migration Job runs before an upgrade rolls the pods (deploy/helm/onestop). Each service
also migrates at start; the advisory lock in :func:`services.runtime.db.migrate`
serialises them. Migrations are found by the services' folder layout
(``services/<name>/migrations``); no service is imported.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import asyncpg

from services.runtime.db import migrate
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
SERVICES_DIR = Path(__file__).resolve().parents[1]
KNOWN = ("intake", "routing", "sla", "notify")


async def connect(dsn: str, attempts: int = 60, delay: float = 2.0) -> asyncpg.Connection:
    """PostgreSQL may still be starting when the Job starts: wait for it a while."""
    for attempt in range(attempts):
        try:
            return await asyncpg.connect(dsn)
        except (OSError, asyncpg.CannotConnectNowError):
            if attempt == attempts - 1:
                raise
            log.warning("PostgreSQL not reachable yet; retrying")
            await asyncio.sleep(delay)
    raise RuntimeError("unreachable")


async def migrate_services(names: list[str]) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for name in names:
        settings = ServiceSettings(service_name=name)
        conn = await connect(settings.database_dsn)
        try:
            folder = SERVICES_DIR / name / "migrations"
            applied[name] = await migrate(conn, settings.db_schema, folder)
        finally:
            await conn.close()
    return applied


def main(argv: list[str]) -> int:
    names = argv or list(KNOWN)
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        sys.stderr.write(f"unknown service(s): {', '.join(unknown)}\n")
        return 2
    logging.basicConfig(level=logging.INFO)
    for name, files in asyncio.run(migrate_services(names)).items():
        listed = f": {', '.join(files)}" if files else ""
        print(f"{name}: {len(files)} migration(s) applied{listed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
