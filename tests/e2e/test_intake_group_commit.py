"""Portals flood intake: submissions share transactions (group commit), numbers stay
consecutive, retries racing in one batch get one dossier, overload and a lost database
answer 503 with Retry-After, and every 201 is stored exactly once with its event.

Each test runs its own intake (own schema) with the settings it needs, beside the shared
PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.runtime.setup import ensure_topics
from tests.support.cleanup import register_prefix
from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import COMMUNE, birth_registration, eventually
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e
VN = ZoneInfo("Asia/Ho_Chi_Minh")
OVERLOAD_TITLE = "Hệ thống đang quá tải, vui lòng gửi lại sau"
OUTAGE_TITLE = "Hệ thống tạm thời gián đoạn, vui lòng gửi lại sau"


@pytest.fixture(scope="module")
def topics(infra: Infra) -> str:
    prefix = register_prefix(f"g{uuid.uuid4().hex[:8]}_")
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    return prefix


def start_intake(infra: Infra, topics: str, **settings: str) -> ServiceProcess:
    env = isolated_env(
        infra, topics, SCHEMA_PREFIX=register_prefix(f"g{uuid.uuid4().hex[:8]}_"), **settings
    )
    intake = ServiceProcess("intake", "services.intake", env, free_port())
    intake.start()
    try:
        intake.wait_ready()
    except BaseException:
        intake.stop()
        raise
    return intake


@pytest.fixture
def intake_with(infra: Infra, topics: str) -> Iterator[Any]:
    started: list[ServiceProcess] = []

    def start(**settings: str) -> ServiceProcess:
        started.append(start_intake(infra, topics, **settings))
        return started[-1]

    yield start
    for intake in started:
        intake.stop()


def new_portal(intake: ServiceProcess) -> dict[str, Any]:
    response = httpx.post(
        f"{intake.url}/v1/admin/portals",
        json={"name": "Cổng DVC thử nghiệm", "units": [COMMUNE]},
        headers={"X-Service-Token": OPS_TOKEN},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post_all(
    intake: ServiceProcess, requests: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    """All at once, as portals do; a request with an Idempotency-Key is safe to send again
    after a dropped connection, so it is (once)."""

    async def one(
        client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        for attempt in range(2):
            try:
                return await client.post(f"{intake.url}/v1/dossiers", json=body, headers=headers)
            except httpx.TransportError:
                if attempt == 1 or "Idempotency-Key" not in headers:
                    raise
        raise AssertionError("unreachable")

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        return await asyncio.gather(*(one(client, body, headers) for body, headers in requests))


STALL = "stall_seconds"  # a test knob, not a setting of intake


async def post_all_while_stalled(
    intake: ServiceProcess,
    requests: list[tuple[dict[str, Any], dict[str, str]]],
    seconds: float,
) -> list[httpx.Response]:
    """The flood arrives while intake's process is stopped (SIGSTOP): the requests wait
    in its sockets, unread, as on a machine too busy to run it. Its loop-lag probe must
    be running first, so one guarded request (refused as invalid, storing nothing) goes
    before."""
    assert intake.proc is not None
    async with httpx.AsyncClient(timeout=30) as client:
        api_key = {"X-API-Key": requests[0][1]["X-API-Key"]}
        warm = await client.post(f"{intake.url}/v1/dossiers", json={}, headers=api_key)
        assert warm.status_code == 422, warm.text
    await asyncio.sleep(0.2)  # a probe or two have run on time
    os.kill(intake.proc.pid, signal.SIGSTOP)
    try:
        flood = asyncio.ensure_future(post_all(intake, requests))
        await asyncio.sleep(seconds)
    finally:
        os.kill(intake.proc.pid, signal.SIGCONT)
    return await flood


def batches(intake: ServiceProcess) -> tuple[int, int]:
    """(transactions, submissions stored in them) from the writer's metrics."""
    text = httpx.get(f"{intake.url}/metrics", timeout=5).text
    found = {
        name: float(value)
        for name, value in re.findall(r"^intake_submit_batch_size_(count|sum) (\S+)$", text, re.M)
    }
    return int(found.get("count", 0)), int(found.get("sum", 0))


async def stored(infra: Infra, intake: ServiceProcess, portal_id: str) -> list[asyncpg.Record]:
    """The portal's dossiers with how many dossier.received outbox rows each has."""
    schema = f"{intake.env['SCHEMA_PREFIX']}intake"
    conn = await asyncpg.connect(infra.database_url)
    try:
        return list(
            await conn.fetch(
                f"SELECT d.id, d.code, (SELECT count(*) FROM {schema}.outbox o"
                "  WHERE o.key = d.id::text AND o.event_type = 'dossier.received') AS events"
                f" FROM {schema}.dossiers d WHERE d.portal_id = $1",
                portal_id,
            )
        )
    finally:
        await conn.close()


