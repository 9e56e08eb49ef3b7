"""One submission is one trace: every service's spans, read back through the trace routes,
hang together in the order the hops happened; operators find it from the dossier code."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.credentials import OPS, PORTAL
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e
SERVICES = ("intake", "routing", "sla", "notify")
PERSONAL = ("Nguyễn Thị Lan", "001190012345", "0912345678", "traces@example.vn")


def at(span: dict[str, Any], field: str = "start_time") -> datetime:
    return datetime.fromisoformat(str(span[field]).replace("Z", "+00:00"))


def trace_of(system: dict[str, ServiceProcess], trace_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for service in SERVICES:
        answer = httpx.get(f"{system[service].url}/v1/traces/{trace_id}", headers=OPS, timeout=5)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["service"] == service
        found[service] = body["spans"]
    return found


def test_one_submission_holds_the_spans_of_all_four_services_in_parent_child_order(
    system: dict[str, ServiceProcess],
) -> None:
    trace_id = secrets.token_hex(16)
    response = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        json=birth_registration(email="traces@example.vn"),
        headers={**PORTAL, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    receipt = response.json()

    def complete() -> dict[str, list[dict[str, Any]]] | None:
        found = trace_of(system, trace_id)
        notify_sent = any(s["name"].endswith("dossier.notify send") for s in found["notify"])
        intake_heard_notify = any(
            s["name"].endswith("dossier.notify process") for s in found["intake"]
        )
        routing_heard = all(
            any(s["name"].endswith("dossier.routing process") for s in found[service])
            for service in ("intake", "sla")
        )
        return found if notify_sent and intake_heard_notify and routing_heard else None

    found = eventually(complete)
    spans = {s["span_id"]: s for service in SERVICES for s in found[service]}
    assert all(s["trace_id"] == trace_id for s in spans.values())

    def parent(span: dict[str, Any]) -> dict[str, Any]:
        assert span["parent_span_id"] in spans, f"{span['service']} {span['name']} is orphaned"
        return spans[span["parent_span_id"]]

    # Root of what we recorded: intake's HTTP server span (its parent is the caller's).
    servers = [s for s in found["intake"] if s["kind"] == "server"]
    assert [s["name"] for s in servers] == ["POST /v1/dossiers"]
    http = servers[0]
    assert http["parent_span_id"] not in spans
    assert http["attributes"]["onestop.dossier_code"] == receipt["code"]

    # HTTP server span -> intake's outbox send of dossier.received.
    intake_send = [s for s in found["intake"] if s["kind"] == "producer" and parent(s) is http]
    assert [s["attributes"]["onestop.event_type"] for s in intake_send] == ["dossier.received"]
    send = intake_send[0]
    assert send["name"].endswith("dossier.intake send")
    assert at(send) >= at(http)

    # -> routing, SLA and notify each consume that record under the send span ...
    for service in ("routing", "sla", "notify"):
        receives = [s for s in found[service] if s["name"].endswith("dossier.intake process")]
        assert len(receives) == 1, f"{service}: {receives}"
        receive = receives[0]
        assert receive["kind"] == "consumer"
        assert parent(receive) is send
        assert at(receive) >= at(send)
        assert receive["attributes"]["onestop.event_type"] == "dossier.received"
        assert receive["attributes"]["onestop.procedure"] == "1.001193"
        assert receive["attributes"]["onestop.unit"] == COMMUNE

    # ... and what they publish hangs under their consumer span, consumed in turn.
    routing_receive = next(
        s for s in found["routing"] if s["name"].endswith("dossier.intake process")
    )
    routing_sends = [s for s in found["routing"] if s["kind"] == "producer"]
    assert routing_sends
    assert all(parent(s) is routing_receive for s in routing_sends)
    assigned = next(s for s in routing_sends if s["name"].endswith("dossier.routing send"))
    assert assigned["attributes"]["onestop.event_type"] == "step.assigned"
    assert assigned["attributes"]["onestop.step"]
    assert assigned["attributes"]["onestop.unit"] == COMMUNE
    for service in ("intake", "sla"):  # notify has nothing to say about an assignment
        heard = [s for s in found[service] if s["name"].endswith("dossier.routing process")]
        assert heard, f"{service} did not consume routing's events in this trace"
        assert all(parent(s)["service"] == "routing" for s in heard)
        assert all(parent(s)["kind"] == "producer" for s in heard)

    # Notify's sends hang under its delivery, which hangs under its consumer span.
    for span in (s for s in found["notify"] if s["name"].endswith("dossier.notify send")):
        chain = [span]
        while chain[-1]["parent_span_id"] in spans and chain[-1] is not http:
            chain.append(parent(chain[-1]))
        assert chain[-1] is http
        assert any(s["kind"] == "consumer" and s["service"] == "notify" for s in chain)

    # No span anywhere carries the applicant's personal data.
    text = repr(list(spans.values()))
    for value in PERSONAL:
        assert value not in text

    # From the dossier code to its trace, on every service that took part.
    for service in SERVICES:
        listed = httpx.get(
            f"{system[service].url}/v1/traces",
            params={"dossier": receipt["code"]},
            headers=OPS,
            timeout=5,
        ).json()["traces"]
        assert trace_id in {t["trace_id"] for t in listed}, service


def test_the_console_merges_a_trace_and_finds_it_from_the_dossier(
    system: dict[str, ServiceProcess],
) -> None:
    response = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(email="merge@example.vn"),
        timeout=10,
    )
    code = response.json()["code"]
    console = system["routing"].url
    token = httpx.post(
        f"{console}/v1/auth/login", json={"username": "giamsat", "password": "demo"}, timeout=10
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def traced() -> dict[str, Any] | None:
        view = httpx.get(f"{console}/console/api/dossiers/{code}", headers=headers, timeout=10)
        body: dict[str, Any] = view.json()
        return body if view.status_code == 200 and body["traces"] else None

    dossier = eventually(traced)
    first = dossier["traces"][0]["trace_id"]

    def merged() -> dict[str, Any] | None:
        answer = httpx.get(f"{console}/console/api/traces/{first}", headers=headers, timeout=10)
        body: dict[str, Any] = answer.json()
        services = {s["service"] for s in body["spans"]}
        return body if services == set(SERVICES) else None

    trace = eventually(merged)
    assert trace["unreachable"] == []
    starts = [s["start_time"] for s in trace["spans"]]
    assert trace["spans"][0]["name"] == "POST /v1/dossiers"
    assert trace["spans"][0]["depth"] == 0
    assert len(starts) == len(trace["spans"])
    assert all(s["depth"] >= 1 for s in trace["spans"][1:])


def test_metrics_name_lag_backlog_inboxes_deadlines_and_notifications(
    system: dict[str, ServiceProcess],
) -> None:
    httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(email="metrics@example.vn"),
        timeout=10,
    )

    def scraped(service: str, pattern: str) -> str | None:
        text = httpx.get(f"{system[service].url}/metrics", timeout=5).text
        return text if re.search(pattern, text, re.MULTILINE) else None

    lag = r'^consumer_lag\{consumer="[^"]+",partition="\d+",topic="[^"]+"\} \d'
    for service in SERVICES:
        text = eventually(lambda s=service: scraped(s, lag), timeout=30)  # type: ignore[misc]
        assert "outbox_backlog " in text
        assert "outbox_oldest_age_seconds " in text
        assert "http_request_duration_seconds_bucket" in text or service != "intake"
    eventually(lambda: scraped("routing", r'^inbox_size\{status="\w+",unit="[^"]+"\}'))
    eventually(lambda: scraped("sla", r'^deadlines\{kind="(dossier|step)",state="\w+"\}'))
    eventually(lambda: scraped("notify", r'^notifications\{provider="[^"]*",status="\w+"\}'))


def listed_traces(routing: str, dossier: str) -> dict[str, int]:
    answer = httpx.get(f"{routing}/v1/traces", params={"dossier": dossier}, headers=OPS, timeout=5)
    assert answer.status_code == 200, answer.text
    return {t["trace_id"]: t["spans"] for t in answer.json()["traces"]}


def test_an_officials_action_is_its_own_trace_linked_to_the_submission(
    system: dict[str, ServiceProcess],
) -> None:
    submitted = secrets.token_hex(16)
    receipt = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        json=birth_registration(email="link@example.vn"),
        headers={**PORTAL, "traceparent": f"00-{submitted}-{secrets.token_hex(8)}-01"},
        timeout=10,
    ).json()
    routing = system["routing"].url

    def routing_recorded() -> bool:
        return submitted in listed_traces(routing, receipt["id"])

    eventually(routing_recorded)
    token = httpx.post(
        f"{routing}/v1/auth/login",
        json={"username": f"canbo@{COMMUNE}", "password": "demo"},
        timeout=10,
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    def task_in_inbox() -> dict[str, Any] | None:
        # Routing's spans are flushed on their own: the consumer's span can be stored
        # before the transaction that writes the inbox row commits.
        # The shared system's commune has many open tasks by now; the newest come last.
        params = {"status": "open", "limit": 500, "procedure": receipt["procedure_code"]}
        inbox = httpx.get(f"{routing}/v1/inbox", headers=auth, params=params, timeout=5).json()
        return next((t for t in inbox if t["dossier_code"] == receipt["code"]), None)

    task = eventually(task_in_inbox)
    # The browser (or anything between it and routing) may send a traceparent; an
    # operator's token is no trace authority, so the action starts a trace of its own.
    action = secrets.token_hex(16)
    sent_parent = f"00-{action}-{secrets.token_hex(8)}-01"
    claimed = httpx.post(
        f"{routing}/v1/tasks/{task['task_id']}/claim",
        json={"expected_version": task["dossier_version"]},
        headers={**auth, "traceparent": sent_parent},
        timeout=10,
    )
    assert claimed.status_code == 200, claimed.text

    def claim_span() -> dict[str, Any] | None:
        for trace_id in listed_traces(routing, receipt["id"]).keys() - {submitted}:
            spans = trace_of(system, trace_id)["routing"]
            found = next((s for s in spans if s["kind"] == "server"), None)
            if found is not None and found["name"] == "POST /v1/tasks/{task_id}/claim":
                return found
        return None

    span = eventually(claim_span)
    assert span["trace_id"] not in (submitted, action)
    assert span["parent_span_id"] is None
    assert span["attributes"]["onestop.untrusted_traceparent"] == sent_parent
    assert span["attributes"]["onestop.submission_trace_id"] == submitted
    assert span["attributes"]["onestop.dossier_id"] == receipt["id"]
    assert span["attributes"]["onestop.step"] == task["step_id"]
    listed = listed_traces(routing, receipt["code"])
    assert {submitted, span["trace_id"]} <= listed.keys()
    assert action not in listed
    assert all(spans == [] for spans in trace_of(system, action).values())
