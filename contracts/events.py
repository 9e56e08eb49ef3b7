"""Payloads of the events each service publishes, one model per event type.

The registry at the bottom maps ``event_type`` to its payload model and its topic; it
drives the exported JSON Schemas and the AsyncAPI document.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class DossierStatus(IntEnum):
    """Status codes used by portal synchronisation (TrangThaiHoSo): the one status of a
    dossier in every service."""

    SUBMITTED = 1  # Mới đăng ký
    RECEIVED = 2  # Được tiếp nhận
    NOT_ACCEPTED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT_REQUESTED = 5  # Yêu cầu bổ sung
    FINANCIAL_OBLIGATION = 6  # Nghĩa vụ tài chính
    WITHDRAWN = 7  # Công dân yêu cầu rút
    STOPPED = 8  # Dừng xử lý
    DONE = 9  # Đã xử lý xong
    RETURNED = 10  # Đã trả kết quả

    @property
    def label(self) -> str:
        """The status as citizens and officials read it."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    DossierStatus.SUBMITTED: "Mới đăng ký",
    DossierStatus.RECEIVED: "Được tiếp nhận",
    DossierStatus.NOT_ACCEPTED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    DossierStatus.FINANCIAL_OBLIGATION: "Nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.DONE: "Đã xử lý xong",
    DossierStatus.RETURNED: "Đã trả kết quả",
}


