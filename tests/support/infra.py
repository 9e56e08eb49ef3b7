"""Where the tests' Kafka and PostgreSQL come from.

1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set;
2. testcontainers when a Docker engine answers;
3. otherwise the project's own provisioning (``deploy/stack.sh infra``), idempotent.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The same defaults as deploy/postgres.sh and deploy/kafka/kafka.sh (ports overridable).
DEFAULT_DB = f"postgresql://onestop:onestop@127.0.0.1:{os.environ.get('PG_PORT', '55432')}/onestop"
DEFAULT_KAFKA = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"


@dataclass(frozen=True)
class Infra:
    database_url: str
    kafka_bootstrap: str


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


def _from_testcontainers() -> Infra:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:16", username="onestop", password="onestop", dbname="onestop")
    pg.start()
    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
    return Infra(database_url=url, kafka_bootstrap=kafka.get_bootstrap_server())


def provision() -> Infra:
    db = os.environ.get("DATABASE_URL")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if db and kafka:
        return Infra(database_url=db, kafka_bootstrap=kafka)
    if (
        not db
        and not kafka
        and os.environ.get("ONESTOP_USE_TESTCONTAINERS") != "0"
        and (_docker_available())
    ):
        return _from_testcontainers()
    subprocess.run([str(REPO / "deploy" / "stack.sh"), "infra"], check=True, cwd=REPO)
    return Infra(database_url=db or DEFAULT_DB, kafka_bootstrap=kafka or DEFAULT_KAFKA)


def isolated_env(infra: Infra, prefix: str, **extra: str) -> dict[str, str]:
    """Environment for service processes that share the broker and database with others
    but keep to their own topics and schemas (``prefix``)."""
    return {
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "TOPIC_PREFIX": prefix,
        "SCHEMA_PREFIX": prefix,
        "ENVIRONMENT": "development",
        **extra,
    }
