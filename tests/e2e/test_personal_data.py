"""Personal data across the running system (Law 91/2025/QH15, Decree 356/2025/NĐ-CP).

* A citizen asks what the system holds about them: the province's operators (or the
  province supervisor) export it from intake, which gathers its own dossiers and asks
  notify, SLA and routing for theirs; the export is audited with a masked citizen ID.
* Nobody else may: a portal, an official, another service's credential, or someone going
  round intake to the other services' internal endpoints is refused, and no export is
  recorded.
* An identity document's storage reference goes only to the portal that submitted it,
  each such read is audited, and it never reaches logs or spans.
* Reads of personal data are counted per caller.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.test_intake_submission import new_portal, submit
from tests.support.credentials import NOTIFY_TOKEN, OPS, OPS_TOKEN, ROUTING_TOKEN, bearer
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, document, eventually

pytestmark = pytest.mark.e2e
EXPORT = "/v1/admin/data-subject-requests"
INTERNAL_EXPORT = "/internal/v1/data-subject/export"


def identity_card(citizen_id: str) -> dict[str, str]:
    paper = document("CCCD", "Căn cước công dân (mặt trước và mặt sau)")
    paper["storage_ref"] = f"s3://dossiers/cccd-{citizen_id}.jpg"
    return paper


def new_citizen_id() -> str:
    return f"0{random.randrange(10**10, 10**11):011d}"


def with_identity_card(citizen_id: str) -> dict[str, Any]:
    body = birth_registration()
    body["applicant"]["citizen_id"] = citizen_id
    body["documents"].append(identity_card(citizen_id))
    return body


@pytest.fixture(scope="module")
def portals(system: dict[str, ServiceProcess]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two portals of the same commune: the one the citizen used and another."""
    intake = system["intake"]
    return new_portal(intake, [COMMUNE]), new_portal(intake, [COMMUNE])


async def query(infra: Infra, intake: ServiceProcess, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": f"{intake.env['SCHEMA_PREFIX']}intake"}
    )
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def audit_rows(
    infra: Infra, intake: ServiceProcess, action: str, subject: str, since: datetime
) -> list[Any]:
    """The test's own rows: the subject is masked to its last three digits, which another
    test's citizen may share, so only rows written since the test began count."""
    return asyncio.run(
        query(
            infra,
            intake,
            "SELECT * FROM personal_data_access WHERE action = $1 AND subject = $2"
            " AND at >= $3 ORDER BY id",
            action,
            subject,
            since,
        )
    )


def export(intake: ServiceProcess, citizen_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        intake.url + EXPORT,
        json={"citizen_id": citizen_id, "reference": "Đơn yêu cầu số 12/2026"},
        headers=headers,
        timeout=30,
    )


def test_an_operator_exports_everything_the_system_holds_about_one_citizen(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]], infra: Infra
) -> None:
    since = datetime.now(UTC)
    intake, citizen_id = system["intake"], new_citizen_id()
    answer = submit(intake, portals[0]["api_key"], with_identity_card(citizen_id))
    assert answer.status_code == 201, answer.text
    code, dossier_id = answer.json()["code"], answer.json()["id"]
    # Let the other services learn about the dossier (notify writes its message).
    eventually(
        lambda: httpx.get(
            f"{system['notify'].url}/v1/notifications",
            params={"dossier": code},
            headers=OPS,
            timeout=5,
        ).json()["messages"]
    )

    response = export(intake, citizen_id, OPS)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["complete"] is True
    assert body["sources"] == {"intake": "ok", "notify": "ok", "sla": "ok", "routing": "ok"}
    assert body["requested_by"] == "ops"
    assert body["subject"] == {"citizen_id": citizen_id}
    (dossier,) = body["held_by"]["intake"]["dossiers"]
    assert dossier["code"] == code
    assert dossier["applicant"]["citizen_id"] == citizen_id
    assert dossier["applicant"]["full_name"] == "Nguyễn Thị Lan"
    card = next(d for d in dossier["documents"] if d["type_code"] == "CCCD")
    assert card["sensitive"] is True and card["storage_ref"].endswith(f"{citizen_id}.jpg")
    assert dossier["timeline"][0]["event_type"] == "dossier.received"
    messages = body["held_by"]["notify"]["messages"]
    assert messages and {m["dossier_code"] for m in messages} == {code}
    assert all("history" in m for m in messages)
    assert [d["dossier_id"] for d in body["held_by"]["sla"]["dossiers"]] == [dossier_id]
    assert [w["dossier_id"] for w in body["held_by"]["routing"]["workflows"]] == [dossier_id]
    # Officials appear by role and unit only: their accounts are not the citizen's data.
    assert all("actor" not in a for a in body["held_by"]["routing"]["actions"])

    (row,) = audit_rows(infra, intake, "dsr_export", "*********" + citizen_id[-3:], since)
    assert row["caller"] == "ops" and row["id"] == body["request_id"]
    assert [str(i) for i in row["dossier_ids"]] == [dossier_id]
    details = json.loads(row["details"])
    assert details["sensitive_documents"] == 1
    assert details["reference"] == "Đơn yêu cầu số 12/2026"
    assert citizen_id not in json.dumps(dict(row), default=str)


