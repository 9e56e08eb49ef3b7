"""A portal registers a callback URL and hears of every status change, even through outages."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.intake.domain.webhooks import verify
from services.runtime.setup import ensure_topics
from tests.e2e.test_intake_submission import new_portal, submit
from tests.support.credentials import OPS_TOKEN
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.story import COMMUNE, birth_registration, eventually
from tests.support.system import unique_prefix

pytestmark = pytest.mark.e2e
OPERATOR = {"X-Service-Token": OPS_TOKEN}


@dataclass
class Receiver:
    """A portal's callback endpoint that can be told to fail."""

    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    failing_status: int = 503
    redirect_to: str | None = None  # answer 302 with this Location

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    async def callback(self, request: Request) -> Response:
        raw = await request.body()
        self.received.append({"headers": dict(request.headers), "raw": raw})
        if self.redirect_to is not None:
            return Response(status_code=302, headers={"Location": self.redirect_to})
        if self.fail_next != 0:
            self.fail_next -= 1
            return Response(status_code=self.failing_status, headers={"Retry-After": "0"})
        return JSONResponse({"ok": True})

    def for_dossier(self, code: str) -> list[dict[str, Any]]:
        return [r for r in self.received if json.loads(r["raw"])["dossier_code"] == code]


def serve() -> Iterator[Receiver]:
    rec = Receiver(port=free_port())
    app = Starlette(routes=[Route("/callback", rec.callback, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, port=rec.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield rec
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def inside_service() -> Iterator[Receiver]:
    """Something inside the network a callback must never reach."""
    yield from serve()


@pytest.fixture(scope="module")
def guarded_intake(infra: Infra) -> Iterator[ServiceProcess]:
    """Intake with the default callback policy (the shared system lets 127.0.0.1 through
    for its receivers), on its own topics and schema so its sender touches nothing else."""
    prefix = unique_prefix()
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    intake = ServiceProcess("intake", "services.intake", isolated_env(infra, prefix), free_port())
    intake.start()
    try:
        intake.wait_ready()
        yield intake
    finally:
        intake.stop()


def register(intake: ServiceProcess, key: str, url: str, **policy: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{intake.url}/v1/webhooks",
        json={"url": url, **policy},
        headers={"X-API-Key": key},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(intake: ServiceProcess, state: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{intake.url}/v1/admin/webhook-deliveries",
        params={"state": state, "limit": 500},
        headers=OPERATOR,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_every_status_change_reaches_the_portal_signed_and_versioned(
    system: dict[str, ServiceProcess], receiver: Receiver
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    hook = register(intake, portal["api_key"], receiver.url)
    code = submit(intake, portal["api_key"], birth_registration()).json()["code"]
    withdrawn = httpx.post(
        f"{intake.url}/v1/dossiers/{code}/withdrawal",
        json={"reason": "Nộp nhầm thủ tục"},
        headers={"X-API-Key": portal["api_key"]},
        timeout=5,
    )
    assert withdrawn.status_code == 202

    def statuses() -> list[int] | None:
        got = [json.loads(r["raw"])["status"] for r in receiver.for_dossier(code)]
        return got if {2, 7} <= set(got) else None

    eventually(statuses)
    for call in receiver.for_dossier(code):
        headers = call["headers"]
        assert verify(
            hook["secret"],
            headers["x-onestop-timestamp"],
            call["raw"],
            headers["x-onestop-signature"],
        )
        assert not verify(
            "another-secret",
            headers["x-onestop-timestamp"],
            call["raw"],
            headers["x-onestop-signature"],
        )
    bodies = {
        json.loads(r["raw"])["status"]: json.loads(r["raw"]) for r in receiver.for_dossier(code)
    }
    assert bodies[2]["version"] < bodies[7]["version"]
    assert bodies[7]["status_name"] == "Công dân yêu cầu rút"
    assert bodies[2]["changed_at"].endswith("+07:00")
    assert "Nguyễn" not in json.dumps(bodies, ensure_ascii=False)


def attempts_by_outcome(intake: ServiceProcess) -> dict[str, float]:
    """intake's webhook_delivery_attempts_total per outcome (the platform alerts read it)."""
    text = httpx.get(f"{intake.url}/metrics", timeout=5).text
    found = re.findall(r'^webhook_delivery_attempts_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(value) for outcome, value in found}


def test_failed_callbacks_are_retried_then_dead_lettered_and_an_operator_replays_them(
    system: dict[str, ServiceProcess], receiver: Receiver
) -> None:
    intake = system["intake"]
    counted = attempts_by_outcome(intake)
    portal = new_portal(intake, [COMMUNE])
    hook = register(intake, portal["api_key"], receiver.url, max_attempts=3, backoff_seconds=0.2)
    receiver.fail_next = -1  # the portal is down
    code = submit(intake, portal["api_key"], birth_registration()).json()["code"]

    def dead_for_hook() -> list[dict[str, Any]]:
        return [d for d in deliveries(intake, "dead") if d["webhook_id"] == hook["id"]]

    dead = eventually(dead_for_hook)
    assert all(d["attempts"] == 3 for d in dead)
    assert all(d["last_error"] == "HTTP 503" for d in dead)
    by_delivery: dict[str, int] = {}
    for call in receiver.for_dossier(code):
        delivery = call["headers"]["x-onestop-delivery"]
        by_delivery[delivery] = by_delivery.get(delivery, 0) + 1
    assert all(by_delivery[str(d["id"])] == 3 for d in dead)
    now = attempts_by_outcome(intake)
    assert now["dead"] - counted.get("dead", 0) >= len(dead)
    assert now["retry"] - counted.get("retry", 0) >= 2 * len(dead)

    receiver.fail_next = 1  # back up, though the first call still fails once
    for d in dead:
        replayed = httpx.post(
            f"{intake.url}/v1/admin/webhook-deliveries/{d['id']}/replay",
            headers=OPERATOR,
            timeout=5,
        )
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["state"] == "pending"
    delivered_ids = {str(d["id"]) for d in dead}
    eventually(
        lambda: (
            delivered_ids
            <= {
                str(d["id"])
                for d in deliveries(intake, "delivered")
                if d["webhook_id"] == hook["id"]
            }
        )
    )
    assert dead_for_hook() == []


def test_a_client_error_is_not_retried_and_only_operators_see_deliveries(
    system: dict[str, ServiceProcess], receiver: Receiver
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    hook = register(intake, portal["api_key"], receiver.url, max_attempts=5, backoff_seconds=0.2)
    receiver.fail_next, receiver.failing_status = -1, 410
    submit(intake, portal["api_key"], birth_registration())
    dead = eventually(
        lambda: [d for d in deliveries(intake, "dead") if d["webhook_id"] == hook["id"]]
    )
    assert dead[0]["attempts"] == 1
    denied = httpx.get(f"{intake.url}/v1/admin/webhook-deliveries", timeout=5)
    assert denied.status_code == 403
    denied_key = httpx.get(
        f"{intake.url}/v1/admin/webhook-deliveries",
        headers={"X-Service-Token": portal["api_key"]},
        timeout=5,
    )
    assert denied_key.status_code == 403


def count_webhooks(infra: Infra, intake: ServiceProcess, portal_id: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(infra.database_url)
        try:
            schema = f"{intake.env['SCHEMA_PREFIX']}intake"
            return int(
                await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.webhooks WHERE portal_id = $1", portal_id
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def test_a_portal_cannot_point_callbacks_inside_the_network(
    infra: Infra, guarded_intake: ServiceProcess, inside_service: Receiver
) -> None:
    portal = new_portal(guarded_intake, [COMMUNE])
    attempts = [
        inside_service.url,  # http://127.0.0.1:<port>/callback
        f"http://localhost:{inside_service.port}/callback",  # a name resolving to loopback
        f"http://127.0.0.1:{guarded_intake.port}/v1/admin/portals",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:5432/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ]
    for url in attempts:
        response = httpx.post(
            f"{guarded_intake.url}/v1/webhooks",
            json={"url": url},
            headers={"X-API-Key": portal["api_key"]},
            timeout=10,
        )
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        refused = response.json()
        assert refused["title"] == f"Địa chỉ gọi lại không được chấp nhận: url = {url}"
        assert (refused["field"], refused["value"]) == ("url", url)
        assert "secret" not in refused
    assert count_webhooks(infra, guarded_intake, portal["portal_id"]) == 0
    assert inside_service.received == []


def test_a_redirect_is_not_followed_and_the_delivery_is_dead(
    system: dict[str, ServiceProcess], receiver: Receiver, inside_service: Receiver
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    receiver.redirect_to = inside_service.url
    hook = register(intake, portal["api_key"], receiver.url, max_attempts=5, backoff_seconds=0.2)
    code = submit(intake, portal["api_key"], birth_registration()).json()["code"]
    dead = eventually(
        lambda: [d for d in deliveries(intake, "dead") if d["webhook_id"] == hook["id"]]
    )
    assert all(d["attempts"] == 1 for d in dead)
    assert all(d["last_error"] == "HTTP 302: redirects are not followed" for d in dead)
    calls = [r["headers"]["x-onestop-delivery"] for r in receiver.for_dossier(code)]
    assert all(calls.count(str(d["id"])) == 1 for d in dead)
    assert inside_service.received == []
