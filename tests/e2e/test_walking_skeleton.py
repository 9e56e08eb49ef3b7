"""One dossier goes in through intake and visibly passes routing, SLA and notify."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.credentials import PORTAL
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually, timeline_sources

pytestmark = pytest.mark.e2e
SERVICES = ("intake", "routing", "sla", "notify")


def test_a_dossier_submitted_online_is_received_routed_timed_and_announced(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    response = httpx.post(
        f"{intake}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(email="skeleton@example.vn"),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["code"].startswith(f"{COMMUNE}-")
    assert receipt["status"] == 2

    eventually(lambda: timeline_sources(intake, receipt["id"]) >= set(SERVICES))
    view = httpx.get(f"{intake}/v1/dossiers/{receipt['code']}", headers=PORTAL, timeout=5).json()
    kinds = [(e["source"], e["event_type"]) for e in view["timeline"]]
    assert ("intake", "dossier.received") in kinds
    assert ("routing", "step.assigned") in kinds
    assert ("sla", "deadline.opened") in kinds
    assert ("notify", "notification.status_changed") in kinds
    assert view["current_unit"] == COMMUNE

    def mail_for_this_dossier() -> list[dict[str, Any]]:
        mails = httpx.get(f"{system['devservers'].url}/_mail", timeout=5).json()
        return [m for m in mails if receipt["code"] in m["subject"]]

    mails = eventually(mail_for_this_dossier)
    assert len(mails) == 1
    assert mails[0]["to"] == ["skeleton@example.vn"]
    assert "Đã tiếp nhận" in mails[0]["subject"] or "tiếp nhận" in mails[0]["text"]


def test_the_spans_of_one_submission_share_one_trace_across_all_four_services(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    response = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        json=birth_registration(email="trace@example.vn"),
        headers={**PORTAL, "traceparent": traceparent},
        timeout=10,
    )
    assert response.status_code == 201
    prefix = system["intake"].env["SCHEMA_PREFIX"]

    async def spans_by_service() -> dict[str, list[dict[str, Any]]]:
        conn = await asyncpg.connect(infra.database_url)
        try:
            found: dict[str, list[dict[str, Any]]] = {}
            for service in SERVICES:
                rows = await conn.fetch(
                    f"SELECT span_id, parent_span_id, name, kind FROM {prefix}{service}.spans"
                    " WHERE trace_id = $1",
                    trace_id,
                )
                found[service] = [dict(r) for r in rows]
            return found
        finally:
            await conn.close()

    def all_four() -> dict[str, list[dict[str, Any]]] | None:
        found = asyncio.run(spans_by_service())
        notify_done = any(s["name"].endswith("dossier.notify send") for s in found["notify"])
        return found if all(found.values()) and notify_done else None

    spans = eventually(all_four)
    every_span = {s["span_id"]: s for service in SERVICES for s in spans[service]}
    # The HTTP request is the root's child; every consumer span hangs under a send span
    # recorded by the service that produced the event.
    http = [s for s in spans["intake"] if s["kind"] == "server"]
    assert len(http) == 1
    for service in ("routing", "sla", "notify"):
        receives = [s for s in spans[service] if s["kind"] == "consumer"]
        assert receives, f"{service} recorded no consumer span"
        for span in receives:
            parent = every_span.get(span["parent_span_id"])
            assert parent is not None, f"{service} span {span['name']} has no parent in trace"
            assert parent["kind"] == "producer"


def test_an_intake_killed_between_commit_and_publish_still_delivers_the_dossier_once(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"]
    intake.stop()
    # The relay is held back, so the dossier is committed but its event is not published.
    intake.start({"OUTBOX_RELAY_ENABLED": "false"})
    intake.wait_ready()
    try:
        receipt = httpx.post(
            f"{intake.url}/v1/dossiers",
            headers=PORTAL,
            json=birth_registration(email="crash@example.vn"),
            timeout=10,
        ).json()
        assert timeline_sources(intake.url, receipt["id"]) == {"intake"}
    finally:
        intake.kill()  # SIGKILL: nothing gets a chance to flush
    intake.start()
    intake.wait_ready()

    eventually(lambda: "routing" in timeline_sources(intake.url, receipt["id"]))
    prefix = intake.env["SCHEMA_PREFIX"]

    async def counts() -> tuple[int, int]:
        conn = await asyncpg.connect(infra.database_url)
        try:
            unpublished = await conn.fetchval(
                f"SELECT count(*) FROM {prefix}intake.outbox WHERE published_at IS NULL"
            )
            starts = await conn.fetchval(
                f"SELECT count(*) FROM {prefix}routing.instance_events"
                " WHERE dossier_id = $1 AND type = 'DossierReceived'",
                receipt["id"],
            )
            return int(unpublished), int(starts)
        finally:
            await conn.close()

    unpublished, starts = asyncio.run(counts())
    assert unpublished == 0
    assert starts == 1
