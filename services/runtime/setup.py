"""Create the topics (with explicit partition counts) before the services start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import all_topic_names
from services.runtime.settings import ServiceSettings
from services.runtime.transport import start_kafka_client

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str, prefix: str = "", *, client_options: Mapping[str, Any] | None = None
) -> list[str]:
    options = dict(client_options or {})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await start_kafka_client(admin, bootstrap, options)
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
    created = await ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.topic_prefix,
        client_options=settings.kafka_client_options(),
    )
    print(f"topics ready ({len(created)} created)")


if __name__ == "__main__":
    asyncio.run(main())
