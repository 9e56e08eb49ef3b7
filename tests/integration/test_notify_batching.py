"""Notify sends in batches and keeps trying for hours, against the real infrastructure.

The notify process runs beside the gateway stand-ins and a stand-in of intake's contact
endpoint that records every request; Zalo is off, so phone notices go by SMS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.integration.test_notify_delivery import (
    COMMUNE,
    QUIET_UNIT,
    Processes,
    Stack,
    citizen,
    eventually,
    notify_processes_with,
    open_stack,
    received,
)
from tests.support.credentials import AGENCY_TOKEN, NOTIFY_TOKEN, OPS, PORTAL
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
RETRY_BASE = 0.3


@pytest.fixture(scope="module")
def batch_processes(infra: Infra) -> Iterator[Processes]:
    with notify_processes_with(
        infra,
        ZALO_ENABLED="false",
        MAX_ATTEMPTS="3",
        RETRY_BASE_SECONDS=str(RETRY_BASE),
        RATE_LIMITS="",
    ) as processes:
        yield processes


@pytest.fixture
async def stack(infra: Infra, batch_processes: Processes) -> AsyncIterator[Stack]:
    async with open_stack(infra, batch_processes) as found:
        yield found


def _code(tag: str) -> str:
    return f"{COMMUNE}-261123-{tag}"


async def sms_if_any(stack: Stack, code: str) -> dict[str, Any] | None:
    """The dossier's one SMS, or None before the consumer made it."""
    messages = [m for m in await stack.view(code) if m["channel"] == "sms"]
    assert len(messages) <= 1, messages
    return messages[0] if messages else None


async def sms_of(stack: Stack, code: str) -> dict[str, Any]:
    found = await sms_if_any(stack, code)
    assert found is not None, f"no SMS for {code}"
    return found


async def test_a_batch_released_at_once_asks_intake_once_and_records_its_statuses_in_batches(
    stack: Stack,
) -> None:
    # Sixty citizens of a unit in its quiet hours: their SMS wait for the morning.
    people = [stack.add(citizen(f"batch{i}")) for i in range(60)]
    codes = [_code(f"1{i:03d}") for i in range(len(people))]
    for person, code in zip(people, codes, strict=True):
        dossier = uuid4()
        payload = {**received(code, person, dossier), "receiving_unit": QUIET_UNIT}
        await stack.publish("dossier.received", dossier, payload, None)

    async def all_waiting() -> list[Any] | None:
        rows = await stack.sql(
            "SELECT id, channel, status FROM messages WHERE dossier_code = ANY($1::text[])",
            codes,
        )
        held = [r for r in rows if r["channel"] == "sms" and r["status"] == "created"]
        mailed = [r for r in rows if r["channel"] == "email" and r["status"] == "sent"]
        return held if len(held) == len(mailed) == len(people) else None

    sms_ids = [r["id"] for r in await eventually(all_waiting)]
    asked_before = len(stack.contacts.requests)
    # The morning comes for all of them at once (their unit keeps no quiet hours now).
    await stack.sql(
        "UPDATE messages SET unit_code = $2, next_attempt_at = now() WHERE id = ANY($1::uuid[])",
        sms_ids,
        COMMUNE,
    )

    async def all_delivered() -> dict[str, int] | None:
        rows = await stack.sql(
            "SELECT status, count(*) AS n FROM messages WHERE id = ANY($1::uuid[]) GROUP BY 1",
            sms_ids,
        )
        statuses = {r["status"]: r["n"] for r in rows}
        return statuses if statuses == {"delivered": len(people)} else None

    # Delivered, not only sent: no receipt was lost to the batched recording.
    await eventually(all_delivered)
    # One round trip to intake for the whole batch, naming each citizen once.
    asked = stack.contacts.requests[asked_before:]
    assert asked == [("batch", tuple(sorted(p.ref for p in people)))]
    # Status rows written by batch: every row of one transaction shares its xmin.
    writes = await stack.sql(
        "SELECT status, count(DISTINCT xmin::text) AS transactions, count(*) AS n"
        " FROM message_status_history WHERE message_id = ANY($1::uuid[]) GROUP BY status",
        sms_ids,
    )
    by_status = {r["status"]: (r["transactions"], r["n"]) for r in writes}
    assert by_status["sending"] == (1, len(people))  # the claim
    sent_transactions, sent_rows = by_status["sent"]
    assert sent_rows == len(people)
    assert sent_transactions <= len(people) // 5, by_status  # one per message before
    # Every citizen got exactly one text.
    texts = [m["Phone"] for m in await stack.gateway_messages("esms")] + [
        "0" + m["ReceiverID"][2:] for m in await stack.gateway_messages("viettel")
    ]
    assert sorted(t for t in texts if t in {p.phone for p in people}) == sorted(
        p.phone for p in people
    )


async def test_a_message_the_gateways_refuse_for_a_while_is_tried_again_and_sent(
    stack: Stack,
) -> None:
    person = stack.add(citizen("retry", email=False))
    # Both gateways answer 503 to the next two sends: two attempts fail, the third goes.
    for gateway in ("esms", "viettel"):
        await stack.control(gateway, fail_next=2)
    dossier, code = uuid4(), _code("2001")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)

    async def delivered() -> dict[str, Any] | None:
        sms = await sms_if_any(stack, code)
        return sms if sms is not None and sms["status"] == "delivered" else None

    sms = await eventually(delivered)
    assert sms["attempts"] == 3
    history = sms["history"]
    statuses = [h["status"] for h in history]
    assert statuses == [
        "created",
        "sending",
        "temporary_failure",
        "sending",
        "temporary_failure",
        "sending",
        "sent",
        "delivered",
    ]
    assert history[2]["detail"].startswith("attempt 1: ")
    # Each retry waited its backoff: at least half of base * 2**(attempt-1).
    at = [datetime.fromisoformat(h["at"]) for h in history]
    assert (at[3] - at[2]).total_seconds() >= RETRY_BASE / 2 - 0.05
    assert (at[5] - at[4]).total_seconds() >= RETRY_BASE - 0.05
    texts = [m for m in await stack.gateway_messages("esms") if m["RequestId"] == sms["id"]] + [
        m for m in await stack.gateway_messages("viettel") if m["RequestID"] == sms["id"]
    ]
    assert len(texts) == 1


