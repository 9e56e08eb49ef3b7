"""An iGate-style system pushes dossiers to us in the national portal's sync shape."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import httpx
import pytest

from services.intake.entrypoints.dvcqg import EXAMPLE
from tests.e2e.test_intake_submission import new_portal
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE

pytestmark = pytest.mark.e2e


def push(intake: ServiceProcess, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{intake.url}/v1/dvcqg/DongBoHoSoMC", json=body, headers={"X-API-Key": key}, timeout=10
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def batch(*items: dict[str, Any], updating: str = "False") -> dict[str, Any]:
    return {"service": "DongBoHoSoMC", "isUpdating": updating, "data": list(items)}


def igate_dossier(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(EXAMPLE["data"][0])
    item["MaHoSo"] = f"{COMMUNE}-261122-{secrets.randbelow(9000) + 1000}"
    item.update(changes)
    return item


def test_a_pushed_dossier_is_received_and_a_resend_needs_is_updating(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    item = igate_dossier()
    reply = push(intake, portal["api_key"], batch(item))
    assert reply["error_code"] == "0", reply
    ours = reply["result"][0]["MaHoSoTiepNhan"]
    assert ours.startswith(f"{COMMUNE}-")
    view = httpx.get(
        f"{intake.url}/v1/dossiers/{ours}", headers={"X-API-Key": portal["api_key"]}, timeout=5
    ).json()
    assert view["status"] == 2
    assert view["procedure_code"] == "1.001193"

    again = push(intake, portal["api_key"], batch(item))
    assert again["error_code"] == "-1"
    assert again["result"][0]["message"] == "Hồ sơ đã tồn tại"
    updating = push(intake, portal["api_key"], batch(item, updating="True"))
    assert updating["error_code"] == "0"
    assert updating["result"][0]["MaHoSoTiepNhan"] == ours


def test_each_dossier_of_a_batch_gets_its_own_answer(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    good = igate_dossier()
    incomplete = igate_dossier(TaiLieuNop=[])
    bad_phone = igate_dossier(SoDienThoai="12345")
    reply = push(intake, portal["api_key"], batch(good, incomplete, bad_phone))
    assert reply["error_code"] == "-1"
    assert reply["message"] == "2/3 hồ sơ không đồng bộ được"
    results = {r["MaHoSo"]: r for r in reply["result"]}
    assert results[good["MaHoSo"]]["error_code"] == "0"
    assert results[incomplete["MaHoSo"]]["message"].startswith("Hồ sơ chưa đầy đủ")
    assert "Giấy chứng sinh" in results[incomplete["MaHoSo"]]["message"]
    # Named as the sender calls it; a personal value is not repeated.
    assert results[bad_phone["MaHoSo"]]["message"].startswith("SoDienThoai '***': ")
    assert results[bad_phone["MaHoSo"]]["field"] == "SoDienThoai"


def test_another_service_name_is_answered_like_the_portal_does(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    reply = push(intake, portal["api_key"], {"service": "TraCuuHoSo", "data": []})
    assert reply["error_code"] == "-1"
    assert "TraCuuHoSo" in reply["message"]
