"""System health in the console: dead letters listed per service and replayed by button."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from tests.support.axe import check_axe
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import eventually

try:
    from playwright.sync_api import Browser
except ImportError:  # the lock file does not carry it yet
    pytest.skip("the playwright package is not installed", allow_module_level=True)

from tests.e2e.test_console import SHOTS, browser, login

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with the console test


def produce(infra: Infra, topic: str, value: bytes, key: bytes) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value=value, key=key)
        finally:
            await producer.stop()

    # Playwright's sync API keeps an event loop on this thread while the browser lives.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, send()).result()


def supervisor_headers(console: str) -> dict[str, str]:
    token = httpx.post(
        f"{console}/v1/auth/login", json={"username": "giamsat", "password": "demo"}, timeout=10
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def routing_letters(console: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    health = httpx.get(f"{console}/console/api/health", headers=headers, timeout=30).json()
    routing = next(s for s in health["services"] if s["service"] == "routing")
    letters: list[dict[str, Any]] = routing["dead_letters"]
    return letters


def test_a_dead_letter_is_listed_and_replayed_to_its_consumer_from_the_console(
    system: dict[str, ServiceProcess], infra: Infra, browser: Browser
) -> None:
    console = system["routing"].url
    headers = supervisor_headers(console)
    topic = system["intake"].env["TOPIC_PREFIX"] + "dossier.intake"

    # A record that is not an event at all: dead-lettered, and replaying it is refused.
    garbage_key = f"garbage-{uuid4().hex[:8]}".encode()
    produce(infra, topic, b"this is not an envelope", garbage_key)

    def garbage_letter() -> dict[str, Any] | None:
        letters = routing_letters(console, headers)
        return next((d for d in letters if "malformed envelope" in d["error"]), None)

    garbage = eventually(garbage_letter)
    refused = httpx.post(
        f"{console}/console/api/dead-letters/routing/{garbage['id']}/replay",
        headers=headers,
        timeout=30,
    )
    assert refused.status_code == 409

    # An event routing's handler cannot take (its payload lacks the procedure).
    dossier_id = uuid4()
    envelope = EventEnvelope(
        event_type="dossier.received",
        dossier_id=dossier_id,
        sequence=1,
        correlation_id=dossier_id,
        producer="intake",
        payload={"dossier_code": "000.01.01.H99-991231-9999"},
    )
    produce(infra, topic, envelope.model_dump_json().encode(), str(dossier_id).encode())

    def letters_of_event() -> list[dict[str, Any]]:
        return [
            d
            for d in routing_letters(console, headers)
            if d["topic"] == topic and "procedure_code" in d["error"]
        ]

    first = eventually(lambda: letters_of_event() or None)[0]
    assert first["replayed_at"] is None
    assert "0912345678" not in repr(first)

    # The supervisor presses "Phát lại" on the health page.
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, console, "giamsat")
    page.goto(f"{console}/console/#/health")
    button = page.locator(f'button.replay[data-service="routing"][data-id="{first["id"]}"]')
    button.wait_for()
    page.screenshot(path=str(SHOTS / "console-09-dead-letter.png"), full_page=True)
    check_axe(page, "health-dead-letters")
    button.click()
    page.locator(f'tr[data-letter="{first["id"]}"]', has_text="Đã phát lại").first.wait_for()
    page.close()

    # Routing got the event again (its dedupe row was cleared) and failed on it again:
    # a second dead letter of the same event; the first is marked replayed.
    def replayed() -> list[dict[str, Any]] | None:
        letters = letters_of_event()
        return letters if len(letters) == 2 else None

    letters = eventually(replayed)
    again, original = letters  # newest first
    assert original["id"] == first["id"] and original["replayed_at"] is not None
    assert again["replayed_at"] is None and again["offset"] > original["offset"]
    replay_again = httpx.post(
        f"{console}/console/api/dead-letters/routing/{first['id']}/replay",
        headers=headers,
        timeout=30,
    )
    assert replay_again.status_code == 409  # already replayed
