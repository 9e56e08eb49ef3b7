"""Create the topics (with explicit partition counts) before the services start."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import all_topic_names
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, prefix: str = "") -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [(prefix + name, parts) for name, parts in all_topic_names()]
        missing = [
            NewTopic(name=name, num_partitions=parts, replication_factor=1)
            for name, parts in wanted
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def main() -> None:
    settings = ServiceSettings()
    created = await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    print(f"topics ready ({len(created)} created)")


if __name__ == "__main__":
    asyncio.run(main())
