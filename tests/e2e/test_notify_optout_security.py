"""Who may stop a citizen's messages, and who may read them (threats 2 and 6).

Written as the attacker's attempts: each is refused (401/403 problem+json, Vietnamese
title), nothing changes, and the next message still reaches the citizen. Then the three
legitimate routes: the signed link in a message, the citizen's portal, an operator.
Runs on the shared `system` (real intake, routing, SLA, notify, Kafka, PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.notify.dev_defaults import DEV_OPT_OUT_LINK_SECRET
from services.notify.domain.opt_out_link import sign
from services.runtime.credentials import dev_service_token
from tests.e2e.test_intake_submission import new_portal
from tests.e2e.test_notify_dossier_life import Desk, mails_for, settled, submit
from tests.support.credentials import OPS, PORTAL, ROUTING_TOKEN, bearer
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, eventually

pytestmark = pytest.mark.e2e
CONSOLE = {"X-Service-Token": ROUTING_TOKEN}
OTHER_UNIT = "000.02.01.H99"  # another commune
RECEIVED = {"dossier.received"}
LINK_LABEL = "Ngừng nhận thư về hồ sơ này: "


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    assert not body["title"].isascii(), body["title"]  # Vietnamese, with diacritics
    return body


def opt_outs(notify: str, code: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{notify}/v1/opt-outs", params={"dossier": code}, headers=OPS, timeout=10)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["opt_outs"]
    return found


def contact_ref_of(infra: Infra, intake: ServiceProcess, dossier_id: str) -> str:
    async def read() -> str:
        conn = await asyncpg.connect(infra.database_url)
        try:
            value = await conn.fetchval(
                f"SELECT contact_ref FROM {intake.env['SCHEMA_PREFIX']}intake.dossiers"
                " WHERE id = $1::uuid",
                dossier_id,
            )
        finally:
            await conn.close()
        return str(value)

    return asyncio.run(read())


def link_in_mail(system: dict[str, ServiceProcess], code: str) -> str:
    [mail] = [m for m in mails_for(system, code) if "Đã tiếp nhận" in m["subject"]]
    link = str(mail["text"]).rsplit(LINK_LABEL, 1)[1].strip()
    assert link.startswith(f"{system['notify'].url}/o/")
    return link


def next_message(
    system: dict[str, ServiceProcess], desk: Desk, dossier_id: str, code: str
) -> list[dict[str, Any]]:
    """The official asks for a paper: the citizen hears about it on every open channel."""
    task = desk.claim(dossier_id)
    desk.post(
        f"/v1/tasks/{task}/supplement",
        {"missing_documents": ["GCS"], "reason": "Giấy chứng sinh bị mờ"},
    )
    messages = settled(
        system["notify"].url, code, {"dossier.received", "dossier.supplement_requested"}
    )
    return [m for m in messages if m["event_type"] == "dossier.supplement_requested"]


# --------------------------------------------------------------------- the attacker


def test_an_anonymous_opt_out_by_dossier_id_is_refused_and_the_next_message_still_goes(
    system: dict[str, ServiceProcess],
) -> None:
    notify = system["notify"].url
    dossier_id, code, applicant = submit(system, "anon")
    settled(notify, code, RECEIVED)
    routing = system["routing"].url
    attempts: list[tuple[str, str, dict[str, Any] | None, dict[str, str], int]] = [
        # What used to work: the dossier id (shown by public endpoints) as the contact.
        ("POST", "/v1/opt-outs", {"contact_ref": dossier_id, "channel": "email"}, {}, 401),
        ("POST", "/v1/opt-outs", {"dossier": dossier_id, "channel": "email"}, {}, 401),
        ("POST", "/v1/opt-outs", {"dossier": code, "channel": "zalo"}, {}, 401),
        ("DELETE", f"/v1/opt-outs/{code}/email", None, {}, 401),
        ("GET", f"/v1/opt-outs?dossier={code}", None, {}, 401),
        # Wrong credentials: a portal's key, services that may not, a made-up bearer.
        ("POST", "/v1/opt-outs", {"dossier": code, "channel": "email"}, PORTAL, 401),
        (
            "POST",
            "/v1/opt-outs",
            {"dossier": code, "channel": "email"},
            {"X-Service-Token": dev_service_token("notify")},
            403,
        ),
        (
            "POST",
            "/v1/opt-outs",
            {"dossier": code, "channel": "email"},
            {"X-Service-Token": dev_service_token("sla")},
            403,
        ),
        (
            "POST",
            "/v1/opt-outs",
            {"dossier": code, "channel": "email"},
            {"X-Service-Token": "dev-only-secret-change-me"},
            403,
        ),
        (
            "POST",
            "/v1/opt-outs",
            {"dossier": code, "channel": "email"},
            {"Authorization": "Bearer not.a.token"},
            401,
        ),
        # An official of another commune.
        (
            "POST",
            "/v1/opt-outs",
            {"dossier": code, "channel": "email"},
            bearer(routing, f"canbo@{OTHER_UNIT}"),
            403,
        ),
    ]
    for method, path, body, headers, status in attempts:
        r = httpx.request(method, f"{notify}{path}", json=body, headers=headers, timeout=10)
        problem(r, status)
    assert opt_outs(notify, code) == []
    later = next_message(system, Desk(routing), dossier_id, code)
    assert sorted(m["channel"] for m in later) == ["email", "zalo"]
    assert all(m["status"] in ("sent", "delivered") for m in later)
    mails = mails_for(system, code)
    assert any("bổ sung" in m["subject"] and m["to"] == [applicant["email"]] for m in mails)


def test_forged_expired_and_tampered_links_are_refused_and_change_nothing(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    notify = system["notify"].url
    dossier_id, code, _ = submit(system, "forge")
    settled(notify, code, RECEIVED)
    real = link_in_mail(system, code)
    token = real.rsplit("/", 1)[1]
    ref = contact_ref_of(infra, system["intake"], dossier_id)
    today = datetime.now(UTC).date()
    swapped = "A" if token[10] != "A" else "B"
    bad_tokens = {
        "another key": sign(b"an attacker's guess at the key!!", ref, "email", today),
        "expired": sign(DEV_OPT_OUT_LINK_SECRET.encode(), ref, "email", today - timedelta(2)),
        "tampered": token[:10] + swapped + token[11:],
        "truncated": token[:-1],
        "dossier id": dossier_id,
        "empty-ish": "x",
    }
    for why, bad in bad_tokens.items():
        for method in ("GET", "POST"):
            short = httpx.request(method, f"{notify}/o/{bad}", timeout=10)
            assert short.status_code == 403, (why, method, short.text)
            long = httpx.request(
                method, f"{notify}/v1/opt-outs/confirm", params={"token": bad}, timeout=10
            )
            body = problem(long, 403)
            assert (
                "hết hạn" in body["title"] if why == "expired" else "không hợp lệ" in body["title"]
            )
        page = httpx.post(f"{notify}/o/{bad}", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 403 and "<html" in page.text and "Không thể" in page.text
    assert opt_outs(notify, code) == []
    # The real link still works afterwards: nothing above consumed or broke it.
    assert httpx.get(real, timeout=10).status_code == 200
    assert opt_outs(notify, code) == []  # opening the page alone changes nothing


def test_a_portal_key_of_another_unit_cannot_stop_a_citizen_s_messages(
    system: dict[str, ServiceProcess],
) -> None:
    intake, notify = system["intake"].url, system["notify"].url
    dossier_id, code, _ = submit(system, "portal-other")
    settled(notify, code, RECEIVED)
    other = new_portal(system["intake"], [OTHER_UNIT])
    r = httpx.post(
        f"{intake}/v1/dossiers/{code}/opt-outs",
        json={"channel": "email"},
        headers={"X-API-Key": other["api_key"]},
        timeout=10,
    )
    problem(r, 404)  # as for any other action: another unit's dossier is not its to see
    for headers, status in (({}, 401), ({"X-API-Key": "not-a-key"}, 401), (CONSOLE, 401)):
        r = httpx.post(
            f"{intake}/v1/dossiers/{code}/opt-outs",
            json={"channel": "email"},
            headers=headers,
            timeout=10,
        )
        problem(r, status)
    r = httpx.delete(
        f"{intake}/v1/dossiers/{code}/opt-outs/email",
        headers={"X-API-Key": other["api_key"]},
        timeout=10,
    )
    problem(r, 404)
    later = next_message(system, Desk(system["routing"].url), dossier_id, code)
    assert opt_outs(notify, code) == []
    assert sorted(m["channel"] for m in later) == ["email", "zalo"]


def test_messages_are_read_only_by_the_console_ops_and_the_dossier_s_own_units(
    system: dict[str, ServiceProcess],
) -> None:
    notify, routing = system["notify"].url, system["routing"].url
    dossier_id, code, applicant = submit(system, "read")
    settled(notify, code, RECEIVED)
    for headers, status in (
        ({}, 401),
        (PORTAL, 401),
        ({"X-Service-Token": dev_service_token("intake")}, 403),
        ({"X-Service-Token": dev_service_token("agency")}, 403),
        ({"Authorization": "Bearer forged"}, 401),
        (bearer(routing, f"canbo@{OTHER_UNIT}"), 403),
        (bearer(routing, f"lanhdao@{OTHER_UNIT}"), 403),
    ):
        for ref in (code, dossier_id):
            r = httpx.get(
                f"{notify}/v1/notifications", params={"dossier": ref}, headers=headers, timeout=10
            )
            body = problem(r, status)
            assert "messages" not in body and code not in r.text
    for headers in (CONSOLE, OPS, bearer(routing, f"canbo@{COMMUNE}"), bearer(routing, "giamsat")):
        r = httpx.get(
            f"{notify}/v1/notifications", params={"dossier": code}, headers=headers, timeout=10
        )
        assert r.status_code == 200, r.text
        assert {m["channel"] for m in r.json()["messages"]} == {"email", "zalo"}
        assert applicant["email"] not in r.text and applicant["phone"] not in r.text


def test_an_official_s_reason_reaches_the_citizen_without_other_people_s_data(
    system: dict[str, ServiceProcess],
) -> None:
    notify = system["notify"].url
    head = Desk(system["routing"].url, role="lanhdao")  # the unit head signs a refusal
    dossier_id, code, _ = submit(system, "reason")
    reason = "Thiếu tờ khai; đã trao đổi với ông Trần Văn Nam, 0987 654 321, nam.tran@gmail.com"
    head.task_of(dossier_id)  # routing has the dossier in the commune's inbox
    head.post(f"/v1/dossiers/{dossier_id}/refuse", {"reasons": [reason]})
    messages = settled(notify, code, {"dossier.received", "dossier.refused"})
    view = httpx.get(
        f"{notify}/v1/notifications", params={"dossier": code}, headers=CONSOLE, timeout=10
    ).text
    [mail] = [m for m in mails_for(system, code) if "không tiếp nhận" in m["subject"]]
    for shown in (view, mail["text"], mail["html"]):
        for secret in ("Trần Văn Nam", "654 321", "nam.tran@gmail.com"):
            assert secret not in shown
    assert "Thiếu tờ khai" in mail["text"] and "ông ***" in mail["text"]
    assert len(messages) == 4


def test_the_contact_reference_appears_in_no_public_answer(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake, notify, sla = system["intake"].url, system["notify"].url, system["sla"].url
    dossier_id, code, applicant = submit(system, "leak")
    settled(notify, code, RECEIVED)
    ref = contact_ref_of(infra, system["intake"], dossier_id)
    assert ref and ref != dossier_id and len(ref) == 22
    answers = [
        httpx.get(f"{intake}/v1/dossiers/{code}", headers=PORTAL, timeout=10),
        httpx.get(f"{intake}/v1/dossiers/{dossier_id}", headers=PORTAL, timeout=10),
        httpx.get(f"{intake}/v1/dossiers/{code}", headers=CONSOLE, timeout=10),
        httpx.get(f"{intake}/v1/dossiers/{code}/receipt", headers=PORTAL, timeout=10),
        httpx.get(f"{intake}/v1/dossiers/{code}/receipt.html", headers=PORTAL, timeout=10),
        httpx.get(
            f"{intake}/v1/lookup/{code}",
            params={"phone_last4": applicant["phone"][-4:]},
            timeout=10,
        ),
        httpx.get(f"{intake}/v1/traces", params={"dossier": dossier_id}, headers=OPS, timeout=10),
        httpx.get(f"{notify}/v1/notifications", params={"dossier": code}, headers=CONSOLE),
        httpx.get(f"{notify}/v1/opt-outs", params={"dossier": code}, headers=OPS, timeout=10),
        httpx.get(f"{notify}/v1/traces", params={"dossier": dossier_id}, headers=OPS, timeout=10),
        httpx.get(f"{sla}/v1/dossiers/{dossier_id}/deadlines", headers=OPS, timeout=10),
        httpx.get(f"{sla}/v1/apologies", params={"dossier": dossier_id}, headers=OPS, timeout=10),
    ]
    for answer in answers:
        assert answer.status_code == 200, (answer.url, answer.text)
        assert ref not in answer.text, answer.url
    # Nor does it travel in the links: the token encodes it, signed, never in clear.
    assert ref not in link_in_mail(system, code)
    # And intake's contact endpoint answers only by the reference, never by id or code.
    for by in (dossier_id, code):
        r = httpx.get(
            f"{intake}/internal/v1/contacts/{by}",
            headers={"X-Service-Token": dev_service_token("notify")},
            timeout=10,
        )
        assert r.status_code == 404, r.text
    r = httpx.get(
        f"{intake}/internal/v1/contacts/{ref}",
        headers={"X-Service-Token": dev_service_token("notify")},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["email"] == applicant["email"]
    anonymous = httpx.get(f"{intake}/internal/v1/contacts/{ref}", timeout=10)
    assert anonymous.status_code in (401, 403)


# --------------------------------------------------------------------- the citizen


def test_the_signed_link_in_a_message_stops_that_channel_only(
    system: dict[str, ServiceProcess],
) -> None:
    notify = system["notify"].url
    dossier_id, code, _ = submit(system, "link")
    settled(notify, code, RECEIVED)
    link = link_in_mail(system, code)
    page = httpx.get(link, headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "Xác nhận ngừng nhận tin" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert opt_outs(notify, code) == []
    done = httpx.post(link, timeout=10)
    assert done.status_code == 200 and "Đã ngừng nhận thông báo" in done.text
    assert [(o["channel"], o["source"]) for o in opt_outs(notify, code)] == [("email", "link")]
    later = next_message(system, Desk(system["routing"].url), dossier_id, code)
    assert [m["channel"] for m in later] == ["zalo"]
    assert not any("bổ sung" in m["subject"] for m in mails_for(system, code))


def test_the_citizen_s_portal_stops_and_resumes_a_channel(
    system: dict[str, ServiceProcess],
) -> None:
    intake, notify = system["intake"].url, system["notify"].url
    dossier_id, code, _ = submit(system, "portal")
    settled(notify, code, RECEIVED)
    r = httpx.post(
        f"{intake}/v1/dossiers/{code}/opt-outs", json={"channel": "email"}, headers=PORTAL
    )
    assert r.status_code == 202, r.text
    assert r.json()["dossier_code"] == code and r.json()["opted_out"] is True
    found = eventually(lambda: opt_outs(notify, code) or None)
    assert [(o["channel"], o["source"]) for o in found] == [("email", "portal:dev")]
    later = next_message(system, Desk(system["routing"].url), dossier_id, code)
    assert [m["channel"] for m in later] == ["zalo"]
    r = httpx.delete(f"{intake}/v1/dossiers/{code}/opt-outs/email", headers=PORTAL, timeout=10)
    assert r.status_code == 202, r.text
    eventually(lambda: opt_outs(notify, code) == [] or None)
    timeline = httpx.get(f"{intake}/v1/dossiers/{code}", headers=PORTAL, timeout=10).json()
    changes = [e for e in timeline["timeline"] if e["event_type"] == "dossier.opt_out_changed"]
    assert [e["details"]["opted_out"] for e in changes] == [True, False]


def test_an_official_of_the_dossier_s_unit_records_an_opt_out_for_the_citizen(
    system: dict[str, ServiceProcess],
) -> None:
    notify, routing = system["notify"].url, system["routing"].url
    dossier_id, code, _ = submit(system, "official")
    settled(notify, code, RECEIVED)
    official = bearer(routing, f"canbo@{COMMUNE}")
    r = httpx.post(
        f"{notify}/v1/opt-outs",
        json={"dossier": code, "channel": "zalo"},
        headers=official,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert json.loads(r.text) == {"dossier_code": code, "channel": "zalo", "opted_out": True}
    [entry] = opt_outs(notify, code)
    assert entry["channel"] == "zalo" and entry["source"].startswith("operator:")
    later = next_message(system, Desk(routing), dossier_id, code)
    # No Zalo: the phone notice goes by SMS instead, the e-mail as before.
    assert sorted(m["channel"] for m in later) == ["email", "sms"]
    r = httpx.delete(f"{notify}/v1/opt-outs/{code}/zalo", headers=official, timeout=10)
    assert r.status_code == 204
    assert opt_outs(notify, code) == []