async def test_operators_list_a_technical_failure_and_replay_it_and_nobody_else_can(
    stack: Stack,
) -> None:
    person = stack.add(citizen("replay", email=False))
    for gateway in ("esms", "viettel"):
        await stack.control(gateway, mode="fail", failure="http")
    dossier, code = uuid4(), _code("3001")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)

    async def failed() -> dict[str, Any] | None:
        sms = await sms_if_any(stack, code)
        return sms if sms is not None and sms["status"] == "technical_failure" else None

    sms = await eventually(failed)
    assert sms["attempts"] == 3
    for gateway in ("esms", "viettel"):
        await stack.control(gateway, mode="ok")
    base = f"{stack.notify.url}/v1/admin/failed-messages"
    replay = f"{base}/{sms['id']}/replay"

    async with httpx.AsyncClient(timeout=10) as client:
        # Attempts without the operators' credential: refused, and nothing moves.
        for headers in ({}, PORTAL, {"X-Service-Token": NOTIFY_TOKEN}):
            listed = await client.get(base, headers=headers)
            assert listed.status_code == 403, listed.text
            assert listed.headers["content-type"].startswith("application/problem+json")
        for headers in ({}, PORTAL, {"X-Service-Token": AGENCY_TOKEN}):
            refused = await client.post(replay, headers=headers)
            assert refused.status_code == 403, refused.text
        await asyncio.sleep(1.0)  # a replay that slipped through would have been sent by now
        unchanged = await sms_of(stack, code)
        assert unchanged["status"] == "technical_failure"
        assert unchanged["history"] == sms["history"]
        assert await stack.sql(
            "SELECT 1 FROM message_dead_letters WHERE message_id = $1", UUID(sms["id"])
        )

        listed = await client.get(base, headers=OPS)
        assert listed.status_code == 200
        failures = {m["id"]: m for m in listed.json()["messages"]}
        assert failures[sms["id"]]["dossier_code"] == code
        assert failures[sms["id"]]["attempts"] == 3
        assert person.phone not in listed.text

        replayed = await client.post(replay, headers=OPS)
        assert replayed.status_code == 200, replayed.text

    async def delivered() -> dict[str, Any] | None:
        found = await sms_if_any(stack, code)
        return found if found is not None and found["status"] == "delivered" else None

    done = await eventually(delivered)
    assert done["attempts"] == 1  # a new set of tries
    replay_rows = [h for h in done["history"] if h["detail"] == "replayed by ops"]
    assert [h["status"] for h in replay_rows] == ["temporary_failure"]
    assert not await stack.sql(
        "SELECT 1 FROM message_dead_letters WHERE message_id = $1", UUID(sms["id"])
    )
    async with httpx.AsyncClient(timeout=10) as client:
        again = await client.post(replay, headers=OPS)
    assert again.status_code == 409
    assert again.json()["title"] == "Tin nhắn không ở trạng thái lỗi kỹ thuật"


async def test_a_batch_where_one_gateway_send_fails_resends_none_of_the_others(
    stack: Stack,
) -> None:
    # Twenty citizens released together; each gateway refuses its next send once, so
    # a message of the batch may fail at both and wait for its retry.
    people = [stack.add(citizen(f"onefails{i}", email=False)) for i in range(20)]
    codes = [_code(f"4{i:03d}") for i in range(len(people))]
    for person, code in zip(people, codes, strict=True):
        dossier = uuid4()
        payload = {**received(code, person, dossier), "receiving_unit": QUIET_UNIT}
        await stack.publish("dossier.received", dossier, payload, None)

    async def all_waiting() -> list[Any] | None:
        rows = await stack.sql(
            "SELECT id FROM messages WHERE dossier_code = ANY($1::text[])"
            " AND channel = 'sms' AND status = 'created'",
            codes,
        )
        return rows if len(rows) == len(people) else None

    sms_ids = [r["id"] for r in await eventually(all_waiting)]
    for gateway in ("esms", "viettel"):
        await stack.control(gateway, fail_next=1)
    await stack.sql(
        "UPDATE messages SET unit_code = $2, next_attempt_at = now() WHERE id = ANY($1::uuid[])",
        sms_ids,
        COMMUNE,
    )

    async def all_delivered() -> list[Any] | None:
        rows = await stack.sql(
            "SELECT id, status, attempts FROM messages WHERE id = ANY($1::uuid[])", sms_ids
        )
        return rows if all(r["status"] == "delivered" for r in rows) else None

    rows = await eventually(all_delivered)
    # Only a message that failed was tried again; every other one went once.
    assert sum(1 for r in rows if r["attempts"] > 1) <= 1, rows
    accepted = [m["RequestId"] for m in await stack.gateway_messages("esms")] + [
        m["RequestID"] for m in await stack.gateway_messages("viettel")
    ]
    ours = [a for a in accepted if a in {str(i) for i in sms_ids}]
    # Each message reached a gateway exactly once: none of the batch was sent again.
    assert sorted(ours) == sorted(str(i) for i in sms_ids)
