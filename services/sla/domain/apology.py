"""Form 04: apology letter and request for a new date (văn bản xin lỗi và hẹn lại).

Stored as data (no personal data: the citizen is a contact reference); the printable
letter fetches the name at print time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.sla.domain.deadlines import Alarm, Outcome
from services.sla.domain.model import (
    Calendars,
    Deadline,
    Directory,
    DossierSla,
    Phase,
    letter_id,
)
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


@dataclass(frozen=True, slots=True)
class Blame:
    """Who apologises: the step deadline whose unit overran (``None``: no step is to
    blame, the dossier's receiving unit answers for it)."""

    step: Deadline | None


def responsible(
    alarm: Alarm, fired: Deadline, whole: Deadline, steps: Sequence[Deadline], now: datetime
) -> Blame | None:
    """Whether the alarm just raised calls for form 04 now, and who signs it.

    * A step overran its allotment: its unit apologises once the appointment is at risk
      (past the dossier's warning instant or its appointment; at once when the dossier
      has no warning window).
    * The dossier is due soon or overdue: the first step (by due instant) whose overdue
      alarm stands or that ended late is to blame. Due soon with no such step: no
      apology (yet). Overdue with none: the step still open that started last, else
      the receiving unit.
    """
    if alarm is Alarm.STEP_OVERDUE:
        soon = whole.due_soon_at
        if soon is not None and now < soon and now < whole.due_at:
            return None  # the step is late but the appointment can still be kept
        return Blame(fired)
    overran = [s for s in steps if s.timer.overdue_fired or s.outcome is Outcome.LATE]
    if overran:
        return Blame(min(overran, key=lambda s: s.due_at))
    if alarm is Alarm.DUE_SOON:
        return None  # no unit overran its own allotment (yet)
    still_open = [s for s in steps if s.phase is not Phase.CLOSED]
    return Blame(max(still_open, key=lambda s: s.starts_at) if still_open else None)


def write_letter(
    state: DossierSla,
    whole: Deadline,
    blame: Blame,
    now: datetime,
    calendars: Calendars,
    extension_hours: Decimal,
    directory: Directory,
) -> ApologyLetter:
    """Form 04 for the dossier: the reason, the unit that signs, the new appointment
    (``extension_hours`` working hours after the old one, or after now if it passed)."""
    step = blame.step
    unit = step.unit_code if step is not None else whole.unit_code
    overdue: Decimal | None = None
    if step is not None:
        end = step.closed_at or now
        overdue = calendars.for_unit(unit).working_hours_between(step.due_at, end)
    unit_name = directory.unit_name(unit)
    old = whole.due_at.astimezone(VN_TZ)
    new = calendars.for_unit(whole.unit_code).add_working_hours(max(old, now), extension_hours)
    facts = state.dossier
    procedure = facts.procedure_code if facts is not None else None
    return ApologyLetter(
        id=letter_id(state.dossier_id),
        dossier_id=state.dossier_id,
        dossier_code=whole.dossier_code,
        procedure_code=procedure,
        procedure_name=directory.procedure_names.get(procedure or ""),
        contact_ref=facts.contact_ref if facts is not None else None,
        reason=reason_text(step.step_name if step else None, unit_name, overdue),
        responsible_unit=unit,
        responsible_unit_name=unit_name,
        step_name=step.step_name if step else None,
        old_appointment_at=old,
        new_appointment_at=new,
        signed_by_title=f"Thủ trưởng {unit_name}",
        issued_at=now.astimezone(VN_TZ),
    )


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