def test_an_export_for_someone_the_system_does_not_know_is_empty_and_still_audited(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    since = datetime.now(UTC)
    intake, citizen_id = system["intake"], new_citizen_id()
    response = export(intake, citizen_id, OPS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["held_by"] == {"intake": {"dossiers": []}}
    assert body["sources"]["notify"] == "nothing_to_ask" and body["complete"] is True
    assert len(audit_rows(infra, intake, "dsr_export", "*********" + citizen_id[-3:], since)) == 1


def test_the_province_supervisor_may_export_and_an_official_may_not(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]], infra: Infra
) -> None:
    since = datetime.now(UTC)
    intake, routing, citizen_id = system["intake"], system["routing"].url, new_citizen_id()
    assert submit(intake, portals[0]["api_key"], with_identity_card(citizen_id)).status_code == 201
    subject = "*********" + citizen_id[-3:]

    for who in (f"canbo@{COMMUNE}", f"lanhdao@{COMMUNE}"):
        refused = export(intake, citizen_id, bearer(routing, who))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "dossiers" not in refused.text
    assert audit_rows(infra, intake, "dsr_export", subject, since) == []

    allowed = export(intake, citizen_id, bearer(routing, "giamsat"))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["requested_by"] == "operator:giamsat"
    assert [r["caller"] for r in audit_rows(infra, intake, "dsr_export", subject, since)] == [
        "operator:giamsat"
    ]


def test_a_portal_or_another_service_cannot_export_a_citizens_data(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]], infra: Infra
) -> None:
    since = datetime.now(UTC)
    intake, citizen_id = system["intake"], new_citizen_id()
    answer = submit(intake, portals[0]["api_key"], with_identity_card(citizen_id))
    assert answer.status_code == 201, answer.text
    attempts = {
        "the portal's key": ({"X-API-Key": portals[0]["api_key"]}, 401),
        "nothing": ({}, 401),
        "notify's credential": ({"X-Service-Token": NOTIFY_TOKEN}, 403),
        "the console's credential": ({"X-Service-Token": ROUTING_TOKEN}, 403),
        "a made-up credential": ({"X-Service-Token": "dev-ops-token-change-mf"}, 403),
    }
    for what, (headers, status) in attempts.items():
        refused = export(intake, citizen_id, headers)
        assert refused.status_code == status, (what, refused.text)
        assert citizen_id not in refused.text and "Nguyễn" not in refused.text, what
    assert audit_rows(infra, intake, "dsr_export", "*********" + citizen_id[-3:], since) == []


