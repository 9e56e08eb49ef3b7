"""Unit tests of form 04 (apology letter) as data and as printable Vietnamese HTML."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from services.sla.domain.apology import ApologyLetter, reason_text, render_html
from services.workcal.calendar import VN_TZ


def letter(**changes: object) -> ApologyLetter:
    values: dict[str, object] = {
        "id": uuid4(),
        "dossier_id": uuid4(),
        "dossier_code": "000.01.01.H99-260302-0007",
        "procedure_code": "1.012603",
        "procedure_name": "Đăng ký biến động quyền sử dụng đất",
        "contact_ref": "ref-1",
        "reason": reason_text("Thẩm định hồ sơ", "Văn phòng Đăng ký đất đai", Decimal("5.25")),
        "responsible_unit": "DK0.00.00.H99",
        "responsible_unit_name": "Văn phòng Đăng ký đất đai tỉnh Hà Sơn",
        "step_name": "Thẩm định hồ sơ",
        "old_appointment_at": datetime(2026, 3, 16, 17, 0, tzinfo=VN_TZ),
        "new_appointment_at": datetime(2026, 3, 18, 17, 0, tzinfo=VN_TZ),
        "signed_by_title": "Thủ trưởng Văn phòng Đăng ký đất đai tỉnh Hà Sơn",
        "issued_at": datetime(2026, 3, 13, 9, 30, tzinfo=VN_TZ),
    }
    values.update(changes)
    return ApologyLetter.model_validate(values)


def test_the_reason_names_the_step_the_unit_and_the_overrun() -> None:
    text = reason_text("Thẩm định hồ sơ", "Văn phòng Đăng ký đất đai", Decimal("5.25"))
    assert "bước “Thẩm định hồ sơ”" in text
    assert "Văn phòng Đăng ký đất đai" in text
    assert "quá 5,3 giờ làm việc" in text  # one decimal, Vietnamese decimal comma


def test_the_letter_prints_every_part_of_form_04_in_vietnamese() -> None:
    page = render_html(letter(), "Nguyễn Thị Lan")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in page
    assert "Mẫu số 04" in page
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in page
    assert "Kính gửi: Ông/Bà Nguyễn Thị Lan" in page
    assert "000.01.01.H99-260302-0007" in page
    assert "Đăng ký biến động quyền sử dụng đất" in page
    assert "17 giờ 00 phút, ngày 16/03/2026" in page  # old appointment
    assert "17 giờ 00 phút, ngày 18/03/2026" in page  # new appointment
    assert "THỦ TRƯỞNG VĂN PHÒNG ĐĂNG KÝ ĐẤT ĐAI TỈNH HÀ SƠN" in page
    assert "ngày 13 tháng 03 năm 2026" in page


def test_the_letter_escapes_what_it_prints_and_leaves_a_blank_for_an_unknown_name() -> None:
    page = render_html(letter(procedure_name="<script>x</script>"), None)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Kính gửi: Ông/Bà &hellip;" in page


def test_the_letter_as_data_holds_no_personal_data() -> None:
    data = letter().model_dump(mode="json")
    assert data["contact_ref"] == "ref-1"
    assert data["signed_by_role"] == "unit_head"
    assert not {"full_name", "phone", "email", "citizen_id"} & set(data)