class Channel(IntEnum):
    """KenhThucHien: how the dossier was submitted (the one channel enum of a dossier;
    notify's message channels are its ``DeliveryChannel``)."""

    IN_PERSON = 1
    ONLINE = 2
    POST = 3

    @property
    def slug(self) -> str:
        """The name reports and older stored states use: in_person, online, post."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> object:
        """A channel as stored before the enums were one (``"online"``) or as a code."""
        if isinstance(value, str) and not value.isdigit():
            return cls[value.upper()]
        return value


class QueueLevel(StrEnum):
    COMMUNE = "commune"
    DISTRICT = "district"
    DEPARTMENT = "department"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- dossier.intake -------------------------------------------------------------------


class DossierReceived(Payload):
    """A complete dossier was accepted at a desk or through a portal (status 2)."""

    dossier_code: str = Field(
        description="National dossier code.", examples=["000.00.01.H22-251103-0007"]
    )
    procedure_code: str = Field(description="Mã TTHC.", examples=["1.001193"])
    field_code: str = Field(description="Mã lĩnh vực.", examples=["HOTICH"])
    receiving_unit: str = Field(description="Code of the unit that received the dossier.")
    channel: Channel = Field(description="1 in person, 2 online, 3 post.")
    received_at: datetime = Field(description="When the complete dossier was received.")
    clock_started_at: datetime = Field(
        description="When the legal clock started (next opening if received out of hours)."
    )
    appointment_at: datetime = Field(description="The appointment printed on the receipt.")
    legal_hours: Decimal = Field(description="Legal processing time in working hours.")
    chosen_subprocedures: list[str] = Field(
        default_factory=list, description="For chains the citizen picks from (codes)."
    )
    conditions: list[str] = Field(
        default_factory=list, description="Workflow conditions, e.g. `verification_needed`."
    )
    contact_ref: str = Field(
        description="Opaque random reference (128 bits, URL-safe base64) notify and SLA use"
        " to fetch contact details from intake; not the dossier id, no personal data, never"
        " shown by a public endpoint.",
        examples=["q2Hc0m1bX4yV9sWkP7dLfA"],
    )
    result_delivery: Literal["desk", "post"] = Field(
        default="desk",
        description="Where the result goes: the desk, or by post (routing orders the parcel"
        " and fetches the address by `contact_ref`; the event carries no address).",
    )


class ContactRefAssigned(Payload):
    """The dossier's contact reference is (now) this value: sent once for each dossier
    received before references were random, so every consumer replaces what it used
    (the dossier id) for that dossier."""

    dossier_code: str
    contact_ref: str = Field(
        description="The new opaque contact reference.", examples=["q2Hc0m1bX4yV9sWkP7dLfA"]
    )


class OptOutChanged(Payload):
    """The citizen, through their portal, stopped (or resumed) one channel of messages
    about this dossier."""

    dossier_code: str
    channel: str = Field(examples=["email", "sms", "zalo"], pattern="^(email|sms|zalo)$")
    opted_out: bool = Field(description="True: stop this channel; false: resume it.")
    requested_at: datetime
    portal_id: str = Field(description="The portal that asked (audit).")


class SupplementSubmitted(Payload):
    """The citizen brought the missing papers; the clock resumes."""

    dossier_code: str
    submitted_at: datetime
    document_count: int = Field(ge=1)
    documents: list[str] = Field(
        default_factory=list, description="Document type codes supplied (mã thành phần)."
    )


class WithdrawalRequested(Payload):
    dossier_code: str
    requested_at: datetime
    reason: str = Field(max_length=1000)


class ObligationPaid(Payload):
    dossier_code: str
    paid_at: datetime
    amount_vnd: int = Field(ge=0)
    receipt_ref: str = Field(default="", description="Payment receipt or transaction id.")


# --- dossier.routing ------------------------------------------------------------------


class RoutingPayload(Payload):
    dossier_code: str
    procedure_code: str | None = Field(
        default=None,
        description="Mã TTHC, so a consumer can word its messages without other topics.",
        examples=["1.001193"],
    )
    status: DossierStatus = Field(description="The dossier's public status after this event.")
    at: datetime = Field(description="When the routing decision took effect.")


class StepAssigned(RoutingPayload):
    """A unit got a step of the dossier in its inbox."""

    task_id: str = Field(examples=["0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11:civil_status:2"])
    step_id: str = Field(examples=["civil_status"])
    step_name: str = Field(examples=["Đăng ký khai sinh"])
    unit_code: str = Field(examples=["X01"])
    queue_level: QueueLevel
    allotment_hours: Decimal = Field(description="The step's own time allotment (working h).")


class HandedOff(RoutingPayload):
    """One line of form 06: the dossier passed from one unit to another."""

    task_id: str = Field(examples=["0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11:civil_status:2"])
    step_id: str
    from_unit: str
    to_unit: str | None = Field(description="None when the last step finished.")
    actor: str = Field(description="Official's user id (no name).")


class StepClaimed(RoutingPayload):
    """An official took a task from the unit's inbox; the first claim starts processing
    (status 2 -> 4)."""

    task_id: str = Field(examples=["0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11:civil_status:2"])
    step_id: str
    unit_code: str
    actor: str = Field(description="Official's user id (no name).")


class SupplementRequested(RoutingPayload):
    task_id: str = Field(examples=["0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11:civil_status:2"])
    unit_code: str
    missing_documents: list[str] = Field(min_length=1)


class ObligationRequested(RoutingPayload):
    amount_vnd: int = Field(ge=0)
    unit_code: str


class ProcessingResumed(RoutingPayload):
    """The citizen answered (supplement or payment); processing goes on."""

    reason: str


class DossierClosed(RoutingPayload):
    """Result ready, returned, refused, stopped or withdrawn."""

    unit_code: str | None = None
    reason: str | None = None


class PostalTracking(RoutingPayload):
    """The result's parcel moved on: the order was created at the postal service, or one
    of its tracking callbacks (no address or name; the tracking number only)."""

    order_ref: str = Field(description="Our idempotency reference of the order.")
    order_id: str = Field(description="The postal service's order id.")
    tracking_number: str = Field(examples=["EH123456789VN"])
    postal_status: Literal["created", "accepted", "in_transit", "delivered", "returned_to_sender"]
    unit_code: str = Field(description="The sending (receiving) unit.")


# --- dossier.sla ----------------------------------------------------------------------


class DeadlineKind(StrEnum):
    DOSSIER = "dossier"
    STEP = "step"


class DeadlineOpened(Payload):
    dossier_code: str
    deadline_id: UUID
    kind: DeadlineKind
    task_id: str | None = None
    unit_code: str
    starts_at: datetime
    due_at: datetime
    allotment_hours: Decimal


class DeadlineAlert(Payload):
    """Due soon, step overdue or dossier overdue."""

    dossier_code: str
    deadline_id: UUID
    kind: DeadlineKind
    task_id: str | None = None
    unit_code: str
    due_at: datetime


class OverdueWithdrawn(Payload):
    """An overdue alarm taken back: SLA raised ``step.overdue`` (or ``dossier.overdue``,
    and ``step.escalated`` if it came to that) because the deadline's timer fired before
    SLA consumed the event that ended the work; that event shows the work ended in time
    (``completed_at`` is not after ``due_at``). The step, or dossier, was not overdue and
    its unit is not blamed for an apology. An apology already issued stands: the citizen
    holds its new appointment."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dossier_code": "000.00.01.H22-251103-0007",
                    "deadline_id": "3f1d2a0c-8b1e-5c7a-9e44-0d6b2f9a1c55",
                    "kind": "step",
                    "task_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11:civil_status:2",
                    "unit_code": "000.01.01.H99",
                    "due_at": "2026-03-09T15:00:00+07:00",
                    "completed_at": "2026-03-09T14:20:00+07:00",
                    "withdrawn": ["step.overdue"],
                }
            ]
        }
    )

    dossier_code: str
    deadline_id: UUID = Field(description="The deadline whose alarm is withdrawn.")
    kind: DeadlineKind
    task_id: str | None = None
    unit_code: str = Field(description="The unit the alarm named.")
    due_at: datetime
    completed_at: datetime = Field(
        description="When the work ended, as routing recorded it (not when SLA heard of it)."
    )
    withdrawn: list[str] = Field(
        description="The event types taken back: `step.overdue` or `dossier.overdue`, and"
        " `step.escalated` when the step had been escalated.",
        examples=[["step.overdue", "step.escalated"]],
    )


