"""A dossier received elsewhere comes in through the national portal's sync shape and
keeps its identity and history: read back field by field, updated, re-sent as new, and
sent again by a second portal of the province. See docs/DVCQG.md."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.intake.domain.dvcqg_shape import to_stamp
from services.intake.entrypoints.dvcqg import EXAMPLE
from tests.e2e.test_intake_submission import OTHER_COMMUNE, new_portal
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually

pytestmark = pytest.mark.e2e

RECEIVED = "20261117083000"  # a Tuesday, 08:30 in Vietnam: the clock starts at once
APPOINTMENT = "20261118083000"


def national_dossier(**changes: Any) -> dict[str, Any]:
    """Every field of the reference shape, as a real portal fills them in."""
    item: dict[str, Any] = copy.deepcopy(EXAMPLE["data"][0])
    item.update(
        {
            "MaHoSo": f"{COMMUNE}-261117-{secrets.randbelow(90000) + 10000}",
            "MaLinhVuc": "G09-HT01",
            "TenLinhVuc": "Hộ tịch",
            "MaDoiTuong": "dvcqg-user-42",
            "NgayTiepNhan": RECEIVED,
            "NgayHenTra": APPOINTMENT,
            "TrangThaiHoSo": "4",
            "NgayTra": "",
            "ThongTinTra": "",
            "NgayKetThucXuLy": "",
            "GhiChu": "Tiếp nhận tại bộ phận một cửa xã",
            "ThongTinKhac": "Hồ sơ số hóa",
            "Fax": "",
            "HinhThuc": "1",
            "DonViXuLy": "UBND xã Đông Lâm - Công chức tư pháp hộ tịch",
            "DanhSachLePhi": [
                {
                    "TenPhiLePhi": "Lệ phí đăng ký khai sinh",
                    "MaPhiLePhi": "LP_KS",
                    "HinhThucThu": "1",
                    "Gia": "8000",
                    "LoaiPhiLePhi": "1",
                }
            ],
            "DanhSachTepDinhKemKhac": [
                {"TenGiayTo": "Bản sao giấy đăng ký kết hôn", "SoLuong": "1", "LoaiGiayTo": "2"}
            ],
            "DanhSachHoSoBoSung": [
                {
                    "HoSoBoSungId": "bs-1",
                    "NguoiYeuCauBoSung": "Công chức tư pháp",
                    "NoiDungBoSung": "Bổ sung giấy chứng sinh bản chính",
                    "NgayBoSung": "20261117090000",
                    "NguoiTiepNhanBoSung": "Bộ phận một cửa",
                    "ThongTinTiepNhan": "Đã nhận",
                    "NgayTiepNhanBoSung": "20261117100000",
                    "TrangThaiBoSung": "1",
                    "DanhSachGiayToBoSung": [{"TenGiayTo": "Giấy chứng sinh", "SoLuong": "1"}],
                    "DanhSachLePhiBoSung": [],
                    "NgayHenTraTruoc": APPOINTMENT,
                    "NgayHenTraMoi": "20261118160000",
                }
            ],
            "DanhSachGiayToKetQua": [
                {
                    "TenGiayTo": "Giấy khai sinh",
                    "MaThanhPhanHoSo": "KQ_GKS",
                    "GiayToId": "kq-1",
                    "DuongDanTepTinKetQua": "s3://ket-qua/gks.pdf",
                }
            ],
            "DuocThanhToanTrucTuyen": "3",
            "HoSoCoThanhPhanSoHoa": "1",
            "TaiKhoanDuocXacThucVoiVNeID": "1",
            "NgayTuChoi": "",
            "NgayNopHoSo": "20261117081500",
            # A field the portal added after this code was written: kept as sent.
            "MaHoSoLienThong": "LT-2026-0042",
        }
    )
    item.update(changes)
    return item


def push(
    intake: ServiceProcess, key: str, *items: dict[str, Any], updating: str = "False"
) -> dict[str, Any]:
    response = httpx.post(
        f"{intake.url}/v1/dvcqg/DongBoHoSoMC",
        json={"service": "DongBoHoSoMC", "isUpdating": updating, "data": list(items)},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def one(reply: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = reply["result"][0]
    return result


def read_back(intake: ServiceProcess, key: str, ma_ho_so: str) -> httpx.Response:
    return httpx.get(
        f"{intake.url}/v1/dvcqg/dossiers/{ma_ho_so}", headers={"X-API-Key": key}, timeout=10
    )


def history(intake: ServiceProcess, key: str, ma_ho_so: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{intake.url}/v1/dvcqg/dossiers/{ma_ho_so}/history",
        headers={"X-API-Key": key},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    revisions: list[dict[str, Any]] = response.json()["revisions"]
    return revisions


def view(intake: ServiceProcess, key: str, ref: str) -> dict[str, Any]:
    response = httpx.get(f"{intake.url}/v1/dossiers/{ref}", headers={"X-API-Key": key}, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def routed(intake: ServiceProcess, key: str, ref: str) -> dict[str, Any]:
    """The dossier once routing assigned its step and SLA opened both deadlines."""
    return eventually(
        lambda: (
            v
            if len((v := view(intake, key, ref))["deadlines"]) == 2
            and any(e["event_type"] == "step.assigned" for e in v["timeline"])
            else None
        ),
        timeout=60,
    )


# What the read-back changes, and why; every other field comes back exactly as sent.
# The same table is in docs/DVCQG.md.
TRANSFORMS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "TaiLieuNop": (
        "entries sent with IsDeleted 'True' are not papers of the dossier: left out",
        lambda papers: [p for p in papers if p["IsDeleted"] != "True"],
    ),
}


def test_a_national_dossier_reads_back_field_by_field(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    sent = national_dossier()
    sent["TaiLieuNop"].append(
        {
            "TepDinhKemId": "tep-old",
            "TenTepDinhKem": "Tờ khai cũ",
            "IsDeleted": "True",
            "MaThanhPhanHoSo": "1.001193-TP01",
            "DuongDanTaiTepTin": "s3://dossiers/tk-cu.pdf",
        }
    )
    reply = push(intake, key, sent)
    assert reply["error_code"] == "0", reply
    ours = one(reply)["MaHoSoTiepNhan"]
    assert ours.startswith(f"{COMMUNE}-261117-")  # numbered on its own received day

    response = read_back(intake, key, sent["MaHoSo"])
    assert response.status_code == 200, response.text
    back = response.json()
    assert set(back) == set(sent)
    for name, value in sent.items():
        expected = TRANSFORMS[name][1](value) if name in TRANSFORMS else value
        assert back[name] == expected, name
    # Our code finds the same dossier, in the same shape.
    assert read_back(intake, key, ours).json() == back


def test_a_synced_dossier_is_routed_and_its_deadline_counts_from_its_real_received_time(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    sent = national_dossier()
    ours = one(push(intake, key, sent))["MaHoSoTiepNhan"]
    seen = routed(intake, key, sent["MaHoSo"])  # found by its MaHoSo as well as ours
    assert seen["code"] == ours
    assert seen["received_at"] == "2026-11-17T08:30:00+07:00"
    assert seen["clock_started_at"] == "2026-11-17T08:30:00+07:00"
    assert seen["appointment_at"] == "2026-11-18T08:30:00+07:00"  # NgayHenTra, kept
    by_kind = {d["kind"]: d for d in seen["deadlines"]}
    assert by_kind["dossier"]["starts_at"] == "2026-11-17T08:30:00+07:00"
    assert by_kind["dossier"]["due_at"] == "2026-11-18T08:30:00+07:00"
    # Routing took it as received then: the commune's step starts at the received time.
    assert by_kind["step"]["starts_at"] == "2026-11-17T08:30:00+07:00"
    assert by_kind["step"]["unit_code"] == COMMUNE
    received = next(e for e in seen["timeline"] if e["event_type"] == "dossier.received")
    assert received["occurred_at"] == "2026-11-17T08:30:00+07:00"


def test_an_appointment_not_sent_is_computed_from_the_received_time(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    sent = national_dossier(NgayHenTra="", KenhThucHien="1")
    push(intake, key, sent)
    # Birth registration: 8 working hours from Tuesday 08:30 is Wednesday 08:30.
    assert read_back(intake, key, sent["MaHoSo"]).json()["NgayHenTra"] == "20261118083000"


def test_an_update_is_applied_with_its_history_and_the_status_only_moves_forward(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    portal = new_portal(intake, [COMMUNE])
    key = portal["api_key"]
    sent = national_dossier()
    ours = one(push(intake, key, sent))["MaHoSoTiepNhan"]
    routed(intake, key, ours)  # routing's own status events are in before the update

    supplement = copy.deepcopy(sent["DanhSachHoSoBoSung"][0])
    supplement.update(HoSoBoSungId="bs-2", NgayHenTraMoi="20261126160000")
    changed = national_dossier(
        MaHoSo=sent["MaHoSo"],
        TrangThaiHoSo="5",
        NgayHenTra="20261126160000",
        GhiChu="Yêu cầu bổ sung lần 2",
        SoDienThoai="0987654321",
        DanhSachHoSoBoSung=[*sent["DanhSachHoSoBoSung"], supplement],
    )
    answer = one(push(intake, key, changed, updating="True"))
    assert answer["error_code"] == "0", answer
    assert answer["MaHoSoTiepNhan"] == ours
    assert answer["message"].startswith("Cập nhật thành công: ")

    back = read_back(intake, key, sent["MaHoSo"]).json()
    assert back["TrangThaiHoSo"] == "5"
    assert back["NgayHenTra"] == "20261126160000"
    assert back["GhiChu"] == "Yêu cầu bổ sung lần 2"
    assert back["SoDienThoai"] == "0987654321"
    assert back["DanhSachHoSoBoSung"] == changed["DanhSachHoSoBoSung"]
    assert back["NgayTiepNhan"] == RECEIVED
    assert view(intake, key, ours)["appointment_at"] == "2026-11-26T16:00:00+07:00"

    [revision] = history(intake, key, sent["MaHoSo"])
    assert revision["portal_id"] == portal["portal_id"]
    assert len(revision["at"]) == 14
    fields = {c["field"]: c for c in revision["changes"]}
    assert set(fields) == {
        "TrangThaiHoSo",
        "NgayHenTra",
        "GhiChu",
        "SoDienThoai",
        "DanhSachHoSoBoSung",
    }
    assert fields["TrangThaiHoSo"] == {"field": "TrangThaiHoSo", "before": "4", "after": "5"}
    assert fields["NgayHenTra"]["before"] == APPOINTMENT
    assert fields["SoDienThoai"] == {"field": "SoDienThoai", "changed": True}  # no values
    updated = [e for e in view(intake, key, ours)["timeline"] if e["event_type"] == "dvcqg.updated"]
    assert len(updated) == 1 and "SoDienThoai" in updated[0]["details"]["fields"]

    # A late re-send of an older state does not move the status back.
    stale = national_dossier(**{**changed, "TrangThaiHoSo": "2"})
    answer = one(push(intake, key, stale, updating="True"))
    assert answer["error_code"] == "0"
    assert "TrangThaiHoSo '2' không áp dụng" in answer["message"]
    assert answer["message"].startswith("Không có thay đổi")
    assert read_back(intake, key, sent["MaHoSo"]).json()["TrangThaiHoSo"] == "5"
    assert len(history(intake, key, sent["MaHoSo"])) == 1


def test_an_update_may_not_change_the_received_time_and_changes_nothing_when_refused(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    sent = national_dossier()
    push(intake, key, sent)
    before = read_back(intake, key, sent["MaHoSo"]).json()
    moved = {**sent, "NgayTiepNhan": "20261118083000", "GhiChu": "đổi"}
    answer = one(push(intake, key, moved, updating="True"))
    assert answer["error_code"] == "-1"
    assert answer["field"] == "NgayTiepNhan" and answer["value"] == "20261118083000"
    assert "không được thay đổi" in answer["message"]
    assert read_back(intake, key, sent["MaHoSo"]).json() == before
    assert history(intake, key, sent["MaHoSo"]) == []


def test_a_known_dossier_sent_as_new_is_answered_with_our_code(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    sent = national_dossier()
    ours = one(push(intake, key, sent))["MaHoSoTiepNhan"]
    again = one(push(intake, key, sent))
    assert again["error_code"] == "-1"  # as the national portal does: clients re-send
    assert again["message"] == "Hồ sơ đã tồn tại"  # with isUpdating "True" on this
    assert again["MaHoSoTiepNhan"] == ours
    # Another dossier that happens to carry the same number is not taken for this one.
    other = {**sent, "NgayTiepNhan": "20261116083000", "NgayHenTra": "20261117083000"}
    clash = one(push(intake, key, other))
    assert clash["error_code"] == "-1" and clash["field"] == "MaHoSo"
    assert f"đã dùng cho hồ sơ {ours}" in clash["message"]


def test_one_ma_ho_so_is_one_dossier_across_the_provinces_portals(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    first = new_portal(intake, [COMMUNE])
    second = new_portal(intake, [COMMUNE, OTHER_COMMUNE])
    sent = national_dossier()
    ours = one(push(intake, first["api_key"], sent))["MaHoSoTiepNhan"]

    again = one(push(intake, second["api_key"], sent))
    assert again["MaHoSoTiepNhan"] == ours and again["message"] == "Hồ sơ đã tồn tại"
    update = one(push(intake, second["api_key"], {**sent, "GhiChu": "từ cổng 2"}, updating="True"))
    assert update["error_code"] == "0" and update["MaHoSoTiepNhan"] == ours
    assert read_back(intake, first["api_key"], sent["MaHoSo"]).json()["GhiChu"] == "từ cổng 2"
    assert [r["portal_id"] for r in history(intake, first["api_key"], sent["MaHoSo"])] == [
        second["portal_id"]
    ]


def test_two_portals_sending_the_same_new_dossier_at_once_get_one_dossier(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    keys = [new_portal(intake, [COMMUNE])["api_key"] for _ in range(4)]
    sent = national_dossier()
    with ThreadPoolExecutor(len(keys)) as pool:
        answers = list(pool.map(lambda k: one(push(intake, k, sent)), keys))
    assert len({a["MaHoSoTiepNhan"] for a in answers}) == 1, answers
    assert sorted(a["message"] for a in answers) == ["Hồ sơ đã tồn tại"] * 3 + [
        "Tiếp nhận thành công"
    ]


def test_a_portal_of_another_unit_can_neither_send_nor_read_the_dossier(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    outsider = new_portal(intake, [OTHER_COMMUNE])["api_key"]
    sent = national_dossier()
    push(intake, key, sent)
    before = read_back(intake, key, sent["MaHoSo"]).json()

    answer = one(push(intake, outsider, {**sent, "GhiChu": "sửa trái phép"}, updating="True"))
    assert answer["error_code"] == "-1"
    assert answer["field"] == "MaHoSo" and answer["value"] == sent["MaHoSo"]
    assert "không được phép" in answer["message"]
    # Claiming the outsider's own unit for it does not reach the dossier either.
    claimed = {**sent, "MaDonVi": OTHER_COMMUNE, "GhiChu": "sửa trái phép"}
    answer = one(push(intake, outsider, claimed, updating="True"))
    assert answer["error_code"] == "-1" and "MaHoSoTiepNhan" not in answer
    assert read_back(intake, key, sent["MaHoSo"]).json() == before
    assert history(intake, key, sent["MaHoSo"]) == []
    assert read_back(intake, outsider, sent["MaHoSo"]).status_code == 404
    assert httpx.get(f"{intake.url}/v1/dvcqg/dossiers/{sent['MaHoSo']}", timeout=5).status_code == (
        401
    )


def test_the_portals_look_up_answers_the_dossier_in_its_sync_shape(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    outsider = new_portal(intake, [OTHER_COMMUNE])["api_key"]
    sent = national_dossier()
    push(intake, key, sent)

    def look_up(api_key: str, mahoso: str) -> dict[str, Any]:
        response = httpx.post(
            f"{intake.url}/v1/dvcqg/TraCuuHoSo",
            json={"service": "TraCuuHoSo", "mahoso": mahoso, "madonvi": COMMUNE},
            headers={"X-API-Key": api_key},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    found = look_up(key, sent["MaHoSo"])
    assert found["error_code"] == "0"
    assert found["result"] == [read_back(intake, key, sent["MaHoSo"]).json()]
    assert look_up(key, f"{COMMUNE}-261117-00000")["result"] == []
    assert look_up(outsider, sent["MaHoSo"])["result"] == []  # as if it did not exist


def test_a_refusal_names_the_unknown_receiving_agency(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    answer = one(push(intake, key, national_dossier(MaHoSo="000.77.01.H99-261117-0001")))
    assert answer["error_code"] == "-1"
    assert answer["field"] == "MaHoSo" and answer["value"] == "000.77.01.H99-261117-0001"
    assert "'000.77.01.H99'" in answer["message"]
    assert "không có trong danh mục đơn vị" in answer["message"]


def test_a_dossier_received_here_reads_back_in_the_same_shape_under_our_code(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"]
    key = new_portal(intake, [COMMUNE])["api_key"]
    response = httpx.post(
        f"{intake.url}/v1/dossiers",
        json=birth_registration(),
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    item = read_back(intake, key, receipt["code"]).json()
    assert item["MaHoSo"] == receipt["code"]
    assert item["MaTTHC"] == "1.001193"
    assert (item["MaLinhVuc"], item["TenLinhVuc"]) == ("ho_tich", "Hộ tịch")  # reference data
    assert item["NgayTiepNhan"] == to_stamp(datetime.fromisoformat(receipt["received_at"]))
    assert item["NgayHenTra"] == to_stamp(datetime.fromisoformat(receipt["appointment_at"]))
    assert [p["MaThanhPhanHoSo"] for p in item["TaiLieuNop"]] == ["TK_KS", "GCS"]
    assert item["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "001190012345"}]
    # The national portal sending our own dossier back as new gets our code, not a copy.
    again = one(push(intake, key, item))
    assert again["message"] == "Hồ sơ đã tồn tại"
    assert again["MaHoSoTiepNhan"] == receipt["code"]
