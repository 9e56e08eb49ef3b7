"""Form 04: apology letter and request for a new date (văn bản xin lỗi và hẹn lại).

Stored as data (no personal data: the citizen is a contact reference); the printable
letter fetches the name at print time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.workcal.calendar import VN_TZ

SIGNED_BY_ROLE = "unit_head"


class ApologyLetterView(BaseModel):
    """Form 04 as the API shows it: without the contact reference, which only the
    services that fetch contact details from intake may hold."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    dossier_id: UUID
    dossier_code: str
    procedure_code: str | None
    procedure_name: str | None
    reason: str
    responsible_unit: str
    responsible_unit_name: str
    step_name: str | None
    old_appointment_at: datetime
    new_appointment_at: datetime
    signed_by_role: str = SIGNED_BY_ROLE
    signed_by_title: str
    issued_at: datetime


class ApologyLetter(ApologyLetterView):
    """Form 04 as stored."""

    contact_ref: str | None


def reason_text(step_name: str | None, unit_name: str, overdue_hours: Decimal | None) -> str:
    what = f"bước “{step_name}”" if step_name else "hồ sơ"
    text = f"Việc giải quyết {what} tại {unit_name} chưa hoàn thành trong thời hạn được giao"
    if overdue_hours is not None and overdue_hours > 0:
        text += f" (quá {_hours(overdue_hours)} giờ làm việc)"
    return text + "."


def _hours(value: Decimal) -> str:
    rounded = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return format(rounded.normalize(), "f").replace(".", ",")


def _vn(dt: datetime) -> str:
    local = dt.astimezone(VN_TZ)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d/%m/%Y}"


def render_html(letter: ApologyLetter, citizen_name: str | None) -> str:
    """The printable letter in Vietnamese (one page, no external resources)."""
    e = escape
    issued = letter.issued_at.astimezone(VN_TZ)
    name = e(citizen_name) if citizen_name else "&hellip;&hellip;&hellip;&hellip;&hellip;"
    procedure = e(letter.procedure_name or letter.procedure_code or "")
    return f"""<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>Phiếu xin lỗi và hẹn lại ngày trả kết quả – {e(letter.dossier_code)}</title>
<style>
body {{ font-family: "Times New Roman", serif; font-size: 14pt; max-width: 19cm;
       margin: 1.5cm auto; line-height: 1.4; }}
.head {{ display: flex; justify-content: space-between; text-align: center; }}
.head div {{ width: 48%; }}
h1 {{ text-align: center; font-size: 15pt; margin-top: 1.2em; }}
.sign {{ margin-left: 55%; text-align: center; margin-top: 2em; }}
.form {{ text-align: right; font-style: italic; }}
</style>
</head>
<body>
<p class="form">Mẫu số 04</p>
<div class="head">
  <div><strong>{e(letter.responsible_unit_name.upper())}</strong></div>
  <div><strong>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</strong><br>
  <strong>Độc lập – Tự do – Hạnh phúc</strong><br>
  <em>ngày {issued:%d} tháng {issued:%m} năm {issued:%Y}</em></div>
</div>
<h1>PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ</h1>
<p>Kính gửi: Ông/Bà {name}</p>
<p>Ngày {letter.old_appointment_at.astimezone(VN_TZ):%d/%m/%Y}, {e(letter.responsible_unit_name)}
nhận được hồ sơ số <strong>{e(letter.dossier_code)}</strong> về thủ tục
<strong>{procedure}</strong> của Ông/Bà, hẹn trả kết quả vào lúc
{_vn(letter.old_appointment_at)}.</p>
<p>Tuy nhiên đến nay, {e(letter.responsible_unit_name)} chưa trả kết quả giải quyết hồ sơ
cho Ông/Bà đúng hẹn. Lý do: {e(letter.reason)}</p>
<p>Sự chậm trễ này đã gây phiền hà, tốn kém chi phí, công sức của Ông/Bà.
{e(letter.responsible_unit_name)} xin lỗi Ông/Bà và sẽ trả kết quả giải quyết hồ sơ
cho Ông/Bà vào lúc <strong>{_vn(letter.new_appointment_at)}</strong>.</p>
<p>Xin trân trọng cảm ơn sự hợp tác của Ông/Bà.</p>
<div class="sign"><strong>{e(letter.signed_by_title.upper())}</strong><br>
<em>(Ký, ghi rõ họ tên và đóng dấu)</em></div>
</body>
</html>
"""
