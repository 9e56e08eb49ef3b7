"""Pure parts of the outbound sync to the national portal: steps, replies, settings."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from services.intake.config import IntakeSettings
from services.intake.domain import dvcqg_shape as shape

AT = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 December in Vietnam
APPOINTMENT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def facts(event_type: str, status: int, **payload: object) -> dict[str, object]:
    return shape.step_facts(event_type, payload, status, AT)


@pytest.mark.parametrize("status", [5, 6, 8])
def test_a_step_keeps_statuses_the_open_clients_flatten(status: int) -> None:
    step = shape.to_step("H99-1", facts("step.claimed", status, actor="u1"), "UBND xã", AT)
    assert step["TrangThai"] == str(status)


def test_a_step_is_in_vietnam_time_and_all_strings() -> None:
    step = shape.to_step("H99-1", facts("step.claimed", 4, actor="u1"), "UBND xã", APPOINTMENT)
    assert step["ThoiDiemXuLy"] == "20261201003000"  # the next day in Vietnam
    assert step["NgayBatDau"] == "20261201003000"
    assert step["NgayKetThucTheoQuyDinh"] == "20261204160000"
    assert all(isinstance(v, str) for v in step.values())
    assert set(step) == {
        "MaHoSo",
        "NguoiXuLy",
        "ChucDanh",
        "ThoiDiemXuLy",
        "PhongBanXuLy",
        "NoiDungXuLy",
        "TrangThai",
        "NgayBatDau",
        "NgayKetThucTheoQuyDinh",
    }


def test_a_step_without_an_official_names_the_unit_within_50_characters() -> None:
    unit = "Ủy ban nhân dân xã Tân Hòa, huyện Lục Ngạn, tỉnh Bắc Giang (bộ phận một cửa)"
    step = shape.to_step("H99-1", facts("step.assigned", 2, step_name="Khai sinh"), unit, AT)
    assert step["NguoiXuLy"] == unit[:50]
    assert step["ChucDanh"] == ""
    assert step["NoiDungXuLy"] == "Chuyển xử lý: Khai sinh"


def test_what_each_routing_event_did_is_worded_in_vietnamese() -> None:
    assert shape.step_content(
        "dossier.supplement_requested", {"missing_documents": ["A", "B"]}
    ) == ("Yêu cầu bổ sung hồ sơ: A, B")
    assert shape.step_content("dossier.stopped", {"reason": "Sai thẩm quyền"}) == (
        "Dừng xử lý: Sai thẩm quyền"
    )
    assert shape.step_content("step.handed_off", {"to_unit": None}) == "Hoàn thành bước xử lý cuối"
    long = shape.step_facts("dossier.refused", {"reason": "x" * 5000}, 3, AT)
    assert len(str(long["content"])) == shape.STEP_CONTENT_MAX


def test_a_closed_dossier_is_resent_with_its_end_dates() -> None:
    item = {"MaHoSo": "H99-1", "NgayKetThucXuLy": "", "NgayTra": ""}
    stopped = shape.with_end_dates(item, 8, AT)
    assert stopped["NgayKetThucXuLy"] == "20261201003000"
    assert stopped["NgayTra"] == ""
    returned = shape.with_end_dates({**item, "NgayKetThucXuLy": "20261130090000"}, 10, AT)
    assert returned["NgayTra"] == "20261201003000"
    assert returned["NgayKetThucXuLy"] == "20261130090000"


@pytest.mark.parametrize("code", ["0", "00", 0])
def test_success_is_error_code_0_or_00(code: object) -> None:
    assert shape.read_reply(shape.SERVICE_STEP, {"error_code": code, "message": ""}).accepted


def test_already_there_counts_as_sent_for_the_dossier_only() -> None:
    nfd = unicodedata.normalize("NFD", "Hồ sơ ĐÃ TỒN TẠI trên hệ thống")
    assert shape.read_reply(shape.SERVICE_DOSSIER, {"error_code": "-1", "message": nfd}).accepted
    step = shape.read_reply(shape.SERVICE_STEP, {"error_code": "-1", "message": "đã tồn tại"})
    assert not step.accepted
    assert step.message == "error_code -1: đã tồn tại"


@pytest.mark.parametrize("reply", [None, [], "ok", {"message": "thiếu mã lỗi"}])
def test_anything_else_is_a_failed_push(reply: object) -> None:
    assert not shape.read_reply(shape.SERVICE_DOSSIER, reply).accepted


def test_the_call_envelope_has_strings_only() -> None:
    body = shape.call_body(shape.SERVICE_DOSSIER, "s1", "000.00.01.H99", [{"MaHoSo": "x"}], True)
    assert body == {
        "session": "s1",
        "madonvi": "000.00.01.H99",
        "service": "DongBoHoSoMC",
        "isUpdating": "True",
        "data": [{"MaHoSo": "x"}],
    }
    assert "isUpdating" not in shape.call_body(shape.SERVICE_STEP, "s1", "m", [])


def test_pushing_is_off_without_a_url_or_when_disabled() -> None:
    assert not IntakeSettings().dvcqg_pushing
    assert IntakeSettings(dvcqg_push_url="http://portal.example").dvcqg_pushing
    assert not IntakeSettings(
        dvcqg_push_url="http://p.example", dvcqg_push_enabled=False
    ).dvcqg_pushing


def problems(**settings: object) -> list[str]:
    return IntakeSettings(environment="production", **settings).insecure_settings()  # type: ignore[arg-type]


def test_production_refuses_to_push_with_default_or_missing_credentials() -> None:
    url = {"dvcqg_push_url": "https://dichvucong.example.vn"}
    assert "DVCQG_PUSH_USERNAME is not set" in problems(**url)
    assert "DVCQG_PUSH_PASSWORD is not set" in problems(**url)
    assert "DVCQG_PUSH_PASSWORD is a known default value" in problems(
        **url, dvcqg_push_username="tinh", dvcqg_push_password="dev-dvcqg-password"
    )
    assert "DVCQG_PUSH_PASSWORD is shorter than 24 characters" in problems(
        **url, dvcqg_push_username="tinh", dvcqg_push_password="ngan-qua"
    )
    good = problems(**url, dvcqg_push_username="tinh", dvcqg_push_password="x7" * 16)
    assert not [p for p in good if p.startswith("DVCQG_")]
    assert not [p for p in problems() if p.startswith("DVCQG_")]  # not pushing: not needed