class ApologyIssued(Payload):
    """Form 04: the unit that caused the delay apologises and proposes a new date."""

    dossier_code: str
    responsible_unit: str
    reason: str
    old_appointment_at: datetime
    new_appointment_at: datetime
    letter_id: UUID


class StepEscalated(Payload):
    """A step stayed overdue past the escalation threshold: its supervisor is told."""

    dossier_code: str
    deadline_id: UUID
    task_id: str | None = None
    unit_code: str = Field(description="The unit whose step is overdue.")
    supervisor_unit: str | None = Field(description="The unit above it (None at the root).")
    due_at: datetime
    overdue_working_hours: Decimal


# --- dossier.notify -------------------------------------------------------------------


class NotificationStatusChanged(Payload):
    dossier_code: str
    message_id: UUID
    channel: str = Field(examples=["email", "sms", "zalo"])
    status: str = Field(examples=["sent", "delivered", "technical_failure"])
    template_id: str
    template_version: int
    provider: str | None = None


class RatingScores(BaseModel):
    """The province's satisfaction criteria, each 1 (rất không hài lòng) to 5 (rất hài lòng)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timeliness: int = Field(ge=1, le=5, description="Thời gian giải quyết hồ sơ.")
    attitude: int = Field(ge=1, le=5, description="Thái độ phục vụ của cán bộ, công chức.")
    clarity: int = Field(ge=1, le=5, description="Hướng dẫn rõ ràng, dễ hiểu.")
    outcome: int = Field(ge=1, le=5, description="Kết quả giải quyết hồ sơ.")


class DossierRated(Payload):
    """The citizen rated how the dossier was handled, from the signed link of the message
    that told them the result (one rating per dossier)."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "dossier_code": "000.00.01.H22-251103-0007",
                    "scores": {"timeliness": 5, "attitude": 4, "clarity": 4, "outcome": 5},
                    "comment": "Cán bộ hướng dẫn tận tình.",
                    "rated_at": "2026-11-20T03:00:00Z",
                }
            ]
        },
    )

    dossier_code: str
    scores: RatingScores
    comment: str | None = Field(
        default=None,
        max_length=1000,
        description="The citizen's comment, personal data masked; None when left empty.",
    )
    rated_at: datetime


class EventSpec(BaseModel):
    event_type: str
    topic: str
    payload: type[Payload]
    summary: str