async def numbers_today(infra: Infra, intake: ServiceProcess) -> list[int]:
    schema = f"{intake.env['SCHEMA_PREFIX']}intake"
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT code FROM {schema}.dossiers WHERE code LIKE $1",
            f"{COMMUNE}-{datetime.now(VN):%y%m%d}-%",
        )
    finally:
        await conn.close()
    return sorted(int(r["code"].rsplit("-", 1)[1]) for r in rows)


def number(response: httpx.Response) -> int:
    return int(response.json()["code"].rsplit("-", 1)[1])


def test_500_concurrent_submissions_share_transactions_and_get_500_consecutive_numbers(
    intake_with: Any, infra: Infra
) -> None:
    # Two worker processes, each with its own writer, number the same agency's day. On a
    # loaded machine 500 at once wait longer than the door's default promise: this is about
    # numbering, so the door lets them all in (its shedding is the test below).
    intake = intake_with(
        WORKERS="2", SUBMIT_MAX_WAIT_SECONDS="60", SUBMIT_MAX_LOOP_LAG_SECONDS="60"
    )
    portal = new_portal(intake)
    body = birth_registration()
    requests = [
        (body, {"X-API-Key": portal["api_key"], "Idempotency-Key": f"flood-{n}"})
        for n in range(500)
    ]
    responses = asyncio.run(post_all(intake, requests))
    assert [r.status_code for r in responses if r.status_code != 201] == []
    assert sorted(number(r) for r in responses) == list(range(1, 501))
    rows = asyncio.run(stored(infra, intake, portal["portal_id"]))
    assert len(rows) == 500 and {r["events"] for r in rows} == {1}
    # Fewer transactions than dossiers: submissions did share them (metrics of the worker
    # that answers; each worker counts its own).
    transactions, dossiers = batches(intake)
    assert 0 < transactions < dossiers


def test_retries_racing_inside_one_batch_get_one_dossier_and_another_body_is_409(
    intake_with: Any, infra: Infra
) -> None:
    # A long window so that every request below lands in the same transaction.
    intake = intake_with(SUBMIT_BATCH_WINDOW_MS="1000", SUBMIT_BATCH_MAX="500")
    portal = new_portal(intake)
    key = {"X-API-Key": portal["api_key"]}
    body_b, body_c = birth_registration(summary="Lần B"), birth_registration(summary="Lần C")
    requests = (
        [(birth_registration(), {**key, "Idempotency-Key": "click-a"})] * 5
        + [
            (body_b, {**key, "Idempotency-Key": "click-b"}),
            (body_c, {**key, "Idempotency-Key": "click-b"}),
        ]
        * 3
        + [(birth_registration(summary=f"Riêng {n}"), key) for n in range(4)]
    )
    before = batches(intake)
    responses = asyncio.run(post_all(intake, requests))
    after = batches(intake)
    assert (after[0] - before[0], after[1] - before[1]) == (1, len(requests)), "one batch"

    a = responses[:5]
    assert {r.status_code for r in a} == {201}
    assert len({r.text for r in a}) == 1, "every retry of click-a answers the same receipt"
    b_and_c = responses[5:11]
    winners = [r for r in b_and_c if r.status_code == 201]
    losers = [r for r in b_and_c if r.status_code != 201]
    assert len(winners) == 3 and len({r.text for r in winners}) == 1
    assert {r.status_code for r in losers} == {409}
    assert losers[0].headers["content-type"] == "application/problem+json"
    assert losers[0].json()["title"] == "Idempotency-Key đã được dùng cho một hồ sơ khác"
    summaries = {r.request.content for r in winners}
    assert len(summaries) == 1, "the winners all sent the same body"
    keyless = responses[11:]
    assert {r.status_code for r in keyless} == {201}
    assert len({r.json()["code"] for r in keyless}) == 4

    rows = asyncio.run(stored(infra, intake, portal["portal_id"]))
    assert len(rows) == 1 + 1 + 4 and {r["events"] for r in rows} == {1}
    assert asyncio.run(numbers_today(infra, intake)) == list(range(1, 7))
    # The same key later, inside another batch: the stored receipt, or 409.
    again = httpx.post(
        f"{intake.url}/v1/dossiers",
        json=birth_registration(),
        headers={**key, "Idempotency-Key": "click-a"},
        timeout=30,
    )
    assert again.status_code == 201 and again.json() == a[0].json()


def test_one_submission_the_database_refuses_fails_alone_and_the_batch_is_stored(
    intake_with: Any, infra: Infra
) -> None:
    intake = intake_with(SUBMIT_BATCH_WINDOW_MS="1000")
    portal = new_portal(intake)
    key = {"X-API-Key": portal["api_key"]}
    # Valid JSON and a valid string, but PostgreSQL's jsonb has no place for U+0000.
    bad = birth_registration(summary="Đăng ký khai sinh\u0000")
    requests = [(birth_registration(summary=f"Hồ sơ {n}"), key) for n in range(5)]
    requests.insert(2, (bad, key))
    before = batches(intake)
    responses = asyncio.run(post_all(intake, requests))
    assert batches(intake)[0] - before[0] == 1, "they arrived in one batch"

    refused = responses.pop(2)
    assert refused.status_code == 422, refused.text
    assert refused.json()["title"] == "Dữ liệu không hợp lệ"
    assert {r.status_code for r in responses} == {201}
    rows = asyncio.run(stored(infra, intake, portal["portal_id"]))
    assert len(rows) == 5 and {r["events"] for r in rows} == {1}
    assert asyncio.run(numbers_today(infra, intake)) == list(range(1, 6)), "no gap, no duplicate"


