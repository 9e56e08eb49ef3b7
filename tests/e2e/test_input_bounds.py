"""Threat 9, input bounds: an attacker sends routing, SLA and notify what PostgreSQL or
the handlers cannot take (NUL bytes, lone surrogates, out-of-range numbers and dates,
oversized bodies, declared or streamed). Each is refused with a problem document
(422 or 413, Vietnamese title) and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.notify.dev_defaults import DEV_VIETTEL_RECEIPT_TOKEN
from tests.support.credentials import OPS, operator_headers, service_headers
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e
LIMIT = 1_048_576
TIMEOUT = 10.0
JSON = {"Content-Type": "application/json"}


def _problem(response: httpx.Response, status: int, title: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if title is not None:
        assert body["title"] == title
    return body


def _raw(url: str, text: str, headers: dict[str, str], method: str = "POST") -> httpx.Response:
    """Send JSON text as written (json= would escape what we mean to send raw)."""
    return httpx.request(
        method, url, content=text.encode(), headers={**JSON, **headers}, timeout=TIMEOUT
    )


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"note": "'
    sent = 0
    while sent < size:
        yield b"x" * 65536
        sent += 65536
    yield b'"}'


# A route of each service that reads a JSON body.
BODY_ROUTES = {
    "intake": "/v1/dossiers",
    "routing": "/v1/auth/login",
    "sla": "/v1/calendar/due",
    "notify": "/v1/opt-outs",
}


@pytest.mark.parametrize("service", sorted(BODY_ROUTES))
def test_a_body_over_the_limit_is_refused_declared_or_streamed(
    system: dict[str, ServiceProcess], service: str
) -> None:
    url = system[service].url + BODY_ROUTES[service]
    declared = httpx.post(url, content=b"x" * (LIMIT + 1), headers=JSON, timeout=TIMEOUT)
    _problem(declared, 413, "Yêu cầu quá lớn")
    # Chunked transfer encoding: no Content-Length to trust.
    streamed = httpx.post(url, content=_chunks(LIMIT), headers=JSON, timeout=TIMEOUT)
    assert "content-length" not in streamed.request.headers
    _problem(streamed, 413, "Yêu cầu quá lớn")


def test_a_streamed_body_over_the_limit_stores_no_opt_out(
    system: dict[str, ServiceProcess],
) -> None:
    notify = system["notify"].url

    def body() -> Iterator[bytes]:
        yield b'{"dossier": "streamed-ref", "channel": "sms", "pad": "'
        yield b"x" * (LIMIT + 10)
        yield b'"}'

    response = httpx.post(
        f"{notify}/v1/opt-outs", content=body(), headers={**JSON, **OPS}, timeout=TIMEOUT
    )
    _problem(response, 413, "Yêu cầu quá lớn")
    listed = httpx.get(
        f"{notify}/v1/opt-outs", params={"dossier": "streamed-ref"}, headers=OPS, timeout=TIMEOUT
    )
    _problem(listed, 404)  # notify knows nothing of it: nothing was stored


NUL = "\\u0000"
SURROGATE = "\\ud800"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_notify_refuses_text_postgresql_cannot_store(
    system: dict[str, ServiceProcess], bad: str
) -> None:
    notify = system["notify"].url
    ref = "bounds-ref-" + ("nul" if bad == NUL else "surrogate")
    opt_out = _raw(f"{notify}/v1/opt-outs", f'{{"dossier": "{ref}{bad}", "channel": "sms"}}', OPS)
    _problem(opt_out, 422, "Dữ liệu không hợp lệ")
    listed = httpx.get(f"{notify}/v1/opt-outs", params={"dossier": ref}, headers=OPS, timeout=5)
    _problem(listed, 404)  # nothing was stored for it
    viettel = {"Authorization": f"Bearer {DEV_VIETTEL_RECEIPT_TOKEN}"}
    receipt = _raw(f"{notify}/v1/callbacks/viettel", f'{{"RequestID": "a{bad}"}}', viettel)
    _problem(receipt, 422)
    for path in ("/v1/notifications?dossier=a%00", "/v1/opt-outs?dossier=a%00"):
        _problem(httpx.get(notify + path, headers=OPS, timeout=TIMEOUT), 422)
    _problem(_raw(f"{notify}/v1/callbacks/viettel", "not json", viettel), 422)


def test_sla_refuses_nul_bytes_and_dates_out_of_range(system: dict[str, ServiceProcess]) -> None:
    sla = system["sla"].url
    token = service_headers("ops")
    before = httpx.get(f"{sla}/v1/calendar/overrides", timeout=TIMEOUT).json()
    attempts = [
        '{"day": "2031-03-03", "kind": "day_off", "note": "a\\u0000b"}',
        '{"day": "2031-03-04", "kind": "day_off", "note": "\\ud800"}',
        '{"day": "0001-01-01", "kind": "day_off"}',
        '{"day": "9999-12-31", "kind": "working_day"}',
        '{"day": "2031-03-05", "kind": "day_off", "unit_code": "x\\u0000"}',
    ]
    for body in attempts:
        _problem(_raw(f"{sla}/v1/calendar/overrides", body, token, "PUT"), 422)
    assert httpx.get(f"{sla}/v1/calendar/overrides", timeout=TIMEOUT).json() == before
    due = '{"start": "0001-01-01T00:00:00+14:00", "working_hours": 8}'
    _problem(_raw(f"{sla}/v1/calendar/due", due, {}), 422)
    for path in (
        "/v1/apologies?dossier=%00",
        "/v1/reports?from=0001-01-01T00:00:00%2B14:00&to=9999-12-31T00:00:00Z",
        "/v1/reports?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&unit=%00",
    ):
        _problem(httpx.get(sla + path, headers=token, timeout=TIMEOUT), 422)
    deleted = httpx.delete(
        f"{sla}/v1/calendar/overrides?day=2031-03-03&unit_code=%00", headers=token, timeout=TIMEOUT
    )
    _problem(deleted, 422)


def test_routing_refuses_nul_bytes_and_out_of_range_numbers(
    system: dict[str, ServiceProcess],
) -> None:
    routing = system["routing"].url
    login = _raw(f"{routing}/v1/auth/login", '{"username": "a\\u0000", "password": "x"}', {})
    _problem(login, 422, "Dữ liệu không hợp lệ")
    who = operator_headers(routing)
    task = "00000000-0000-0000-0000-000000000000:buoc:1"
    attempts = {
        f"/v1/tasks/{task}/claim": '{"expected_version": 9223372036854775808}',
        f"/v1/tasks/{task}/complete": '{"note": "a\\u0000"}',
        f"/v1/tasks/{task}/result": '{"papers": [""]}',
        f"/v1/tasks/{task}/supplement": '{"missing_documents": ["\\ud800"], "reason": "x"}',
        "/v1/dossiers/00000000-0000-0000-0000-000000000000/refuse": '{"reasons": [""]}',
    }
    for path, body in attempts.items():
        _problem(_raw(routing + path, body, who), 422)
    for path in (
        "/v1/inbox?unit=%00",
        "/console/api/dossiers?q=%00",
        "/console/api/inbox?unit=%00",
    ):
        _problem(httpx.get(routing + path, headers=who, timeout=TIMEOUT), 422)


# What each service reads first: a JSON body an attacker makes mean two things (a key
# twice, read as the last by Python and as the first by others) or a number JSON has not.
AMBIGUOUS = {
    "json_duplicate_key": '{"username": "giamsat", "username": "x", "password": "demo"}',
    "json_not_finite": '{"start": "2031-03-03T08:00:00+07:00", "working_hours": NaN}',
}


@pytest.mark.parametrize("service", sorted(BODY_ROUTES))
@pytest.mark.parametrize("kind", sorted(AMBIGUOUS))
def test_every_service_refuses_duplicate_keys_and_non_finite_numbers(
    system: dict[str, ServiceProcess], service: str, kind: str
) -> None:
    url = system[service].url + BODY_ROUTES[service]
    for text in (AMBIGUOUS[kind], AMBIGUOUS[kind].replace("NaN", "Infinity")):
        body = _problem(_raw(url, text, OPS), 422, "Dữ liệu không hợp lệ")
        assert body["errors"][0]["type"] == kind


def test_a_login_sent_with_a_key_twice_signs_nobody_in(system: dict[str, ServiceProcess]) -> None:
    routing = system["routing"].url
    text = '{"username": "canbo@000.01.01.H99", "password": "wrong", "password": "demo"}'
    _problem(_raw(f"{routing}/v1/auth/login", text, {}), 422, "Dữ liệu không hợp lệ")


@pytest.mark.parametrize("service", sorted(BODY_ROUTES))
def test_the_framework_refusals_of_every_service_have_vietnamese_titles(
    system: dict[str, ServiceProcess], service: str
) -> None:
    base = system[service].url
    _problem(httpx.get(f"{base}/no-such-route", timeout=TIMEOUT), 404, "Không tìm thấy")
    wrong_method = httpx.put(base + BODY_ROUTES[service], timeout=TIMEOUT)
    _problem(wrong_method, 405, "Phương thức không được hỗ trợ")
    _problem(_raw(base + BODY_ROUTES[service], "{", OPS), 422, "Dữ liệu không hợp lệ")