EVENT_SPECS: tuple[EventSpec, ...] = (
    EventSpec(
        event_type="dossier.received",
        topic="dossier.intake",
        payload=DossierReceived,
        summary="A complete dossier was received; carries the appointment.",
    ),
    EventSpec(
        event_type="dossier.contact_ref_assigned",
        topic="dossier.intake",
        payload=ContactRefAssigned,
        summary="A dossier's contact reference was (re)assigned; replace the one held.",
    ),
    EventSpec(
        event_type="dossier.opt_out_changed",
        topic="dossier.intake",
        payload=OptOutChanged,
        summary="Through its portal, the citizen stopped or resumed a channel of messages.",
    ),
    EventSpec(
        event_type="dossier.supplement_submitted",
        topic="dossier.intake",
        payload=SupplementSubmitted,
        summary="The citizen supplied the missing papers.",
    ),
    EventSpec(
        event_type="dossier.withdrawal_requested",
        topic="dossier.intake",
        payload=WithdrawalRequested,
        summary="The citizen asked to withdraw.",
    ),
    EventSpec(
        event_type="dossier.obligation_paid",
        topic="dossier.intake",
        payload=ObligationPaid,
        summary="The citizen paid the financial obligation.",
    ),
    EventSpec(
        event_type="step.assigned",
        topic="dossier.routing",
        payload=StepAssigned,
        summary="A unit received a step in its inbox.",
    ),
    EventSpec(
        event_type="step.handed_off",
        topic="dossier.routing",
        payload=HandedOff,
        summary="A unit finished its step and passed the dossier on (form 06).",
    ),
    EventSpec(
        event_type="step.claimed",
        topic="dossier.routing",
        payload=StepClaimed,
        summary="An official took a task; the dossier is being processed (status 4).",
    ),
    EventSpec(
        event_type="dossier.supplement_requested",
        topic="dossier.routing",
        payload=SupplementRequested,
        summary="Missing papers: the clock pauses.",
    ),
    EventSpec(
        event_type="dossier.obligation_requested",
        topic="dossier.routing",
        payload=ObligationRequested,
        summary="Waiting for the citizen to pay.",
    ),
    EventSpec(
        event_type="dossier.processing_resumed",
        topic="dossier.routing",
        payload=ProcessingResumed,
        summary="The clock runs again.",
    ),
    EventSpec(
        event_type="dossier.result_ready",
        topic="dossier.routing",
        payload=DossierClosed,
        summary="The result is ready at the desk (status 9).",
    ),
    EventSpec(
        event_type="dossier.returned",
        topic="dossier.routing",
        payload=DossierClosed,
        summary="The result was handed to the citizen (status 10).",
    ),
    EventSpec(
        event_type="dossier.postal_tracking",
        topic="dossier.routing",
        payload=PostalTracking,
        summary="The result's postal parcel: order created, accepted, in transit, delivered"
        " or returned to sender.",
    ),
    EventSpec(
        event_type="dossier.refused",
        topic="dossier.routing",
        payload=DossierClosed,
        summary="The dossier was refused with reasons (status 3).",
    ),
    EventSpec(
        event_type="dossier.stopped",
        topic="dossier.routing",
        payload=DossierClosed,
        summary="Processing stopped (status 8).",
    ),
    EventSpec(
        event_type="dossier.withdrawn",
        topic="dossier.routing",
        payload=DossierClosed,
        summary="The citizen withdrew (status 7).",
    ),
    EventSpec(
        event_type="deadline.opened",
        topic="dossier.sla",
        payload=DeadlineOpened,
        summary="A dossier or step deadline started.",
    ),
    EventSpec(
        event_type="deadline.due_soon",
        topic="dossier.sla",
        payload=DeadlineAlert,
        summary="A deadline falls due within the warning window.",
    ),
    EventSpec(
        event_type="step.overdue",
        topic="dossier.sla",
        payload=DeadlineAlert,
        summary="A step overran its own allotment.",
    ),
    EventSpec(
        event_type="dossier.overdue",
        topic="dossier.sla",
        payload=DeadlineAlert,
        summary="The dossier passed its appointment.",
    ),
    EventSpec(
        event_type="deadline.overdue_withdrawn",
        topic="dossier.sla",
        payload=OverdueWithdrawn,
        summary="An overdue alarm raised before SLA heard the work had ended in time, taken back.",
    ),
    EventSpec(
        event_type="apology.issued",
        topic="dossier.sla",
        payload=ApologyIssued,
        summary="Form 04 apology with a new appointment.",
    ),
    EventSpec(
        event_type="step.escalated",
        topic="dossier.sla",
        payload=StepEscalated,
        summary="A step stayed overdue; its unit's supervisor is told.",
    ),
    EventSpec(
        event_type="notification.status_changed",
        topic="dossier.notify",
        payload=NotificationStatusChanged,
        summary="A message to the citizen moved on.",
    ),
    EventSpec(
        event_type="dossier.rated",
        topic="dossier.notify",
        payload=DossierRated,
        summary="The citizen rated the handling (satisfaction index), once per dossier.",
    ),
)

SPEC_BY_TYPE: dict[str, EventSpec] = {spec.event_type: spec for spec in EVENT_SPECS}
