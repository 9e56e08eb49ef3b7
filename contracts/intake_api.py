"""REST bodies of the intake service (the face portals and desks integrate with)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Channel, DossierStatus

CITIZEN_ID_PATTERN = r"^\d{12}$"
# Vietnamese mobile numbers: 0 or +84, then a carrier prefix 3/5/7/8/9 and 8 digits.
PHONE_PATTERN = r"^(0|\+84)(3|5|7|8|9)\d{8}$"
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Applicant(Strict):
    kind: Literal["citizen", "business"] = Field(
        default="citizen", description="LoaiDoiTuong: a citizen or a business."
    )
    full_name: str = Field(min_length=1, max_length=200, examples=["Nguyễn Thị Lan"])
    citizen_id: str = Field(
        pattern=CITIZEN_ID_PATTERN, description="12-digit citizen ID.", examples=["001190012345"]
    )
    phone: str = Field(pattern=PHONE_PATTERN, examples=["0912345678"])
    email: str | None = Field(
        default=None, max_length=254, pattern=EMAIL_PATTERN, examples=["lan.nguyen@example.vn"]
    )
    address: str = Field(default="", max_length=500, examples=["Số 1 Lê Lợi, phường Bến Nghé"])


class SuppliedDocument(Strict):
    type_code: str = Field(
        min_length=1, max_length=64, description="Mã thành phần hồ sơ.", examples=["TKKS"]
    )
    name: str = Field(min_length=1, max_length=300, examples=["Tờ khai đăng ký khai sinh"])
    checksum: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, hex.", examples=["0" * 64]
    )
    storage_ref: str = Field(
        min_length=1, max_length=500, examples=["s3://dossiers/2026/11/abc.pdf"]
    )


class FeePaid(Strict):
    code: str = Field(min_length=1, max_length=64, examples=["LP-KS"])
    amount_vnd: int = Field(ge=0, le=10_000_000_000, examples=[0])


class SubmitDossier(Strict):
    """A complete dossier handed in at a desk, by post or through a portal."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "procedure_code": "1.001193",
                    "receiving_unit": "X01",
                    "channel": 2,
                    "applicant": {
                        "full_name": "Nguyễn Thị Lan",
                        "citizen_id": "001190012345",
                        "phone": "0912345678",
                        "email": "lan.nguyen@example.vn",
                        "address": "Thôn Đông, xã An Bình",
                    },
                    "documents": [
                        {
                            "type_code": "TKKS",
                            "name": "Tờ khai đăng ký khai sinh",
                            "checksum": "0" * 64,
                            "storage_ref": "s3://dossiers/tkks.pdf",
                        }
                    ],
                    "summary": "Đăng ký khai sinh cho con",
                }
            ]
        },
    )

    procedure_code: str = Field(min_length=1, max_length=32, examples=["1.001193"])
    receiving_unit: str = Field(min_length=1, max_length=32, examples=["X01"])
    channel: Channel = Field(description="1 in person, 2 online, 3 post.")
    applicant: Applicant
    documents: list[SuppliedDocument] = Field(default_factory=list, max_length=100)
    fees: list[FeePaid] = Field(default_factory=list, max_length=20)
    chosen_subprocedures: list[str] = Field(default_factory=list, max_length=10)
    conditions: list[str] = Field(
        default_factory=list, max_length=10, examples=[["verification_needed"]]
    )
    summary: str = Field(default="", max_length=1000, description="TrichYeuHoSo.")


class Receipt(BaseModel):
    """Form 01 as data: receipt and appointment."""

    id: UUID
    code: str = Field(examples=["000.00.01.H22-251103-0007"])
    status: DossierStatus
    procedure_code: str
    receiving_unit: str
    received_at: datetime
    clock_started_at: datetime
    appointment_at: datetime
    receipt_html_url: str


class TimelineEntry(BaseModel):
    source: str = Field(examples=["routing"])
    event_type: str = Field(examples=["step.assigned"])
    occurred_at: datetime
    details: dict[str, object]


class DossierView(BaseModel):
    id: UUID
    code: str
    status: DossierStatus
    procedure_code: str
    receiving_unit: str
    current_unit: str | None
    received_at: datetime
    appointment_at: datetime
    timeline: list[TimelineEntry]
