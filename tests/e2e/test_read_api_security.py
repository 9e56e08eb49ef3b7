"""Read APIs are not a leak: each attempt below is an attacker's, and each is refused.

Dossier codes are sequential (``agency-YYMMDD-NNNN``) and trace ids travel in headers, so
knowing a key is no authority. The attackers: anyone on the network (no credential), an
official and a unit head of a commune the dossier never passed through, a portal whose
key is scoped to that other commune, and whoever sends a ``traceparent`` naming the
victim's trace hoping their own spans join it (and with them, the right to open it in the
operator console).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.sla.domain.apology import ApologyLetter
from tests.support.credentials import AGENCY_TOKEN, OPS, PORTAL, ROUTING_TOKEN, bearer
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e
SERVICES = ("intake", "routing", "sla", "notify")
OTHER_COMMUNE = "000.02.01.H99"  # UBND xã Đông Phú: the victim's dossier never goes there
DISTRICT = "000.00.01.H99"  # the letter below names it as the unit that apologises
CITIZEN = "Nguyễn Thị Lan"
PERSONAL = (CITIZEN, "001190012345", "0912345678", "readapi@example.vn")
PERIOD = {"from": "2020-01-01T00:00:00+07:00", "to": "2100-01-01T00:00:00+07:00"}


def canbo(system: dict[str, ServiceProcess], unit: str, role: str = "canbo") -> dict[str, str]:
    return bearer(system["routing"].url, f"{role}@{unit}")


def supervisor(system: dict[str, ServiceProcess]) -> dict[str, str]:
    return bearer(system["routing"].url, "giamsat")


def get(url: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return httpx.get(url, headers=headers or {}, params=params, timeout=10)


def shows_nothing(answer: httpx.Response, *secrets_: str) -> bool:
    return not any(value in answer.text for value in (*PERSONAL, *secrets_))


def submit(system: dict[str, ServiceProcess], unit: str, **headers: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{system['intake'].url}/v1/dossiers",
        json=birth_registration(email="readapi@example.vn", receiving_unit=unit),
        headers={**PORTAL, **headers},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    receipt: dict[str, Any] = answer.json()
    return receipt


def trace_spans(system: dict[str, ServiceProcess], trace_id: str) -> list[dict[str, Any]]:
    """Every service's spans of a trace, read with the operators' credential."""
    spans: list[dict[str, Any]] = []
    for service in SERVICES:
        answer = get(f"{system[service].url}/v1/traces/{trace_id}", OPS)
        assert answer.status_code == 200, answer.text
        spans.extend(answer.json()["spans"])
    return spans


async def insert_letter(infra: Infra, schema: str, letter: ApologyLetter) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute(
            f"INSERT INTO {schema}.apologies (id, dossier_id, letter) VALUES ($1, $2, $3::jsonb)",
            letter.id,
            letter.dossier_id,
            letter.model_dump_json(),
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def victim(system: dict[str, ServiceProcess], infra: Infra) -> dict[str, Any]:
    """A dossier received at the commune, its deadlines open at SLA, its apology letter
    (form 04) naming the district as the unit at fault, its trace recorded everywhere."""
    trace_id = secrets.token_hex(16)
    receipt = submit(system, COMMUNE, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")
    sla = system["sla"].url

    def opened() -> bool:
        answer = get(f"{sla}/v1/dossiers/{receipt['id']}/deadlines", OPS)
        return answer.status_code == 200 and len(answer.json()["deadlines"]) == 2

    eventually(opened)
    now = datetime.now(UTC)
    letter = ApologyLetter(
        id=uuid4(),
        dossier_id=UUID(receipt["id"]),
        dossier_code=receipt["code"],
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        contact_ref=receipt["id"],
        reason="Việc giải quyết hồ sơ chưa hoàn thành trong thời hạn được giao.",
        responsible_unit=DISTRICT,
        responsible_unit_name="UBND huyện Đông Hà",
        step_name=None,
        old_appointment_at=now,
        new_appointment_at=now + timedelta(days=2),
        signed_by_title="Chủ tịch UBND huyện",
        issued_at=now,
    )
    asyncio.run(insert_letter(infra, f"{system['sla'].env['SCHEMA_PREFIX']}sla", letter))

    def traced() -> list[dict[str, Any]] | None:
        spans = trace_spans(system, trace_id)
        return spans if {s["service"] for s in spans} == set(SERVICES) else None

    eventually(traced)
    return {**receipt, "trace_id": trace_id, "letter_id": str(letter.id)}


@pytest.fixture(scope="module")
def attackers_dossier(system: dict[str, ServiceProcess]) -> dict[str, Any]:
    """A dossier of the other commune: its officials may see it, and nothing more."""
    return submit(system, OTHER_COMMUNE)


def sla_reads(sla: str, victim: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    letter = f"{sla}/v1/apologies/{victim['letter_id']}"
    return [
        (f"{sla}/v1/dossiers/{victim['id']}/deadlines", {}),
        (f"{sla}/v1/apologies", {"dossier": victim["code"]}),
        (f"{sla}/v1/apologies", {"dossier": victim["id"]}),
        (letter, {}),
        (f"{letter}.html", {}),
        (f"{sla}/v1/reports", {**PERIOD, "unit": COMMUNE}),
        (f"{sla}/v1/reports", {**PERIOD, "unit": COMMUNE, "format": "csv"}),
        (f"{sla}/v1/reports", PERIOD),
    ]


def test_anonymous_reads_of_deadlines_letters_and_reports_are_refused_and_show_nothing(
    system: dict[str, ServiceProcess], victim: dict[str, Any]
) -> None:
    for url, params in sla_reads(system["sla"].url, victim):
        answer = get(url, None, **params)
        assert answer.status_code == 401, (url, params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert shows_nothing(answer, victim["letter_id"], "deadlines", "to_handle"), url
        # A credential that is not a reader's is refused too (an agency system).
        agency = get(url, {"X-Service-Token": AGENCY_TOKEN}, **params)
        assert agency.status_code == 403, (url, params, agency.text)
        assert shows_nothing(agency, victim["letter_id"], "deadlines", "to_handle"), url


def test_an_operator_of_another_unit_reads_nothing_of_the_dossier(
    system: dict[str, ServiceProcess], victim: dict[str, Any]
) -> None:
    sla = system["sla"].url
    for who in (canbo(system, OTHER_COMMUNE), canbo(system, OTHER_COMMUNE, "lanhdao")):
        for url, params in sla_reads(sla, victim):
            answer = get(url, who, **params)
            assert answer.status_code == 403, (url, params, answer.text)
            assert shows_nothing(answer, victim["letter_id"], "deadlines", "to_handle"), url
        # An unknown dossier is refused alike: the answer tells nothing of what exists.
        unknown = get(f"{sla}/v1/apologies", who, dossier=f"{COMMUNE}-991231-9999")
        assert unknown.status_code == 403
        assert get(f"{sla}/v1/dossiers/{uuid4()}/deadlines", who).status_code == 403
        # Their own unit's report is theirs to read.
        own = get(f"{sla}/v1/reports", who, **PERIOD, unit=OTHER_COMMUNE)
        assert own.status_code == 200, own.text


def test_the_units_the_dossier_passed_through_read_it_and_print_its_letter(
    system: dict[str, ServiceProcess], victim: dict[str, Any]
) -> None:
    """The controls: the same reads succeed for those entitled to them."""
    sla = system["sla"].url
    letter = f"{sla}/v1/apologies/{victim['letter_id']}"
    desk = canbo(system, COMMUNE)  # in the dossier's SLA history
    at_fault = canbo(system, DISTRICT)  # the letter's unit
    for who in (desk, at_fault, supervisor(system), OPS, {"X-Service-Token": ROUTING_TOKEN}):
        page = get(f"{letter}.html", who)
        assert page.status_code == 200, page.text
        assert f"Kính gửi: Ông/Bà {CITIZEN}" in page.text
        assert get(letter, who).json()["dossier_code"] == victim["code"]
        listed = get(f"{sla}/v1/apologies", who, dossier=victim["code"])
        assert [x["id"] for x in listed.json()] == [victim["letter_id"]]
    deadlines = get(f"{sla}/v1/dossiers/{victim['id']}/deadlines", desk)
    assert deadlines.status_code == 200
    assert {d["unit_code"] for d in deadlines.json()["deadlines"]} == {COMMUNE}
    # The unit that apologised is in the dossier's history too.
    assert get(f"{sla}/v1/dossiers/{victim['id']}/deadlines", at_fault).status_code == 200
    head = canbo(system, COMMUNE, "lanhdao")
    assert get(f"{sla}/v1/reports", head, **PERIOD, unit=COMMUNE).json()["received"] >= 1
    assert get(f"{sla}/v1/reports", head, **PERIOD).status_code == 403  # the province's
    assert get(f"{sla}/v1/reports", supervisor(system), **PERIOD).status_code == 200


def test_traces_are_read_only_by_the_console_the_operators_and_the_supervisor(
    system: dict[str, ServiceProcess], victim: dict[str, Any]
) -> None:
    trace_id = victim["trace_id"]
    for service in SERVICES:
        base = system[service].url
        for url, params in (
            (f"{base}/v1/traces/{trace_id}", {}),
            (f"{base}/v1/traces", {"dossier": victim["code"]}),
            (f"{base}/v1/traces", {"dossier": victim["id"]}),
        ):
            for who, status in (
                ({}, 401),
                (PORTAL, 401),  # a portal key is no operator
                ({"X-Service-Token": AGENCY_TOKEN}, 403),
                (canbo(system, COMMUNE), 403),  # officials read traces through the console
                (canbo(system, OTHER_COMMUNE, "lanhdao"), 403),
            ):
                answer = get(url, who, **params)
                assert answer.status_code == status, (service, url, who, answer.text)
                assert trace_id not in answer.text
                assert "span_id" not in answer.text
            for who in (OPS, supervisor(system), {"X-Service-Token": ROUTING_TOKEN}):
                answer = get(url, who, **params)
                assert answer.status_code == 200, (service, url, answer.text)
                assert trace_id in answer.text


async def spans_with(infra: Infra, prefix: str, key: str, value: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        found: list[dict[str, Any]] = []
        for service in SERVICES:
            rows = await conn.fetch(
                f"SELECT trace_id, span_id, parent_span_id, name, attributes"
                f" FROM {prefix}{service}.spans WHERE attributes ->> $1 = $2",
                key,
                value,
            )
            found.extend({**dict(r), "service": service} for r in rows)
        return found
    finally:
        await conn.close()


def test_an_injected_traceparent_neither_joins_the_victims_trace_nor_opens_it_in_the_console(
    system: dict[str, ServiceProcess],
    infra: Infra,
    victim: dict[str, Any],
    attackers_dossier: dict[str, Any],
) -> None:
    console = system["routing"].url
    trace_url = f"{console}/console/api/traces/{victim['trace_id']}"
    attacker = canbo(system, OTHER_COMMUNE)
    refused = get(trace_url, attacker)
    assert refused.status_code == 403

    # Requests that name the attacker's own dossier, each claiming to continue the
    # victim's trace: anonymous ones on three services, and the official's own.
    injected_span = secrets.token_hex(8)
    parent = f"00-{victim['trace_id']}-{injected_span}-01"
    mine_id, mine_code = attackers_dossier["id"], attackers_dossier["code"]
    attempts = [
        (f"{console}/v1/dossiers/{mine_id}/workflow", {}, {}),
        (f"{console}/v1/dossiers/{mine_id}/workflow", attacker, {}),
        (f"{system['sla'].url}/v1/dossiers/{mine_id}/deadlines", {}, {}),
        (f"{system['intake'].url}/v1/dossiers/{mine_id}", {}, {}),
        (f"{system['intake'].url}/v1/lookup/{mine_code}", {}, {"phone_last4": "5678"}),
    ]
    for url, headers, params in attempts:
        httpx.get(url, headers={**headers, "traceparent": parent}, params=params, timeout=10)

    # Each request was recorded, in a trace of its own, with the claimed parent only
    # as an attribute.
    prefix = system["intake"].env["SCHEMA_PREFIX"]

    def recorded() -> list[dict[str, Any]] | None:
        found = asyncio.run(spans_with(infra, prefix, "onestop.untrusted_traceparent", parent))
        return found if len(found) == len(attempts) else None

    grafts = eventually(recorded)
    assert {s["service"] for s in grafts} == {"routing", "sla", "intake"}
    for span in grafts:
        assert span["trace_id"] != victim["trace_id"]
        assert span["parent_span_id"] is None
        assert json.loads(span["attributes"]).get("onestop.dossier_id", mine_id) == mine_id

    # The victim's trace holds none of them and names no dossier but the victim's.
    after = trace_spans(system, victim["trace_id"])
    assert not {s["span_id"] for s in grafts} & {s["span_id"] for s in after}
    assert all(s["parent_span_id"] != injected_span for s in after)
    assert not any(mine_id in json.dumps(s) or mine_code in json.dumps(s) for s in after)

    # So the console still refuses the attacker (and shows them no span), while the
    # commune that received the dossier still sees it whole.
    still = get(trace_url, attacker)
    assert still.status_code == 403
    assert "span_id" not in still.text
    head = get(trace_url, canbo(system, OTHER_COMMUNE, "lanhdao"))
    assert head.status_code == 403
    desk = get(trace_url, canbo(system, COMMUNE))
    assert desk.status_code == 200
    assert {s["service"] for s in desk.json()["spans"]} == set(SERVICES)


def test_a_portal_key_of_another_unit_reads_nothing_at_intake(
    system: dict[str, ServiceProcess], victim: dict[str, Any], attackers_dossier: dict[str, Any]
) -> None:
    intake = system["intake"].url
    created = httpx.post(
        f"{intake}/v1/admin/portals",
        json={"name": "Cổng của xã Đông Phú", "units": [OTHER_COMMUNE]},
        headers=OPS,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    other = {"X-API-Key": created.json()["api_key"]}
    for ref in (victim["code"], victim["id"]):
        for suffix in ("", "/receipt", "/receipt.html"):
            answer = get(f"{intake}/v1/dossiers/{ref}{suffix}", other)
            assert answer.status_code == 404, (ref, suffix, answer.text)
            assert shows_nothing(answer, victim["code"] if ref == victim["id"] else victim["id"])
            assert get(f"{intake}/v1/dossiers/{ref}{suffix}").status_code == 401
    # A citizen action through the wrong portal finds nothing either, and changes nothing.
    withdrawal = httpx.post(
        f"{intake}/v1/dossiers/{victim['code']}/withdrawal",
        json={"reason": "Không còn nhu cầu"},
        headers=other,
        timeout=10,
    )
    assert withdrawal.status_code == 404
    view = get(f"{intake}/v1/dossiers/{victim['code']}", PORTAL).json()
    assert view["status"] in (2, 4)
    assert not any(e["event_type"] == "dossier.withdrawal_requested" for e in view["timeline"])
    # Its own unit's dossier it does read (the control).
    assert get(f"{intake}/v1/dossiers/{attackers_dossier['code']}", other).status_code == 200


def test_the_public_calendar_answers_bounded_questions_only(
    system: dict[str, ServiceProcess],
) -> None:
    """No dossier data, so anyone may ask; but no one question may cost much."""
    sla = system["sla"].url
    too_long = httpx.post(
        f"{sla}/v1/calendar/elapsed",
        json={"start": "1902-01-01T07:00:00+07:00", "end": "2099-12-31T17:00:00+07:00"},
        timeout=10,
    )
    assert too_long.status_code == 422
    too_many = httpx.post(
        f"{sla}/v1/calendar/due",
        json={"start": "2026-03-03T07:00:00+07:00", "working_hours": 1_000_000},
        timeout=10,
    )
    assert too_many.status_code == 422
    fine = httpx.post(
        f"{sla}/v1/calendar/elapsed",
        json={"start": "2026-03-02T07:00:00+07:00", "end": "2026-03-03T07:00:00+07:00"},
        timeout=10,
    )
    assert fine.json() == {"working_hours": 8}
