"""REST bodies of the intake service (the face portals and desks integrate with)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.bounds import CitizenId, MobilePhone, nfc, nfc_tree, storable_text
from contracts.events import Channel, DossierStatus

EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class Strict(BaseModel):
    """Every text in NFC before it is checked (bounds count NFC characters), and storable
    (no NUL, no lone surrogate: refused as invalid input, not a 500); numbers finite."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _nfc(cls, value: Any) -> Any:
        return [nfc(v) for v in value] if isinstance(value, list) else nfc(value)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                storable_text(text)
        return value


class Applicant(Strict):
    kind: Literal["citizen", "business"] = Field(
        default="citizen", description="LoaiDoiTuong: a citizen or a business."
    )
    full_name: str = Field(min_length=1, max_length=200, examples=["Nguyễn Thị Lan"])
    citizen_id: CitizenId
    phone: MobilePhone
    email: str | None = Field(
        default=None, max_length=254, pattern=EMAIL_PATTERN, examples=["lan.nguyen@example.vn"]
    )
    address: str = Field(default="", max_length=500, examples=["Số 1 Lê Lợi, phường Bến Nghé"])


class SuppliedDocument(Strict):
    type_code: str = Field(
        min_length=1, max_length=64, description="Mã thành phần hồ sơ.", examples=["TKKS"]
    )
    name: str = Field(min_length=1, max_length=300, examples=["Tờ khai đăng ký khai sinh"])
    checksum: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the file, hex; absent only for dossiers synced in DVCQG form.",
        examples=["0" * 64],
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
    result_delivery: Literal["desk", "post"] = Field(
        default="desk",
        description="How the citizen gets the result: at the desk, or by post to"
        " `postal_address` (the applicant's address when that is empty).",
    )
    postal_address: str = Field(
        default="", max_length=500, examples=["Số 1 Lê Lợi, phường Bến Nghé, TP. Huế"]
    )

    @model_validator(mode="after")
    def _postal_address_known(self) -> SubmitDossier:
        if self.result_delivery == "post" and not (self.postal_address or self.applicant.address):
            raise ValueError("result_delivery post needs postal_address (or applicant.address)")
        return self


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
    """One thing that happened to the dossier, told by the service that did it."""

    source: str = Field(examples=["routing"])
    event_type: str = Field(examples=["step.assigned"])
    occurred_at: datetime
    details: dict[str, object]


class ReceiptDocument(BaseModel):
    type_code: str
    name: str


class ReceiptForm(BaseModel):
    """Form 01 (giấy tiếp nhận hồ sơ và hẹn trả kết quả) as data; times in +07:00."""

    code: str = Field(examples=["000.01.01.H99-261122-0001"])
    procedure_code: str
    procedure_name: str
    receiving_unit: str
    receiving_unit_name: str
    applicant_name: str
    channel: Channel
    documents: list[ReceiptDocument]
    received_at: datetime
    appointment_at: datetime


class UnitView(BaseModel):
    code: str = Field(examples=["000.01.01.H99"])
    name: str = Field(examples=["Ủy ban nhân dân xã Đông Lâm"])
    level: str = Field(examples=["commune"])


class DeadlineView(BaseModel):
    """A deadline opened by the SLA service: the whole dossier's or one step's."""

    kind: str = Field(examples=["dossier", "step"])
    unit_code: str
    task_id: str | None = None
    starts_at: datetime
    due_at: datetime


class DossierView(BaseModel):
    """A dossier as its portal sees it; times in Vietnam time (+07:00)."""

    id: UUID
    code: str
    status: DossierStatus
    status_name: str = Field(examples=["Đang xử lý"])
    status_version: int = Field(description="Grows with every public status change.")
    procedure_code: str
    procedure_name: str
    receiving_unit: str
    current_unit: str | None
    current_unit_detail: UnitView | None
    received_at: datetime
    clock_started_at: datetime
    appointment_at: datetime
    deadlines: list[DeadlineView]
    timeline: list[TimelineEntry]


class CitizenView(BaseModel):
    """What a citizen may see with the code and the phone's last 4 digits: no personal data."""

    code: str = Field(examples=["000.01.01.H99-261122-0001"])
    status: DossierStatus
    status_name: str = Field(examples=["Được tiếp nhận"])
    procedure_name: str = Field(examples=["Đăng ký khai sinh"])
    receiving_unit_name: str
    current_unit_name: str | None
    received_at: datetime
    appointment_at: datetime


class SupplementBody(Strict):
    """The missing papers the unit asked for (form 02), now supplied."""

    documents: list[SuppliedDocument] = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=1000, examples=["Bổ sung bản sao giấy chứng sinh"])


class WithdrawalBody(Strict):
    reason: str = Field(min_length=1, max_length=1000, examples=["Không còn nhu cầu"])


class PaymentBody(Strict):
    """The citizen paid the fees or tax the tax office assessed."""

    amount_vnd: int = Field(ge=0, le=100_000_000_000, examples=[1_250_000])
    receipt_ref: str = Field(
        min_length=1, max_length=128, description="Payment receipt or transaction id."
    )


class ActionAccepted(BaseModel):
    dossier_code: str
    action: Literal["supplement", "withdrawal", "payment"]
    accepted_at: datetime
    status: DossierStatus = Field(description="Public status when the action was accepted.")