@pytest.mark.parametrize("service", ["notify", "sla", "routing"])
def test_nobody_but_intake_reads_the_other_services_export_endpoints(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]], service: str
) -> None:
    intake = system["intake"]
    answer = submit(intake, portals[0]["api_key"], with_identity_card(new_citizen_id()))
    dossier_id = answer.json()["id"]
    body = {"dossier_ids": [dossier_id], "contact_refs": [dossier_id]}
    for headers in (
        {},
        {"X-Service-Token": OPS_TOKEN},
        {"X-Service-Token": NOTIFY_TOKEN if service != "notify" else ROUTING_TOKEN},
        {"X-API-Key": portals[0]["api_key"]},
    ):
        refused = httpx.post(
            system[service].url + INTERNAL_EXPORT, json=body, headers=headers, timeout=10
        )
        assert refused.status_code == 403, (headers, refused.text)
        assert dossier_id not in refused.text


def documents(intake: ServiceProcess, code: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(f"{intake.url}/v1/dossiers/{code}/documents", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return {d["type_code"]: d for d in response.json()["documents"]}


def test_only_the_submitting_portal_gets_an_identity_documents_storage_reference(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]], infra: Infra
) -> None:
    intake, citizen_id = system["intake"], new_citizen_id()
    own, other = portals
    answer = submit(intake, own["api_key"], with_identity_card(citizen_id))
    code, dossier_id = answer.json()["code"], answer.json()["id"]
    ref = identity_card(citizen_id)["storage_ref"]

    def identity_reads() -> list[Any]:
        return asyncio.run(
            query(
                infra,
                intake,
                "SELECT caller FROM personal_data_access"
                " WHERE action = 'identity_document_read' AND $1::uuid = ANY(dossier_ids)",
                dossier_id,
            )
        )

    # Another portal of the same commune, and the console, try to get the card's image.
    for headers in ({"X-API-Key": other["api_key"]}, {"X-Service-Token": ROUTING_TOKEN}):
        seen = documents(intake, code, headers)
        assert seen["CCCD"]["sensitive"] is True
        assert seen["CCCD"]["storage_ref"] is None
        assert seen["CCCD"]["storage_ref_withheld"] is True
        assert seen["TK_KS"]["storage_ref"] == "s3://dossiers/TK_KS.pdf"
        assert not seen["TK_KS"]["sensitive"]
    assert identity_reads() == []  # nothing sensitive was given out

    seen = documents(intake, code, {"X-API-Key": own["api_key"]})
    assert seen["CCCD"]["storage_ref"] == ref and not seen["CCCD"]["storage_ref_withheld"]
    assert [r["caller"] for r in identity_reads()] == [f"portal:{own['portal_id']}"]

    # The stored document is flagged, and its reference reached no log line and no span.
    stored = asyncio.run(
        query(infra, intake, "SELECT documents FROM dossiers WHERE code = $1", code)
    )
    flags = {d["type_code"]: d["sensitive"] for d in json.loads(stored[0]["documents"])}
    assert flags == {"TK_KS": False, "GCS": False, "CCCD": True}

    def spans_with_ref() -> int:
        rows = asyncio.run(
            query(
                infra,
                intake,
                "SELECT count(*) AS n FROM spans WHERE attributes::text LIKE '%' || $1 || '%'",
                ref,
            )
        )
        return int(rows[0]["n"])

    def document_spans() -> int:
        rows = asyncio.run(
            query(
                infra,
                intake,
                "SELECT count(*) AS n FROM spans WHERE name = 'GET /v1/dossiers/{ref}/documents'",
            )
        )
        return int(rows[0]["n"])

    eventually(lambda: document_spans() >= 3, timeout=15)  # the three reads are recorded
    assert spans_with_ref() == 0
    assert ref not in intake.log_path.read_text(encoding="utf-8", errors="replace")


def test_reads_of_personal_data_are_counted_per_caller(
    system: dict[str, ServiceProcess], portals: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    intake, own = system["intake"], portals[0]
    code = submit(intake, own["api_key"], birth_registration()).json()["code"]
    receipt = httpx.get(
        f"{intake.url}/v1/dossiers/{code}/receipt", headers={"X-API-Key": own["api_key"]}
    )
    assert receipt.status_code == 200, receipt.text
    metrics = httpx.get(f"{intake.url}/metrics", timeout=5).text
    caller = f'personal_data_reads_total{{caller="portal:{own["portal_id"]}"}}'
    assert caller in metrics
    assert "personal_data_purge_last_success_timestamp_seconds" in metrics
