"""Notify's sender asks intake for a whole batch of contacts at once; nobody else may.

Runs on the shared `system` (real intake). Personal data leaves intake only for the
notify and SLA credentials, and only by the opaque contact reference: a dossier's id or
code (public, printed on the receipt) finds nobody.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from services.runtime.credentials import dev_service_token
from tests.e2e.test_notify_optout_security import contact_ref_of
from tests.support.credentials import AGENCY_TOKEN, NOTIFY_TOKEN, OPS, PORTAL, ROUTING_TOKEN
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import birth_registration

pytestmark = pytest.mark.e2e


def submit(intake: str, name: str, phone: str) -> dict[str, Any]:
    applicant = {
        "full_name": name,
        "citizen_id": "001190012345",
        "phone": phone,
        "email": f"{uuid4().hex[:8]}@example.vn",
    }
    r = httpx.post(
        f"{intake}/v1/dossiers",
        headers=PORTAL,
        json=birth_registration(applicant=applicant),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "applicant": applicant}


def test_notify_gets_a_batch_of_contacts_by_contact_ref_in_one_request(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake = system["intake"].url
    first = submit(intake, "Phạm Văn Đức", "0987000111")
    second = submit(intake, "Vũ Thị Mai", "0987000222")
    first_ref = contact_ref_of(infra, system["intake"], first["id"])
    second_ref = contact_ref_of(infra, system["intake"], second["id"])
    unknown = [str(uuid4()), "000.01.01.H99-010101-9999"]
    r = httpx.post(
        f"{intake}/internal/v1/contacts:batch",
        json={"refs": [first_ref, second_ref, *unknown]},
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["contacts"][first_ref]["full_name"] == "Phạm Văn Đức"
    assert body["contacts"][first_ref]["phone"] == "0987000111"
    assert body["contacts"][second_ref]["email"] == second["applicant"]["email"]
    assert body["contacts"][second_ref]["dossier_code"] == second["code"]
    assert sorted(body["missing"]) == sorted(unknown)
    # SLA (apology letters) may ask too.
    sla = httpx.post(
        f"{intake}/internal/v1/contacts:batch",
        json={"refs": [first_ref]},
        headers={"X-Service-Token": dev_service_token("sla")},
        timeout=10,
    )
    assert sla.status_code == 200 and first_ref in sla.json()["contacts"]


def test_a_dossier_id_or_code_finds_no_contact_even_with_notifys_credential(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    """The attacker knows the public id and code (the receipt) and holds a contacts
    credential: neither is a contact reference, so nobody's details come back."""
    intake = system["intake"].url
    dossier = submit(intake, "Lý Thị Hoa", "0987000444")
    guesses = [dossier["id"], dossier["code"]]
    r = httpx.post(
        f"{intake}/internal/v1/contacts:batch",
        json={"refs": guesses},
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"contacts": {}, "missing": guesses}
    assert "Lý Thị Hoa" not in r.text and "0987000444" not in r.text
    # The real reference still finds the citizen: the refusal is not an outage.
    ref = contact_ref_of(infra, system["intake"], dossier["id"])
    ok = httpx.post(
        f"{intake}/internal/v1/contacts:batch",
        json={"refs": [ref]},
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=10,
    )
    assert ok.json()["contacts"][ref]["full_name"] == "Lý Thị Hoa"


def test_other_callers_get_no_contact_and_a_huge_batch_is_refused(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    dossier = submit(intake, "Đỗ Minh Châu", "0987000333")
    url = f"{intake}/internal/v1/contacts:batch"
    body = {"refs": [dossier["id"], dossier["code"]]}
    for headers in (
        {},
        PORTAL,
        OPS,
        {"X-Service-Token": AGENCY_TOKEN},
        {"X-Service-Token": ROUTING_TOKEN},
        {"X-Service-Token": "guessed-token"},
    ):
        r = httpx.post(url, json=body, headers=headers, timeout=10)
        assert r.status_code in (401, 403), (headers, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Đỗ Minh Châu" not in r.text and "0987000333" not in r.text
    too_many = httpx.post(
        url,
        json={"refs": [str(uuid4()) for _ in range(501)]},
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=10,
    )
    assert too_many.status_code == 422
