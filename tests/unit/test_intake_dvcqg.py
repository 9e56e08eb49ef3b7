"""Mapping dossiers to and from the national portal's DongBoHoSoMC payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.domain.dvcqg import (
    DvcqgItemError,
    SyncDossier,
    from_dongbo,
    from_stamp,
    to_dongbo,
    to_stamp,
)

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


def test_dates_are_written_in_vietnam_time_whatever_the_input_zone() -> None:
    assert to_stamp(datetime(2026, 11, 21, 23, 30, 5, tzinfo=UTC)) == "20261122063005"
    assert to_stamp(None) == ""
    back = from_stamp("20261122063005")
    assert back == datetime(2026, 11, 21, 23, 30, 5, tzinfo=UTC)


def test_a_malformed_date_is_an_item_error() -> None:
    with pytest.raises(DvcqgItemError):
        from_stamp("2026-11-22")


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


def test_a_portal_payload_maps_back_to_a_submission() -> None:
    incoming = from_dongbo(to_dongbo(dossier()))
    assert incoming.external_code == "000.01.01.H99-261122-0007"
    body = incoming.submission
    assert body.procedure_code == "1.001193"
    assert body.receiving_unit == "000.01.01.H99"  # the agency part of MaHoSo
    assert int(body.channel) == 2
    assert body.applicant.citizen_id == "001190012345"
    assert body.applicant.phone == "0912345678"
    assert [d.type_code for d in body.documents] == ["TK_KS", "GCS"]
    assert body.documents[0].storage_ref == "s3://d/tk.pdf"
    assert [(f.code, f.amount_vnd) for f in body.fees] == [("LP_KS", 8000)]


def test_the_unit_comes_from_ma_don_vi_before_the_envelope_and_the_code() -> None:
    payload = to_dongbo(dossier())
    assert from_dongbo(payload, "000.02.01.H99").submission.receiving_unit == "000.02.01.H99"
    payload["MaDonVi"] = "000.00.01.H99"
    assert from_dongbo(payload, "000.02.01.H99").submission.receiving_unit == "000.00.01.H99"


def test_deleted_attachments_are_not_counted_as_supplied() -> None:
    payload = to_dongbo(dossier())
    payload["TaiLieuNop"][1]["IsDeleted"] = "True"
    assert [d.type_code for d in from_dongbo(payload).submission.documents] == ["TK_KS"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("SoDienThoai", "12345"), ("MaHoSo", ""), ("KenhThucHien", "hai")],
)
def test_an_invalid_item_is_reported_not_raised_as_a_crash(field: str, value: str) -> None:
    payload = to_dongbo(dossier())
    payload[field] = value
    with pytest.raises(DvcqgItemError):
        from_dongbo(payload)


def test_a_missing_12_digit_id_is_reported() -> None:
    payload = to_dongbo(dossier())
    payload["DinhDanhCHS"] = [{"LoaiDinhDanh": "2", "SoDinhDanh": "123456789"}]
    with pytest.raises(DvcqgItemError, match="citizen_id"):
        from_dongbo(payload)