OptOutChannel = Literal["email", "sms", "zalo"]


class OptOutBody(Strict):
    channel: OptOutChannel = Field(
        description="The channel the citizen no longer wants messages on.", examples=["sms"]
    )


class OptOutAccepted(BaseModel):
    dossier_code: str
    channel: OptOutChannel
    opted_out: bool = Field(description="True: the channel stops; false: it resumes.")
    accepted_at: datetime


class PortalCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Cổng DVC tỉnh Hà Sơn"])
    units: list[str] = Field(
        min_length=1,
        max_length=500,
        description="Unit codes the portal may submit for; `*` for every unit.",
        examples=[["000.01.01.H99"]],
    )


class PortalCreated(BaseModel):
    portal_id: str
    name: str
    units: list[str]
    api_key: str = Field(description="Shown once; only its SHA-256 is stored.")


class WebhookCreate(Strict):
    url: str = Field(
        min_length=1,
        max_length=500,
        description=(
            "An http or https URL whose host resolves to public addresses only (no loopback,"
            " private, link-local, CGNAT, multicast or reserved ones); checked here and again"
            " at every delivery. Redirects are not followed."
        ),
        examples=["https://portal.example.vn/cb"],
    )
    max_attempts: int = Field(default=8, ge=1, le=20, description="Then the delivery is dead.")
    backoff_seconds: float = Field(
        default=2.0, ge=0.1, le=600, description="First retry delay; doubles each attempt."
    )


class WebhookCreated(BaseModel):
    id: UUID
    url: str
    secret: str = Field(description="HMAC-SHA256 key for `X-Onestop-Signature`; shown once.")


class WebhookDelivery(BaseModel):
    id: int
    webhook_id: UUID
    dossier_id: UUID
    version: int
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    last_error: str | None
    created_at: datetime


class NationalPush(BaseModel):
    """One push to the national portal (DVCQG): the dossier (``dossier``: DongBoHoSoMC,
    ``update``: the same with isUpdating "True") or a processing step (``step``:
    CapNhatTienDoHoSoMC), sent in order per dossier."""

    id: int
    dossier_id: UUID
    kind: Literal["dossier", "update", "step"]
    state: Literal["pending", "sent", "dead"]
    attempts: int
    last_error: str | None
    answer: str | None = Field(description="The portal's message when it took the push.")
    facts: dict[str, Any] = Field(description="What the change said (status, time, unit).")
    created_at: datetime
    sent_at: datetime | None


class StatusCallback(BaseModel):
    """What a portal's callback URL receives, signed over ``timestamp.body``."""

    dossier_id: UUID
    dossier_code: str
    status: DossierStatus
    status_name: str
    version: int = Field(description="Per-dossier; drop a delivery older than one you have.")
    current_unit: str | None
    changed_at: datetime


class DvcqgSync(BaseModel):
    """DongBoHoSoMC as iGate-style systems send it to the national portal."""

    model_config = ConfigDict(extra="allow")

    service: str = Field(max_length=64, examples=["DongBoHoSoMC"])
    isUpdating: str = Field(default="False", max_length=5, examples=["False"])  # noqa: N815
    data: list[dict[str, Any]] = Field(max_length=100)

    @field_validator("data", mode="after")
    @classmethod
    def _nfc(cls, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Kept as sent (then mapped), so every text in it is made NFC here.
        normalised: list[dict[str, Any]] = nfc_tree(items)
        return normalised


class DvcqgResult(BaseModel):
    MaHoSo: str
    error_code: str
    message: str = Field(description="In Vietnamese; a refusal names the field and value.")
    MaHoSoTiepNhan: str | None = Field(default=None, description="Our code of the dossier.")
    field: str | None = Field(default=None, description="The field at fault, when refused.")
    value: str | None = Field(default=None, description="Its value (personal ones masked).")


class DvcqgReply(BaseModel):
    error_code: str = Field(examples=["0"])
    message: str = Field(examples=["Thành công"])
    result: list[DvcqgResult] = Field(default_factory=list)


class DossierDocument(BaseModel):
    """A paper of the dossier. Identity documents (CCCD, passport, ID card) are
    ``sensitive``: only the portal that submitted the dossier gets their storage reference
    (``storage_ref_withheld`` tells the others it exists); each such read is audited."""

    type_code: str = Field(examples=["TK_KS"])
    name: str = Field(examples=["Tờ khai đăng ký khai sinh"])
    checksum: str | None = None
    storage_ref: str | None = Field(examples=["s3://dossiers/2026/11/abc.pdf"])
    supplement: bool = Field(description="Handed in later, as a supplement.")
    sensitive: bool = Field(description="An identity document.")
    storage_ref_withheld: bool


class DossierDocuments(BaseModel):
    code: str = Field(examples=["000.01.01.H99-261122-0001"])
    documents: list[DossierDocument]


class DataSubjectRequest(Strict):
    """A citizen's request to know what the system holds about them (Law 91/2025/QH15)."""

    citizen_id: CitizenId
    reference: str = Field(
        default="",
        max_length=200,
        description="The request's own reference (e.g. the number of the citizen's letter).",
        examples=["Đơn yêu cầu số 12/2026"],
    )
