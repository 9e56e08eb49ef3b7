"""Vietnamese templates: every event on every channel, versions, provider ids, errors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from services.notify.domain import catalog
from services.notify.domain.catalog import DEFAULT_CATALOG
from services.notify.domain.sms_text import SmsEncoding
from services.notify.domain.templates import (
    Channel,
    InvalidParamError,
    MissingParamsError,
    UnknownTemplateError,
    render,
    validate_catalog,
)

CODE = "000.00.01.H22-251103-0007"
# The short signed link a message carries (a 40-character token, domain/opt_out_link.py).
LINK = "https://dvc.hason.gov.vn/o/" + "Ab0-_" * 8
SAMPLE_PARAMS: dict[str, dict[str, object]] = {
    catalog.RECEIVED: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký khai sinh",
        "appointment_date": date(2025, 11, 6),
    },
    catalog.SUPPLEMENT_REQUESTED: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký thường trú",
        "missing_papers": ["Bản sao giấy khai sinh", "Tờ khai thay đổi thông tin cư trú"],
    },
    catalog.OBLIGATION_REQUESTED: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký biến động đất đai",
        "amount": 1_250_000,
    },
    catalog.RESULT_READY: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký khai sinh",
        # The signed rating link (a 39-character token, domain/rating.py), version 3.
        "rating_url": "https://dvc.hason.gov.vn/d/" + "Ab0-_" * 7 + "Ab0-",
    },
    catalog.APOLOGY_ISSUED: {
        "citizen_name": "Nguyễn Thị Hoa",
        "dossier_code": CODE,
        "procedure_name": "Cấp giấy chứng nhận quyền sử dụng đất",
        "reason": "chờ kết quả xác minh nguồn gốc đất",
        "responsible_unit": "Văn phòng đăng ký đất đai",
        "new_appointment_date": "2025-11-20",
    },
    catalog.REFUSED: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký kết hôn",
        "reason": "thủ tục không thuộc thẩm quyền của UBND xã",
    },
    catalog.STOPPED: {
        "dossier_code": CODE,
        "procedure_name": "Cấp phép xây dựng",
        "reason": "công dân đề nghị rút hồ sơ",
    },
    catalog.POSTAL_ORDERED: {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký khai sinh",
        "tracking_number": "EH123456789VN",
    },
}
for _params in SAMPLE_PARAMS.values():
    _params["opt_out_url"] = LINK
EVENTS = sorted(SAMPLE_PARAMS)
VERSIONS = {catalog.RESULT_READY: catalog.RESULT_VERSION}


def test_catalog_covers_every_event_and_channel_and_is_sound() -> None:
    assert set(DEFAULT_CATALOG.events) == set(EVENTS)
    assert set(DEFAULT_CATALOG.templates) == {(e, c) for e in EVENTS for c in Channel}
    assert validate_catalog(DEFAULT_CATALOG) == []


@pytest.mark.parametrize("event_type", EVENTS)
def test_sms_has_accented_text_and_unaccented_variant(event_type: str) -> None:
    msg = render(event_type, "sms", SAMPLE_PARAMS[event_type])
    assert msg.sms is not None
    assert "Hồ sơ" in msg.text or "hồ sơ" in msg.text
    assert msg.sms.accented.text == msg.text
    assert msg.sms.accented.encoding is SmsEncoding.UCS2
    assert msg.sms.unaccented.text.isascii()
    assert msg.sms.unaccented.encoding is SmsEncoding.GSM7
    assert msg.sms.unaccented.segments <= msg.sms.accented.segments
    assert CODE in msg.sms.unaccented.text
    version = VERSIONS.get(event_type, 2)
    assert (msg.template_id, msg.template_version) == (f"{event_type}.sms", version)
    assert msg.template_ref == f"{event_type}.sms@{version}"
    # The opt-out link ends the text, whole, in GSM-7's basic table (one septet each).
    assert msg.sms.unaccented.text.endswith(f" Ngung nhan tin: {LINK}")
    assert set(msg.provider_template_ids) == {"esms", "viettel"}


def test_received_sms_with_its_opt_out_link_fits_two_segments_unaccented() -> None:
    msg = render(catalog.RECEIVED, Channel.SMS, SAMPLE_PARAMS[catalog.RECEIVED])
    assert msg.text == (
        f"Hồ sơ {CODE} (Đăng ký khai sinh) đã được tiếp nhận. Hẹn trả kết quả ngày 06/11/2025."
        f" Ngừng nhận tin: {LINK}"
    )
    assert msg.sms is not None
    assert msg.sms.unaccented.text == (
        f"Ho so {CODE} (Dang ky khai sinh) da duoc tiep nhan. Hen tra ket qua ngay 06/11/2025."
        f" Ngung nhan tin: {LINK}"
    )
    # The link costs one segment more than version 1 did (1 unaccented, 2 accented).
    assert msg.sms.unaccented.length == msg.sms.unaccented.text.__len__()  # no escapes
    assert (msg.sms.unaccented.encoding, msg.sms.unaccented.segments) == (SmsEncoding.GSM7, 2)
    assert (msg.sms.accented.encoding, msg.sms.accented.segments) == (SmsEncoding.UCS2, 3)


def test_the_received_sms_text_without_its_link_still_fits_one_segment() -> None:
    msg = render(catalog.RECEIVED, Channel.SMS, SAMPLE_PARAMS[catalog.RECEIVED])
    assert msg.sms is not None
    body = msg.sms.unaccented.text.removesuffix(f" Ngung nhan tin: {LINK}")
    assert len(body) <= 160


@pytest.mark.parametrize("event_type", EVENTS)
def test_zalo_renders_zns_template_data(event_type: str) -> None:
    msg = render(event_type, "zalo", SAMPLE_PARAMS[event_type])
    assert msg.zns_template_data is not None
    assert msg.zns_template_data["ma_ho_so"] == CODE
    assert all(isinstance(v, str) and v for v in msg.zns_template_data.values())
    assert set(msg.provider_template_ids) == {"zalo"}
    assert msg.template_ref == f"{event_type}.zalo@{VERSIONS.get(event_type, 2)}"
    assert msg.zns_template_data["link_ngung_nhan"] == LINK


@pytest.mark.parametrize("event_type", EVENTS)
def test_email_has_subject_text_and_html(event_type: str) -> None:
    msg = render(event_type, "email", SAMPLE_PARAMS[event_type])
    assert msg.subject and CODE in msg.subject
    assert msg.text.startswith("Kính gửi Ông/Bà")
    assert msg.html is not None and msg.html.startswith("<html>")
    assert CODE in msg.html
    assert msg.provider_template_ids == {}
    assert msg.text.endswith(f"Ngừng nhận thư về hồ sơ này: {LINK}")
    assert f'<a href="{LINK}">Ngừng nhận thư về hồ sơ này</a>' in msg.html


def test_supplement_lists_every_missing_paper() -> None:
    params = SAMPLE_PARAMS[catalog.SUPPLEMENT_REQUESTED]
    sms = render(catalog.SUPPLEMENT_REQUESTED, "sms", params)
    assert "Bản sao giấy khai sinh; Tờ khai thay đổi thông tin cư trú" in sms.text
    email = render(catalog.SUPPLEMENT_REQUESTED, "email", params)
    assert "- Bản sao giấy khai sinh\n- Tờ khai thay đổi thông tin cư trú" in email.text
    assert email.html is not None
    assert "<ul><li>Bản sao giấy khai sinh</li><li>Tờ khai" in email.html


def test_obligation_amount_in_vietnamese_format() -> None:
    msg = render(catalog.OBLIGATION_REQUESTED, "sms", SAMPLE_PARAMS[catalog.OBLIGATION_REQUESTED])
    assert "1.250.000 đồng" in msg.text
    assert msg.sms is not None and "1.250.000 dong" in msg.sms.unaccented.text
    params = {**SAMPLE_PARAMS[catalog.OBLIGATION_REQUESTED], "amount": Decimal("500000")}
    assert "500.000 đồng" in render(catalog.OBLIGATION_REQUESTED, "zalo", params).text


def test_apology_names_reason_unit_and_new_appointment() -> None:
    msg = render(catalog.APOLOGY_ISSUED, "email", SAMPLE_PARAMS[catalog.APOLOGY_ISSUED])
    assert msg.text.startswith("Kính gửi Ông/Bà Nguyễn Thị Hoa,")
    assert "Lý do: chờ kết quả xác minh nguồn gốc đất." in msg.text
    assert "Đơn vị để xảy ra chậm trễ: Văn phòng đăng ký đất đai." in msg.text
    assert "20/11/2025" in msg.text
    assert msg.subject == f"Thư xin lỗi về việc chậm trả kết quả hồ sơ {CODE}"


def test_missing_params_are_named() -> None:
    with pytest.raises(MissingParamsError) as err:
        render(catalog.RECEIVED, "sms", {"dossier_code": CODE, "procedure_name": "  "})
    assert err.value.missing == ("appointment_date", "opt_out_url", "procedure_name")
    assert "dossier.received.sms@2" in str(err.value)
    assert "appointment_date, opt_out_url, procedure_name" in str(err.value)
    with pytest.raises(MissingParamsError):
        render(catalog.SUPPLEMENT_REQUESTED, "email", {"dossier_code": CODE, "missing_papers": []})


@pytest.mark.parametrize(
    ("event_type", "name", "value"),
    [
        (catalog.OBLIGATION_REQUESTED, "amount", "1000"),
        (catalog.OBLIGATION_REQUESTED, "amount", True),
        (catalog.OBLIGATION_REQUESTED, "amount", -5),
        (catalog.OBLIGATION_REQUESTED, "amount", Decimal("10.5")),
        (catalog.RECEIVED, "appointment_date", "06/11/2025"),
        (catalog.RECEIVED, "appointment_date", 20251106),
        (catalog.SUPPLEMENT_REQUESTED, "missing_papers", "một chuỗi"),
        (catalog.SUPPLEMENT_REQUESTED, "missing_papers", ["ok", ""]),
        (catalog.REFUSED, "reason", 42),
    ],
)
def test_invalid_param_values_are_refused(event_type: str, name: str, value: object) -> None:
    params = {**SAMPLE_PARAMS[event_type], name: value}
    with pytest.raises(InvalidParamError) as err:
        render(event_type, "sms", params)
    assert err.value.name == name


def test_datetime_params_render_as_dates() -> None:
    params = {**SAMPLE_PARAMS[catalog.RECEIVED], "appointment_date": datetime(2025, 11, 6, 16)}
    assert "06/11/2025" in render(catalog.RECEIVED, "sms", params).text


def test_unknown_event_or_channel() -> None:
    with pytest.raises(UnknownTemplateError):
        render("dossier.teleported", "sms", {})
    with pytest.raises(UnknownTemplateError):
        render(catalog.RECEIVED, "fax", SAMPLE_PARAMS[catalog.RECEIVED])


def test_html_escapes_params_but_text_keeps_them() -> None:
    params = {**SAMPLE_PARAMS[catalog.REFUSED], "reason": "thiếu <giấy> & dấu"}
    msg = render(catalog.REFUSED, "email", params)
    assert msg.html is not None and "thiếu &lt;giấy&gt; &amp; dấu" in msg.html
    assert "thiếu <giấy> & dấu" in msg.text


def test_long_zns_params_are_cut_to_zalo_limits() -> None:
    params = {**SAMPLE_PARAMS[catalog.REFUSED], "reason": "lý do rất dài " * 30}
    msg = render(catalog.REFUSED, "zalo", params)
    assert msg.zns_template_data is not None
    assert len(msg.zns_template_data["ly_do"]) <= 200
    assert msg.zns_template_data["ly_do"].endswith("…")
    assert msg.truncated_params == ("ly_do",)


def test_extra_params_are_ignored() -> None:
    params = {**SAMPLE_PARAMS[catalog.RESULT_READY], "citizen_id_number": "001099012345"}
    msg = render(catalog.RESULT_READY, "sms", params)
    assert "001099012345" not in msg.text
