"""The forms of Thông tư 03/2025/TT-VPCP and the result document, as typed data.

Each service fills the model of the forms it issues from its own tables; the layout
(``layout.render``) turns any of them into PDF bytes, and the signer seals them. Names of
units, procedures and papers are already resolved here: the layout looks nothing up.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Issuer(_Frozen):
    """The unit whose name heads the form (and whose head signs it)."""

    unit_code: str
    unit_name: str
    parent_name: str | None = Field(
        default=None, description="The body above it (e.g. Ủy ban nhân dân tỉnh …)."
    )
    place: str | None = Field(default=None, description="Where it is dated (địa danh).")


class _Form(_Frozen):
    issuer: Issuer
    dossier_code: str
    issued_at: AwareDatetime
    signer_title: str = Field(description="Who signs, e.g. Thủ trưởng cơ quan.")


class _ToCitizen(_Form):
    applicant_name: str | None = Field(
        default=None, description="None when the contact look-up failed or was erased."
    )
    procedure_code: str
    procedure_name: str


class PaperLine(_Frozen):
    name: str
    type_code: str | None = None


class ReceiptForm(_ToCitizen):
    """Mẫu số 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả."""

    form: Literal["01"] = "01"
    channel_name: str
    documents: tuple[PaperLine, ...]
    received_at: AwareDatetime
    appointment_at: AwareDatetime


class SupplementRequestForm(_ToCitizen):
    """Mẫu số 02: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (once, naming every paper)."""

    form: Literal["02"] = "02"
    missing: tuple[PaperLine, ...] = Field(min_length=1)
    reason: str
    received_at: AwareDatetime | None = None


class RefusalForm(_ToCitizen):
    """Mẫu số 03: Phiếu từ chối tiếp nhận, giải quyết hồ sơ (with written reasons)."""

    form: Literal["03"] = "03"
    reasons: tuple[str, ...] = Field(min_length=1)


class ApologyForm(_ToCitizen):
    """Mẫu số 04: Phiếu xin lỗi và hẹn lại ngày trả kết quả."""

    form: Literal["04"] = "04"
    reason: str
    old_appointment_at: AwareDatetime
    new_appointment_at: AwareDatetime


class StopNoticeForm(_ToCitizen):
    """Mẫu số 05: Thông báo dừng xử lý hồ sơ."""

    form: Literal["05"] = "05"
    reason: str


Outcome = Literal["early", "on_time", "late"]


class HandOffLine(_Frozen):
    from_unit_name: str
    to_unit_name: str
    at: AwareDatetime
    outcome: Outcome | None = Field(default=None, description="None: not judged (yet).")
    step_name: str | None = None


class ControlSheetForm(_ToCitizen):
    """Mẫu số 06: Phiếu kiểm soát quá trình giải quyết hồ sơ (one line per hand-off)."""

    form: Literal["06"] = "06"
    received_at: AwareDatetime
    appointment_at: AwareDatetime | None
    lines: tuple[HandOffLine, ...]


class RegisterRow(_Frozen):
    dossier_code: str
    procedure_name: str
    applicant_name: str | None
    received_at: AwareDatetime
    appointment_at: AwareDatetime | None
    status_name: str
    returned_at: AwareDatetime | None = None


class RegisterForm(_Frozen):
    """Mẫu số 07: Sổ theo dõi hồ sơ of one unit over a period."""

    form: Literal["07"] = "07"
    issuer: Issuer
    issued_at: AwareDatetime
    signer_title: str
    period_from: date
    period_to: date
    rows: tuple[RegisterRow, ...]


class ResultDocument(_ToCitizen):
    """The result handed back: the papers the units issued for the dossier."""

    form: Literal["KQ"] = "KQ"
    papers: tuple[str, ...] = Field(min_length=1)
    decided_at: AwareDatetime


AnyForm = Annotated[
    ReceiptForm
    | SupplementRequestForm
    | RefusalForm
    | ApologyForm
    | StopNoticeForm
    | ControlSheetForm
    | RegisterForm
    | ResultDocument,
    Field(discriminator="form"),
]

TITLES: dict[str, str] = {
    "01": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "02": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "03": "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ",
    "04": "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
    "05": "THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ",
    "06": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
    "07": "SỔ THEO DÕI HỒ SƠ",
    "KQ": "THÔNG BÁO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH",
}


def file_name(form: str, dossier_code: str) -> str:
    """The download name: ``mau-01-<code>.pdf`` (``ket-qua-<code>.pdf``)."""
    prefix = "ket-qua" if form == "KQ" else f"mau-{form}"
    return f"{prefix}-{dossier_code}.pdf"
