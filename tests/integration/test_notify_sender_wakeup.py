"""An idle sender does not poll its way to new messages: the commit that creates them
announces them (LISTEN/NOTIFY) and the sender claims them at once, however long its
polling interval (which is left for retries and the end of quiet hours)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import pytest

from tests.integration.test_notify_delivery import (
    COMMUNE,
    Processes,
    Stack,
    citizen,
    eventually,
    notify_processes_with,
    open_stack,
    received,
)
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
# Far longer than the test waits: only the announcement can have woken the sender.
POLL_SECONDS = 600


@pytest.fixture(scope="module")
def slow_polling(infra: Infra) -> Iterator[Processes]:
    with notify_processes_with(
        infra, ZALO_ENABLED="false", SENDER_INTERVAL_SECONDS=str(POLL_SECONDS)
    ) as processes:
        yield processes


@pytest.fixture
async def stack(infra: Infra, slow_polling: Processes) -> AsyncIterator[Stack]:
    async with open_stack(infra, slow_polling) as found:
        yield found


async def test_messages_created_while_the_sender_idles_are_sent_without_waiting_for_its_poll(
    stack: Stack,
) -> None:
    for round_ in range(2):  # the sender has gone idle again after the first
        person = stack.add(citizen(f"wake{round_}"))
        code = f"{COMMUNE}-261204-{7100 + round_}"
        dossier = uuid4()
        await stack.publish("dossier.received", dossier, received(code, person, dossier), None)

        async def both_handed(code: str = code) -> list[dict[str, Any]] | None:
            messages = await stack.view(code)
            handed = [m for m in messages if m["status"] in ("sent", "delivered")]
            return handed if len(handed) == 2 else None

        handed = await eventually(both_handed, within=POLL_SECONDS / 10)
        assert sorted(m["channel"] for m in handed) == ["email", "sms"]
