"""Vietnamese notification templates (version 1 of each), as data.

Provider template ids are the ids under which each text is registered with the SMS
carriers (brandname customer-care templates) and Zalo (approved ZNS templates). The
values below are placeholders an administrator replaces with the issued ids; a change
of wording needs a new version and a new registration, never an edit in place.

Version 2 of every template carries `${opt_out_url}`: the citizen's signed link to stop
that channel (`domain/opt_out_link.py`), filled at send time like the citizen's name. In
SMS it is the short form (`/o/<40 characters>`, GSM-7 only) at the very end, so a cut
never breaks it.
"""

from __future__ import annotations

from services.notify.domain.template_model import (
    Catalog,
    Channel,
    ChannelTemplate,
    EmailTemplate,
    EventSpec,
    ParamKind,
    SmsTemplate,
    ZaloTemplate,
    ZnsParam,
)

TEXT, DATE, MONEY, LIST = ParamKind.TEXT, ParamKind.DATE, ParamKind.MONEY, ParamKind.LIST
VERSION = 2
# Filled at send time with the signed link for this contact and channel.
OPT_OUT = {"opt_out_url": TEXT}
# Version 3 of the result message carries `${rating_url}`: the signed link to rate the
# handling (`domain/rating.py`), filled at send time; a new registration with carriers.
RATE = {"rating_url": TEXT}
RESULT_VERSION = 3

RECEIVED = "dossier.received"
SUPPLEMENT_REQUESTED = "dossier.supplement_requested"
OBLIGATION_REQUESTED = "dossier.obligation_requested"
RESULT_READY = "dossier.result_ready"
APOLOGY_ISSUED = "apology.issued"
REFUSED = "dossier.refused"
STOPPED = "dossier.stopped"
POSTAL_ORDERED = "dossier.postal_tracking"  # only its order creation is a message

EVENTS: dict[str, EventSpec] = {
    spec.event_type: spec
    for spec in (
        EventSpec(
            RECEIVED,
            {
                "dossier_code": TEXT,
                "procedure_name": TEXT,
                "appointment_date": DATE,
                **OPT_OUT,
            },
        ),
        EventSpec(
            SUPPLEMENT_REQUESTED,
            {"dossier_code": TEXT, "procedure_name": TEXT, "missing_papers": LIST, **OPT_OUT},
        ),
        EventSpec(
            OBLIGATION_REQUESTED,
            {"dossier_code": TEXT, "procedure_name": TEXT, "amount": MONEY, **OPT_OUT},
        ),
        EventSpec(RESULT_READY, {"dossier_code": TEXT, "procedure_name": TEXT, **OPT_OUT, **RATE}),
        EventSpec(
            APOLOGY_ISSUED,
            {
                "citizen_name": TEXT,
                "dossier_code": TEXT,
                "procedure_name": TEXT,
                "reason": TEXT,
                "responsible_unit": TEXT,
                "new_appointment_date": DATE,
                **OPT_OUT,
            },
        ),
        EventSpec(
            REFUSED, {"dossier_code": TEXT, "procedure_name": TEXT, "reason": TEXT, **OPT_OUT}
        ),
        EventSpec(
            STOPPED, {"dossier_code": TEXT, "procedure_name": TEXT, "reason": TEXT, **OPT_OUT}
        ),
        EventSpec(
            POSTAL_ORDERED,
            {"dossier_code": TEXT, "procedure_name": TEXT, "tracking_number": TEXT, **OPT_OUT},
        ),
    )
}

# ZNS param limits follow Zalo's param types: code 30, name 30, date 20, money 20,
# free text up to 200 (longer values are cut with "…").
CODE = ZnsParam("dossier_code", 30)
PROCEDURE = ZnsParam("procedure_name", 200)

_GREETING = "Kính gửi Ông/Bà,\n\n"
_FOOTER = (
    "\n\nÔng/Bà tra cứu tình trạng hồ sơ trên Cổng dịch vụ công bằng mã hồ sơ."
    "\nThư này được gửi tự động, xin vui lòng không trả lời."
    "\nNgừng nhận thư về hồ sơ này: ${opt_out_url}"
)
_HTML_FOOTER = (
    "<p>Ông/Bà tra cứu tình trạng hồ sơ trên Cổng dịch vụ công bằng mã hồ sơ.</p>"
    '<p style="color:#666">Thư này được gửi tự động, xin vui lòng không trả lời.'
    ' <a href="${opt_out_url}">Ngừng nhận thư về hồ sơ này</a>.</p>'
)
_SMS_FOOTER = " Ngừng nhận tin: ${opt_out_url}"
_ZALO_FOOTER = " Ngừng nhận tin: ${opt_out_url}"
OPT_OUT_PARAM = ZnsParam("opt_out_url", 200)