@pytest.mark.parametrize(
    "limits",
    [
        # The writer's queue is full (the database is the bottleneck).
        {
            "SUBMIT_QUEUE_MAX": "2",
            "SUBMIT_BATCH_MAX": "1",
            "SUBMIT_MAX_WAIT_SECONDS": "60",
            "SUBMIT_MAX_LOOP_LAG_SECONDS": "60",
        },
        # The oldest submission in flight waits too long (the process is the bottleneck).
        {"SUBMIT_MAX_WAIT_SECONDS": "0.001", "SUBMIT_MAX_LOOP_LAG_SECONDS": "60"},
        # The event loop runs late (the requests wait before intake can read them): the
        # process is stopped while the flood arrives, as a saturated machine stalls it.
        {
            "SUBMIT_MAX_WAIT_SECONDS": "60",
            "SUBMIT_MAX_LOOP_LAG_SECONDS": "0.2",
            STALL: "1.0",
        },
    ],
    ids=["queue-full", "backlog-too-old", "loop-late"],
)
def test_beyond_capacity_intake_answers_503_and_every_201_is_stored_once(
    intake_with: Any, infra: Infra, limits: dict[str, str]
) -> None:
    settings = {name: value for name, value in limits.items() if name != STALL}
    intake = intake_with(SUBMIT_BATCH_WINDOW_MS="0", **settings)
    portal = new_portal(intake)
    key = {"X-API-Key": portal["api_key"]}
    requests = [
        (birth_registration(summary=f"Hồ sơ {n}"), {**key, "Idempotency-Key": f"o-{n}"})
        for n in range(300)
    ]
    if STALL in limits:
        responses = asyncio.run(post_all_while_stalled(intake, requests, float(limits[STALL])))
    else:
        responses = asyncio.run(post_all(intake, requests))
    statuses = {r.status_code for r in responses}
    assert statuses == {201, 503}, statuses
    shed = [(req, r) for req, r in zip(requests, responses, strict=True) if r.status_code == 503]
    for _, response in shed:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["title"] == OVERLOAD_TITLE
    accepted = {r.json()["id"]: r.json()["code"] for r in responses if r.status_code == 201}
    rows = asyncio.run(stored(infra, intake, portal["portal_id"]))
    assert {str(r["id"]): r["code"] for r in rows} == accepted, "only the 201s were stored"
    assert {r["events"] for r in rows} == {1}, "each with exactly one dossier.received"

    # The portal retries the shed ones, one at a time as Retry-After asks: all received,
    # and the day's numbers have no gap.
    for body, headers in [req for req, _ in shed]:
        for _ in range(30):  # a loaded machine may still be busy: come back as asked
            retry = httpx.post(f"{intake.url}/v1/dossiers", json=body, headers=headers, timeout=30)
            if retry.status_code != 503:
                break
            time.sleep(int(retry.headers["retry-after"]))
        assert retry.status_code == 201, retry.text
    assert asyncio.run(numbers_today(infra, intake)) == list(range(1, 301))


def test_with_its_database_unreachable_intake_answers_503_not_500_and_recovers(
    intake_with: Any, infra: Infra
) -> None:
    proxy = TcpProxy.for_dsn(infra.database_url)
    proxy.start()
    try:
        intake = intake_with(DATABASE_URL=proxy.dsn(infra.database_url))
        portal = new_portal(intake)
        key = {"X-API-Key": portal["api_key"]}
        first = httpx.post(
            f"{intake.url}/v1/dossiers", json=birth_registration(), headers=key, timeout=30
        )
        assert first.status_code == 201, first.text

        proxy.cut()  # every connection dropped, new ones refused
        for attempt in range(3):
            refused = httpx.post(
                f"{intake.url}/v1/dossiers",
                json=birth_registration(),
                headers={**key, "Idempotency-Key": f"outage-{attempt}"},
                timeout=30,
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["title"] == OUTAGE_TITLE
        reading = httpx.get(
            f"{intake.url}/v1/dossiers/{first.json()['code']}", headers=key, timeout=30
        )
        assert reading.status_code == 503, reading.text

        proxy.restore()

        def received_again() -> httpx.Response | None:
            answer = httpx.post(
                f"{intake.url}/v1/dossiers",
                json=birth_registration(),
                headers={**key, "Idempotency-Key": "outage-0"},
                timeout=30,
            )
            return answer if answer.status_code == 201 else None

        eventually(received_again, timeout=30, every=0.5)
        rows = asyncio.run(stored(infra, intake, portal["portal_id"]))
        assert len(rows) == 2, "the refused submissions were not stored"
    finally:
        proxy.stop()
