"""Mapping dossiers to and from the national portal's DongBoHoSoMC payload (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.events import DossierStatus as S
from services.intake.catalog_source import intake_catalog
from services.intake.domain import dvcqg
from services.intake.domain.dvcqg import ItemRefused, incoming, read_item
from services.intake.domain.dvcqg_shape import (
    FORWARD,
    SyncDossier,
    changes,
    from_stamp,
    moves_forward,
    reachable_from,
    status_from_national,
    to_dongbo,
    to_stamp,
)
from services.intake.entrypoints.dvcqg import EXAMPLE

CATALOG = intake_catalog("three_level")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COMMUNE = "000.01.01.H99"

APPLICANT = {
    "kind": "citizen",
    "full_name": "Nguyễn Thị Lan",
    "citizen_id": "001190012345",
    "phone": "0912345678",
    "email": "lan.nguyen@example.vn",
}


def dossier(**changes: Any) -> SyncDossier:
    base: dict[str, Any] = {
        "code": "000.01.01.H99-261122-0007",
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "field_code": "ho_tich",
        "field_name": "Hộ tịch",
        "channel": 2,
        "applicant": APPLICANT,
        "summary": "Đăng ký khai sinh cho con",
        # 23:30 UTC is already the next day in Vietnam.
        "received_at": datetime(2026, 11, 21, 23, 30, 5, tzinfo=UTC),
        "appointment_at": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        "status": 4,
        "unit_name": "Ủy ban nhân dân xã Đông Lâm",
        "documents": [
            {"type_code": "TK_KS", "name": "Tờ khai", "storage_ref": "s3://d/tk.pdf"},
            {"type_code": "GCS", "name": "Giấy chứng sinh", "storage_ref": "s3://d/gcs.pdf"},
        ],
        "fees": [{"code": "LP_KS", "amount_vnd": 8000}],
    }
    return SyncDossier(**{**base, **changes})


def example(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(EXAMPLE["data"][0])
    item.update(changes)
    return item


def take(item: dict[str, Any], envelope_unit: str | None = None) -> dvcqg.Incoming:
    return incoming(read_item(item), envelope_unit, CATALOG, NOW)


def refusal(item: dict[str, Any], envelope_unit: str | None = None) -> ItemRefused:
    with pytest.raises(ItemRefused) as refused:
        take(item, envelope_unit)
    return refused.value


# ------------------------------------------------------------------ dates and statuses


def test_dates_are_written_in_vietnam_time_whatever_the_input_zone() -> None:
    assert to_stamp(datetime(2026, 11, 21, 23, 30, 5, tzinfo=UTC)) == "20261122063005"
    assert to_stamp(None) == ""
    back = from_stamp("20261122063005")
    assert back == datetime(2026, 11, 21, 23, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["2026-11-22", "20261322083000", "2026112208300０"])
def test_a_malformed_date_is_refused_naming_the_field_and_the_value(stamp: str) -> None:
    refused = refusal(example(NgayTiepNhan=stamp))
    assert refused.field == "NgayTiepNhan"
    assert refused.value == stamp
    assert refused.message.startswith(f"NgayTiepNhan '{stamp}': ")
    assert "yyyyMMddHHmmss" in refused.message


def test_statuses_map_to_ours_with_new_registration_received_on_arrival() -> None:
    assert status_from_national(1) is S.RECEIVED
    for code in range(2, 11):
        assert status_from_national(code) == code


def test_the_status_only_moves_forward_or_between_the_statuses_of_work_in_progress() -> None:
    assert moves_forward(2, 4) and moves_forward(4, 5) and moves_forward(5, 4)
    assert moves_forward(6, 9) and moves_forward(9, 10)
    assert not moves_forward(4, 2)
    assert not moves_forward(9, 4)
    for ended in (3, 7, 8, 10):
        assert FORWARD[S(ended)] == frozenset()


def test_routings_events_move_a_synced_dossier_only_from_where_they_may() -> None:
    # Routing's first assignment says 2; a dossier synced while being processed stays 4.
    assert 4 not in reachable_from(2)
    assert reachable_from(4) == [1, 2, 4, 5, 6]
    assert 9 in reachable_from(10) and 10 not in reachable_from(7)
    assert not {3, 7, 8, 9, 10} & set(reachable_from(4))  # nothing comes back from there


# --------------------------------------------------------------------- the item builder


def test_a_dossier_maps_to_the_fields_the_portal_expects_all_as_strings() -> None:
    payload = to_dongbo(dossier())
    assert payload["MaHoSo"] == "000.01.01.H99-261122-0007"
    assert payload["MaTTHC"] == "1.001193"
    assert payload["MaLinhVuc"] == "ho_tich"
    assert payload["TenLinhVuc"] == "Hộ tịch"
    assert payload["KenhThucHien"] == "2"
    assert payload["TrangThaiHoSo"] == "4"
    assert payload["NgayTiepNhan"] == "20261122063005"
    assert payload["NgayHenTra"] == "20261123170000"
    assert payload["NgayKetThucXuLy"] == ""
    assert payload["LoaiDoiTuong"] == "1"
    assert payload["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "001190012345"}]
    assert [d["MaThanhPhanHoSo"] for d in payload["TaiLieuNop"]] == ["TK_KS", "GCS"]
    assert payload["DanhSachLePhi"][0]["Gia"] == "8000"

    def strings_only(value: Any) -> bool:
        if isinstance(value, dict):
            return all(strings_only(v) for v in value.values())
        if isinstance(value, list):
            return all(strings_only(v) for v in value)
        return isinstance(value, str)

    assert strings_only(payload)


def test_statuses_5_6_and_8_are_sent_as_they_are_not_flattened_to_9() -> None:
    for status in (5, 6, 8):
        assert to_dongbo(dossier(status=status))["TrangThaiHoSo"] == str(status)


def test_a_business_applicant_is_loai_doi_tuong_2() -> None:
    business = {**APPLICANT, "kind": "business"}
    assert to_dongbo(dossier(applicant=business))["LoaiDoiTuong"] == "2"


def test_a_synced_dossier_keeps_what_was_sent_but_intake_owns_its_own_fields() -> None:
    national = {"MaLinhVuc": "G09-HT", "TenLinhVuc": "Hộ tịch (quốc gia)", "GhiChu": "ghi chú"}
    # A sent status or code would never override intake's own.
    national |= {"TrangThaiHoSo": "1", "MaHoSo": "other"}
    payload = to_dongbo(dossier(national=national, ma_ho_so="H22.99-261122-0001"))
    assert payload["MaLinhVuc"] == "G09-HT"
    assert payload["TenLinhVuc"] == "Hộ tịch (quốc gia)"
    assert payload["GhiChu"] == "ghi chú"
    assert payload["TrangThaiHoSo"] == "4"
    assert payload["MaHoSo"] == "H22.99-261122-0001"


def test_a_withheld_file_path_is_not_shown_but_the_paper_is() -> None:
    sent = {"TepDinhKemId": "t1", "MaThanhPhanHoSo": "CCCD", "DuongDanTaiTepTin": "s3://x"}
    doc = {"type_code": "CCCD", "name": "Căn cước", "storage_ref": None, "dvcqg": sent}
    entry = to_dongbo(dossier(documents=[doc]))["TaiLieuNop"][0]
    assert entry["DuongDanTaiTepTin"] == ""
    assert entry["TepDinhKemId"] == "t1"
    assert entry["MaThanhPhanHoSo"] == "CCCD"


# ------------------------------------------------------------------------ the inbound


def test_a_portal_item_is_read_with_its_own_times_status_and_code() -> None:
    d = take(example())
    assert d.ma_ho_so == "000.01.01.H99-260303-9001"
    assert d.received_at == datetime(2026, 3, 3, 1, 30, tzinfo=UTC)  # 08:30 in Vietnam
    assert d.appointment_at == datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
    assert d.status is S.RECEIVED  # sent as 1 (Mới đăng ký)
    body = d.submission
    assert body.procedure_code == "1.001193"
    assert body.receiving_unit == COMMUNE  # the agency part of MaHoSo
    assert int(body.channel) == 2
    assert body.applicant.citizen_id == "001190012345"
    assert d.national["MaLinhVuc"] == "G09-HT"
    assert d.applicant["identity_documents"] == [
        {"LoaiDinhDanh": "1", "SoDinhDanh": "001190012345"}
    ]
    # Personal values are not kept twice: they are in the applicant only.
    assert not {"ChuHoSo", "SoDienThoai", "Email", "DinhDanhCHS"} & set(d.national)


def test_national_component_codes_map_to_the_procedures_documents() -> None:
    d = take(example())
    assert [x["type_code"] for x in d.documents] == ["TK_KS", "GCS"]
    assert [x["dvcqg"]["MaThanhPhanHoSo"] for x in d.documents] == [
        "1.001193-TP01",
        "1.001193-TP02",
    ]
    assert [x.type_code for x in d.submission.documents] == ["TK_KS", "GCS"]


def test_our_own_document_codes_are_understood_too_and_unknown_papers_kept_as_sent() -> None:
    item = example()
    item["TaiLieuNop"][0]["MaThanhPhanHoSo"] = "TK_KS"
    item["TaiLieuNop"].append(
        {"TepDinhKemId": "tep-3", "TenTepDinhKem": "Ảnh", "MaThanhPhanHoSo": "ANH_KHAC"}
    )
    assert [x["type_code"] for x in take(item).documents] == ["TK_KS", "GCS", "ANH_KHAC"]


def test_a_missing_paper_is_named_with_its_national_code() -> None:
    item = example()
    del item["TaiLieuNop"][1]
    refused = refusal(item)
    assert refused.field == "TaiLieuNop"
    assert refused.message.startswith("Hồ sơ chưa đầy đủ: TaiLieuNop '1 thành phần': thiếu ")
    assert "Giấy chứng sinh" in refused.message
    assert "(MaThanhPhanHoSo '1.001193-TP02')" in refused.message


def test_deleted_attachments_are_not_counted_as_supplied() -> None:
    item = example()
    item["TaiLieuNop"][1]["IsDeleted"] = "True"
    assert "1.001193-TP02" in refusal(item).message


def test_the_unit_is_ma_don_vi_then_the_agency_in_ma_ho_so_then_the_envelope() -> None:
    assert take(example(), "000.02.01.H99").unit.code == COMMUNE
    other = "000.02.01.H99"  # xã Đông Phú
    assert take(example(MaDonVi=other), COMMUNE).unit.code == other
    foreign = example(MaHoSo="H22.99-260303-0001")
    assert take(foreign, other).unit.code == other
    assert take(foreign, other).unit_field == "madonvi"


def test_an_unknown_receiving_agency_is_refused_naming_it() -> None:
    refused = refusal(example(MaHoSo="000.77.01.H99-260303-0001"), "000.66.01.H99")
    assert refused.field == "MaHoSo"
    assert refused.value == "000.77.01.H99-260303-0001"
    assert "đơn vị tiếp nhận '000.77.01.H99'" in refused.message
    assert "madonvi '000.66.01.H99' cũng không có" in refused.message
    unknown = refusal(example(MaDonVi="000.99.01.H99"))
    assert unknown.message == "MaDonVi '000.99.01.H99': đơn vị không có trong danh mục đơn vị"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("SoDienThoai", "12345", "SoDienThoai"),
        ("MaHoSo", "", "MaHoSo"),
        ("KenhThucHien", "hai", "KenhThucHien"),
        ("MaTTHC", "9.999999", "MaTTHC"),
        ("TrangThaiHoSo", "11", "TrangThaiHoSo"),
        ("Email", "không-phải-email", "Email"),
        ("NgayTiepNhan", "", "NgayTiepNhan"),
    ],
)
def test_an_invalid_item_is_refused_naming_the_field_not_raised_as_a_crash(
    field: str, value: str, named: str
) -> None:
    refused = refusal(example(**{field: value}))
    assert refused.field == named
    assert refused.message.startswith(f"{named} '")


def test_personal_values_are_masked_in_a_refusal() -> None:
    refused = refusal(example(SoDienThoai="12345"))
    assert refused.message.startswith("SoDienThoai '***': ")
    assert "12345" not in refused.message


def test_a_fee_with_letters_in_its_amount_is_named_by_its_place() -> None:
    item = example(DanhSachLePhi=[{"MaPhiLePhi": "LP", "Gia": "8.000đ"}])
    assert refusal(item).field == "DanhSachLePhi[0].Gia"


def test_a_missing_12_digit_id_is_refused_naming_dinh_danh_chs() -> None:
    refused = refusal(example(DinhDanhCHS=[{"LoaiDinhDanh": "2", "SoDinhDanh": "123456789"}]))
    assert refused.field == "DinhDanhCHS"
    assert "12 chữ số" in refused.message


def test_received_in_the_future_or_an_appointment_before_receipt_is_refused() -> None:
    assert refusal(example(NgayTiepNhan="20261202090000")).field == "NgayTiepNhan"
    early = refusal(example(NgayHenTra="20260303080000"))
    assert early.field == "NgayHenTra"
    assert "trước thời điểm tiếp nhận 20260303083000" in early.message


def test_an_appointment_not_sent_is_left_to_intake_to_compute() -> None:
    assert take(example(NgayHenTra="")).appointment_at is None


def test_null_values_are_read_as_not_sent_and_numbers_as_their_text() -> None:
    d = take(example(GhiChu=None, KenhThucHien=1, DanhSachLePhi=[{"MaPhiLePhi": "LP", "Gia": 5}]))
    assert "GhiChu" not in d.national
    assert int(d.submission.channel) == 1
    assert d.national["DanhSachLePhi"] == [{"MaPhiLePhi": "LP", "Gia": "5"}]


def test_fields_the_model_does_not_name_are_kept_as_sent() -> None:
    d = take(example(MaHoSoCu="000.01.01.H99-250101-0001", ThongTinMoi={"a": ["b", 1]}))
    assert d.national["MaHoSoCu"] == "000.01.01.H99-250101-0001"
    assert d.national["ThongTinMoi"] == {"a": ["b", 1]}
    refused = refusal(example(ThongTinMoi={"a": "\x00"}))
    assert refused.field == "ThongTinMoi"
    assert refused.reason == "chứa ký tự không lưu được (NUL hoặc ký tự Unicode lẻ)"


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_postgresql_cannot_store_is_refused_in_vietnamese(text: str) -> None:
    refused = refusal(example(GhiChu=text))
    assert refused.field == "GhiChu"
    assert "không lưu được" in refused.reason
    # What is repeated back can be sent as JSON in UTF-8.
    assert "\x00" not in refused.message
    refused.message.encode("utf-8")


@pytest.mark.parametrize("status", ["3", "7", "8", "9", "10"])
def test_a_dossier_already_ended_is_not_taken_as_new(status: str) -> None:
    d = take(example(TrangThaiHoSo=status))
    with pytest.raises(ItemRefused) as refused:
        dvcqg.check_new(d)
    assert refused.value.field == "TrangThaiHoSo"
    assert refused.value.value == status


# ---------------------------------------------------------------------------- updates


def stored(d: dvcqg.Incoming, status: int = 2) -> dict[str, Any]:
    """The row intake would have stored for this item (JSON decoded)."""
    return {
        "id": "x",
        "code": "000.01.01.H99-260303-0001",
        "external_code": d.ma_ho_so,
        "procedure_code": d.procedure.code,
        "receiving_unit": d.unit.code,
        "current_unit": d.unit.code,
        "channel": int(d.submission.channel),
        "applicant": d.applicant,
        "request": {"summary": d.submission.summary, "conditions": []},
        "received_at": d.received_at,
        "appointment_at": d.appointment_at,
        "status": status,
        "documents": d.documents,
        "fees": [f.model_dump(mode="json") for f in d.submission.fees],
        "dvcqg": d.national,
    }


NAMES = dvcqg.names_of(CATALOG, "1.001193", COMMUNE)


def test_an_update_lists_what_changed_with_personal_values_left_out() -> None:
    row = stored(take(example()))
    update = dvcqg.plan_update(
        row, take(example(GhiChu="Đã bổ sung", SoDienThoai="0987654321", TrangThaiHoSo="4")), NAMES
    )
    recorded = {c["field"]: c for c in update.recorded()}
    assert set(recorded) == {"GhiChu", "SoDienThoai", "TrangThaiHoSo"}
    assert recorded["GhiChu"] == {"field": "GhiChu", "before": "", "after": "Đã bổ sung"}
    assert recorded["SoDienThoai"] == {"field": "SoDienThoai", "changed": True}
    assert recorded["TrangThaiHoSo"]["after"] == "4"
    assert update.status == 4 and update.status_kept is None


def test_an_update_never_moves_the_status_back() -> None:
    row = stored(take(example()), status=9)
    update = dvcqg.plan_update(row, take(example(TrangThaiHoSo="4")), NAMES)
    assert update.status == 9
    assert update.status_kept == 4
    assert update.changes == []
    assert "TrangThaiHoSo '4' không áp dụng" in dvcqg.kept_status_note(update, 9)


def test_the_same_item_again_changes_nothing() -> None:
    d = take(example())
    assert dvcqg.plan_update(stored(d), d, NAMES).changes == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "MaTTHC": "1.004873",
                "TaiLieuNop": [
                    {"TepDinhKemId": f"t{n}", "MaThanhPhanHoSo": f"1.004873-TP0{n}"} for n in (1, 2)
                ],
            },
            "MaTTHC",
        ),
        ({"NgayTiepNhan": "20260303090000"}, "NgayTiepNhan"),
        ({"MaDonVi": "000.02.01.H99"}, "MaDonVi"),
    ],
)
def test_an_update_may_not_change_what_identifies_the_dossier(
    change: dict[str, Any], field: str
) -> None:
    row = stored(take(example()))
    with pytest.raises(ItemRefused) as refused:
        dvcqg.plan_update(row, take(example(**change)), NAMES)
    assert refused.value.field == field
    assert "không được thay đổi" in refused.value.reason


def test_a_known_code_sent_as_new_must_be_the_same_dossier() -> None:
    row = stored(take(example()))
    dvcqg.same_dossier(row, take(example()))
    # A dossier received here has a received time finer than the portal's seconds.
    row["received_at"] = row["received_at"].replace(microsecond=250_000)
    dvcqg.same_dossier(row, take(example()))
    assert dvcqg.plan_update(row, take(example()), NAMES).changes == []
    with pytest.raises(ItemRefused) as refused:
        dvcqg.same_dossier(row, take(example(NgayTiepNhan="20260302083000")))
    assert refused.value.field == "MaHoSo"
    assert "đã dùng cho hồ sơ 000.01.01.H99-260303-0001" in refused.value.reason


def test_changes_compare_field_by_field() -> None:
    assert [c.field for c in changes({"A": "1", "B": [1]}, {"A": "1", "B": [2], "C": ""})] == [
        "B",
        "C",
    ]


def test_the_pure_round_trip_gives_back_what_was_sent() -> None:
    item = example(GhiChu="ghi chú", DanhSachLePhi=[{"MaPhiLePhi": "LP", "Gia": "8000"}])
    d = take(item)
    back = to_dongbo(dvcqg.sync_dossier(stored(d), NAMES))
    # Named transforms (docs/DVCQG.md): status 1 is 2 once received.
    assert back.pop("TrangThaiHoSo") == "2"
    sent = {k: v for k, v in item.items() if k != "TrangThaiHoSo"}
    assert {k: back[k] for k in sent} == sent