def _sms(event: str, body: str, version: int = VERSION) -> SmsTemplate:
    short = event.replace("dossier.", "").replace(".", "_").upper()
    return SmsTemplate(
        template_id=f"{event}.sms",
        version=version,
        body=body + _SMS_FOOTER,
        provider_template_ids={
            "esms": f"ESMS_DVC_{short}_V{version}",
            "viettel": f"VT_DVC_{short}_V{version}",
        },
    )


def _zalo(
    event: str,
    zns_id: str,
    params: dict[str, ZnsParam],
    preview: str,
    version: int = VERSION,
) -> ZaloTemplate:
    # The approved ZNS layout shows the link as its last line ("link_ngung_nhan").
    params = {**params, "link_ngung_nhan": OPT_OUT_PARAM}
    return ZaloTemplate(f"{event}.zalo", version, zns_id, params, preview + _ZALO_FOOTER)


def _email(event: str, subject: str, text: str, html: str, version: int = VERSION) -> EmailTemplate:
    page = f'<html><body style="font-family:Arial,sans-serif">{html}{_HTML_FOOTER}</body></html>'
    return EmailTemplate(f"{event}.email", version, subject, _GREETING + text + _FOOTER, page)


_TEMPLATES: list[tuple[str, ChannelTemplate]] = [
    # 01 receipt and appointment
    (
        RECEIVED,
        _sms(
            RECEIVED,
            "Hồ sơ ${dossier_code} (${procedure_name}) đã được tiếp nhận. "
            "Hẹn trả kết quả ngày ${appointment_date}.",
        ),
    ),
    (
        RECEIVED,
        _zalo(
            RECEIVED,
            "400201",
            {
                "ma_ho_so": CODE,
                "ten_thu_tuc": PROCEDURE,
                "ngay_hen_tra": ZnsParam("appointment_date", 20),
            },
            "Hồ sơ ${dossier_code} - thủ tục ${procedure_name} đã được tiếp nhận. "
            "Ngày hẹn trả kết quả: ${appointment_date}.",
        ),
    ),
    (
        RECEIVED,
        _email(
            RECEIVED,
            "Đã tiếp nhận hồ sơ ${dossier_code}",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" đã được tiếp nhận.\n'
            "Ngày hẹn trả kết quả: ${appointment_date}.",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” đã được tiếp nhận.</p>"
            "<p>Ngày hẹn trả kết quả: <strong>${appointment_date}</strong>.</p>",
        ),
    ),
    # 02 supplement request: every missing paper, once
    (
        SUPPLEMENT_REQUESTED,
        _sms(
            SUPPLEMENT_REQUESTED,
            "Hồ sơ ${dossier_code} cần bổ sung: ${missing_papers}. "
            "Thời hạn giải quyết tạm dừng đến khi nhận đủ giấy tờ.",
        ),
    ),
    (
        SUPPLEMENT_REQUESTED,
        _zalo(
            SUPPLEMENT_REQUESTED,
            "400202",
            {"ma_ho_so": CODE, "giay_to_bo_sung": ZnsParam("missing_papers", 200)},
            "Hồ sơ ${dossier_code} cần bổ sung giấy tờ: ${missing_papers}.",
        ),
    ),
    (
        SUPPLEMENT_REQUESTED,
        _email(
            SUPPLEMENT_REQUESTED,
            "Yêu cầu bổ sung hồ sơ ${dossier_code}",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" cần bổ sung, hoàn thiện '
            "các giấy tờ sau:\n${missing_papers}\n\n"
            "Thời hạn giải quyết tạm dừng đến khi Ông/Bà nộp đủ giấy tờ.",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” cần bổ sung, hoàn thiện các giấy tờ sau:</p>${missing_papers}"
            "<p>Thời hạn giải quyết tạm dừng đến khi Ông/Bà nộp đủ giấy tờ.</p>",
        ),
    ),
    # financial obligation: the dossier waits while the citizen pays
    (
        OBLIGATION_REQUESTED,
        _sms(
            OBLIGATION_REQUESTED,
            "Hồ sơ ${dossier_code}: đề nghị Ông/Bà nộp nghĩa vụ tài chính ${amount} "
            "để tiếp tục giải quyết hồ sơ.",
        ),
    ),
    (
        OBLIGATION_REQUESTED,
        _zalo(
            OBLIGATION_REQUESTED,
            "400203",
            {"ma_ho_so": CODE, "so_tien": ZnsParam("amount", 20)},
            "Hồ sơ ${dossier_code}: đề nghị Ông/Bà nộp nghĩa vụ tài chính ${amount}.",
        ),
    ),
    (
        OBLIGATION_REQUESTED,
        _email(
            OBLIGATION_REQUESTED,
            "Thông báo nghĩa vụ tài chính - hồ sơ ${dossier_code}",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" đang chờ Ông/Bà thực hiện '
            "nghĩa vụ tài chính.\nSố tiền phải nộp: ${amount}.\n\n"
            "Hồ sơ tiếp tục được giải quyết sau khi Ông/Bà hoàn thành nghĩa vụ tài chính.",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” đang chờ Ông/Bà thực hiện nghĩa vụ tài chính.</p>"
            "<p>Số tiền phải nộp: <strong>${amount}</strong>.</p>"
            "<p>Hồ sơ tiếp tục được giải quyết sau khi Ông/Bà hoàn thành nghĩa vụ tài chính.</p>",
        ),
    ),
    # result ready at the desk (or by the return method the citizen chose)
    (
        RESULT_READY,
        _sms(
            RESULT_READY,
            "Hồ sơ ${dossier_code} (${procedure_name}) đã có kết quả. "
            "Mời Ông/Bà nhận kết quả theo hình thức đã đăng ký. "
            "Đánh giá: ${rating_url}",
            RESULT_VERSION,
        ),
    ),
    (
        RESULT_READY,
        _zalo(
            RESULT_READY,
            "400214",
            {
                "ma_ho_so": CODE,
                "ten_thu_tuc": PROCEDURE,
                "link_danh_gia": ZnsParam("rating_url", 200),
            },
            "Hồ sơ ${dossier_code} - thủ tục ${procedure_name} đã có kết quả."
            " Đánh giá mức độ hài lòng: ${rating_url}.",
            RESULT_VERSION,
        ),
    ),
    (
        RESULT_READY,
        _email(
            RESULT_READY,
            "Hồ sơ ${dossier_code} đã có kết quả",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" đã có kết quả.\n'
            "Mời Ông/Bà nhận kết quả theo hình thức đã đăng ký.\n"
            "Đánh giá mức độ hài lòng về việc giải quyết hồ sơ: ${rating_url}",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” đã có kết quả.</p>"
            "<p>Mời Ông/Bà nhận kết quả theo hình thức đã đăng ký.</p>"
            '<p>Mời Ông/Bà <a href="${rating_url}">đánh giá mức độ hài lòng</a>'
            " về việc giải quyết hồ sơ.</p>",
            RESULT_VERSION,
        ),
    ),
    # 04 apology letter and new appointment, sent before the old appointment passes
    (
        APOLOGY_ISSUED,
        _sms(
            APOLOGY_ISSUED,
            "${responsible_unit} xin lỗi Ông/Bà ${citizen_name} vì hồ sơ ${dossier_code} "
            "chậm trả kết quả. Lý do: ${reason}. Hẹn trả lại ngày ${new_appointment_date}.",
        ),
    ),
    (
        APOLOGY_ISSUED,
        _zalo(
            APOLOGY_ISSUED,
            "400205",
            {
                "ten_cong_dan": ZnsParam("citizen_name", 30),
                "ma_ho_so": CODE,
                "ly_do": ZnsParam("reason", 200),
                "don_vi": ZnsParam("responsible_unit", 200),
                "ngay_hen_moi": ZnsParam("new_appointment_date", 20),
            },
            "${responsible_unit} xin lỗi Ông/Bà ${citizen_name} vì hồ sơ ${dossier_code} "
            "chậm trả kết quả. Lý do: ${reason}. Ngày hẹn mới: ${new_appointment_date}.",
        ),
    ),
    (
        APOLOGY_ISSUED,
        EmailTemplate(
            f"{APOLOGY_ISSUED}.email",
            VERSION,
            "Thư xin lỗi về việc chậm trả kết quả hồ sơ ${dossier_code}",
            "Kính gửi Ông/Bà ${citizen_name},\n\n"
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" chưa được giải quyết '
            "đúng hẹn.\nLý do: ${reason}.\nĐơn vị để xảy ra chậm trễ: ${responsible_unit}.\n\n"
            "${responsible_unit} thành thật xin lỗi Ông/Bà và xin hẹn trả kết quả vào ngày "
            "${new_appointment_date}." + _FOOTER,
            '<html><body style="font-family:Arial,sans-serif">'
            "<p>Kính gửi Ông/Bà ${citizen_name},</p>"
            "<p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục “${procedure_name}” chưa "
            "được giải quyết đúng hẹn.</p><p>Lý do: ${reason}.</p>"
            "<p>Đơn vị để xảy ra chậm trễ: ${responsible_unit}.</p>"
            "<p>${responsible_unit} thành thật xin lỗi Ông/Bà và xin hẹn trả kết quả vào "
            "ngày <strong>${new_appointment_date}</strong>.</p>" + _HTML_FOOTER + "</body></html>",
        ),
    ),
    # 03 refusal, with written reasons
    (
        REFUSED,
        _sms(
            REFUSED,
            "Hồ sơ ${dossier_code} (${procedure_name}) không được tiếp nhận. Lý do: ${reason}.",
        ),
    ),
    (
        REFUSED,
        _zalo(
            REFUSED,
            "400206",
            {"ma_ho_so": CODE, "ten_thu_tuc": PROCEDURE, "ly_do": ZnsParam("reason", 200)},
            "Hồ sơ ${dossier_code} - thủ tục ${procedure_name} không được tiếp nhận. "
            "Lý do: ${reason}.",
        ),
    ),
    (
        REFUSED,
        _email(
            REFUSED,
            "Thông báo không tiếp nhận hồ sơ ${dossier_code}",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" không được tiếp nhận.\n'
            "Lý do: ${reason}.",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” không được tiếp nhận.</p><p>Lý do: ${reason}.</p>",
        ),
    ),
    # 05 stop notice
    (
        STOPPED,
        _sms(
            STOPPED,
            "Hồ sơ ${dossier_code} (${procedure_name}) đã dừng xử lý. Lý do: ${reason}.",
        ),
    ),
    (
        STOPPED,
        _zalo(
            STOPPED,
            "400207",
            {"ma_ho_so": CODE, "ten_thu_tuc": PROCEDURE, "ly_do": ZnsParam("reason", 200)},
            "Hồ sơ ${dossier_code} - thủ tục ${procedure_name} đã dừng xử lý. Lý do: ${reason}.",
        ),
    ),
    (
        STOPPED,
        _email(
            STOPPED,
            "Thông báo dừng xử lý hồ sơ ${dossier_code}",
            'Hồ sơ ${dossier_code} về thủ tục "${procedure_name}" đã dừng xử lý.\n'
            "Lý do: ${reason}.",
            "<p>Kính gửi Ông/Bà,</p><p>Hồ sơ <strong>${dossier_code}</strong> về thủ tục "
            "“${procedure_name}” đã dừng xử lý.</p><p>Lý do: ${reason}.</p>",
        ),
    ),
    # result sent by post: the parcel's tracking number
    (
        POSTAL_ORDERED,
        _sms(
            POSTAL_ORDERED,
            "Kết quả hồ sơ ${dossier_code} đã được gửi qua bưu điện. "
            "Mã vận đơn: ${tracking_number}.",
        ),
    ),
    (
        POSTAL_ORDERED,
        _zalo(
            POSTAL_ORDERED,
            "400208",
            {"ma_ho_so": CODE, "ma_van_don": ZnsParam("tracking_number", 30)},
            "Kết quả hồ sơ ${dossier_code} đã được gửi qua bưu điện. "
            "Mã vận đơn: ${tracking_number}.",
        ),
    ),
    (
        POSTAL_ORDERED,
        _email(
            POSTAL_ORDERED,
            "Kết quả hồ sơ ${dossier_code} đã được gửi qua bưu điện",
            'Kết quả giải quyết hồ sơ ${dossier_code} về thủ tục "${procedure_name}" đã được '
            "gửi đến Ông/Bà qua dịch vụ bưu chính công ích.\n"
            "Mã vận đơn: ${tracking_number}. Ông/Bà tra cứu hành trình bưu gửi bằng mã này.",
            "<p>Kính gửi Ông/Bà,</p><p>Kết quả giải quyết hồ sơ <strong>${dossier_code}</strong>"
            " về thủ tục “${procedure_name}” đã được gửi đến Ông/Bà qua dịch vụ bưu chính công"
            " ích.</p><p>Mã vận đơn: <strong>${tracking_number}</strong>. Ông/Bà tra cứu hành"
            " trình bưu gửi bằng mã này.</p>",
        ),
    ),
]

DEFAULT_CATALOG = Catalog(
    events=EVENTS,
    templates={(event, Channel(tpl.channel)): tpl for event, tpl in _TEMPLATES},
)
