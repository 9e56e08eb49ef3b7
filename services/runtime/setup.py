"""Create the topics (with explicit partition counts) before the services start.

Replication comes from the settings (``KAFKA_REPLICATION_FACTOR``,
``KAFKA_MIN_INSYNC_REPLICAS``) or, where they are 0, from the cluster: one copy per broker
up to three, and writes acknowledged by two in-sync copies once there are three (a
single development broker: factor 1, one in sync). Producers send with ``acks=all``, so
with three copies and ``min.insync.replicas=2`` a broker can be lost without losing an
acknowledged event or refusing writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import all_topic_names
from services.runtime.settings import ServiceSettings
from services.runtime.transport import start_kafka_client

log = logging.getLogger(__name__)

MAX_REPLICATION_FACTOR = 3


@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def replication_for(brokers: int, factor: int = 0, min_insync: int = 0) -> Replication:
    """What the topics get: the settings where given (non-zero), else the broker count's.

    A factor above the broker count, or an in-sync minimum above the factor, could never
    be met: refused here rather than by every write later."""
    chosen = factor or max(1, min(brokers, MAX_REPLICATION_FACTOR))
    if chosen > brokers:
        raise ValueError(f"replication factor {chosen} needs {chosen} brokers, not {brokers}")
    insync = min_insync or (2 if chosen >= 3 else 1)
    if insync > chosen:
        raise ValueError(f"min.insync.replicas {insync} is above the replication factor {chosen}")
    return Replication(chosen, insync)


async def ensure_topics(
    bootstrap: str,
    prefix: str = "",
    *,
    client_options: Mapping[str, Any] | None = None,
    replication_factor: int = 0,
    min_insync_replicas: int = 0,
) -> list[str]:
    options = dict(client_options or {})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await start_kafka_client(admin, bootstrap, options)
        cluster = await admin.describe_cluster()
        replication = replication_for(
            len(cluster["brokers"]), replication_factor, min_insync_replicas
        )
        existing = set(await admin.list_topics())
        wanted = [(prefix + name, parts) for name, parts in all_topic_names()]
        missing = [
            NewTopic(
                name=name,
                num_partitions=parts,
                replication_factor=replication.factor,
                topic_configs={"min.insync.replicas": str(replication.min_insync)},
            )
            for name, parts in wanted
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            log.info(
                "created %d topics, replication factor %d, min.insync.replicas %d",
                len(missing),
                replication.factor,
                replication.min_insync,
            )
        return [t.name for t in missing]
    finally:
        await admin.close()


async def main() -> None:
    settings = ServiceSettings()
    created = await ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.topic_prefix,
        client_options=settings.kafka_client_options(),
        replication_factor=settings.kafka_replication_factor,
        min_insync_replicas=settings.kafka_min_insync_replicas,
    )
    print(f"topics ready ({len(created)} created)")


if __name__ == "__main__":
    asyncio.run(main())
