"""Pure rules of intake: completeness, dossier codes and the appointment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.events import Channel
from contracts.intake_api import SubmitDossier
from services.intake.domain.catalog import Catalog, ProcedureInfo, UnitInfo
from services.workcal.calendar import WorkingCalendar


class SubmissionRefused(Exception):
    """The submission cannot be received; ``problems`` says why, in the client's terms."""

    def __init__(self, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail
        self.extra = extra


@dataclass(frozen=True)
class Checked:
    procedure: ProcedureInfo
    unit: UnitInfo


def check_submission(catalog: Catalog, body: SubmitDossier) -> Checked:
    unit = catalog.units.get(body.receiving_unit)
    if unit is None:
        raise SubmissionRefused("Đơn vị không tồn tại", f"Unknown unit {body.receiving_unit}.")
    procedure = catalog.procedures.get(body.procedure_code)
    if procedure is None:
        raise SubmissionRefused(
            "Thủ tục không tồn tại", f"Unknown procedure {body.procedure_code}."
        )
    if unit.level not in procedure.active_levels:
        raise SubmissionRefused(
            "Thủ tục không áp dụng tại đơn vị này",
            f"Procedure {procedure.code} is not received at unit {unit.code}.",
        )
    _check_chain(procedure, body.chosen_subprocedures)
    if unknown := sorted(set(body.conditions) - procedure.conditions):
        raise SubmissionRefused(
            "Điều kiện không hợp lệ",
            f"Procedure {procedure.code} has no conditions {unknown}.",
        )
    supplied = {d.type_code for d in body.documents}
    missing = [
        {"type_code": code, "name": name}
        for code, name in procedure.needed_documents(body.chosen_subprocedures).items()
        if code not in supplied
    ]
    if missing:
        raise SubmissionRefused(
            "Hồ sơ chưa đầy đủ",
            "Required documents are missing; nothing was received.",
            missing_documents=missing,
        )
    return Checked(procedure=procedure, unit=unit)


def _check_chain(procedure: ProcedureInfo, chosen: list[str]) -> None:
    if procedure.chain is None:
        if chosen:
            raise SubmissionRefused(
                "Thủ tục không có thủ tục liên thông để chọn",
                f"Procedure {procedure.code} has no sub-procedures to choose.",
            )
        return
    chain = procedure.chain
    unknown = sorted(set(chosen) - set(chain.options))
    if unknown or len(set(chosen)) != len(chosen):
        raise SubmissionRefused(
            "Lựa chọn thủ tục liên thông không hợp lệ",
            f"Unknown or repeated sub-procedures: {unknown or chosen}.",
        )
    if not chain.min_choices <= len(chosen) <= chain.max_choices:
        raise SubmissionRefused(
            "Số thủ tục liên thông không hợp lệ",
            f"Choose between {chain.min_choices} and {chain.max_choices} sub-procedures.",
        )
    if missing := sorted(chain.mandatory - set(chosen)):
        # Their papers are required only when chosen, so a chain without them is refused.
        raise SubmissionRefused(
            "Thiếu thủ tục liên thông bắt buộc",
            f"The chain must include the sub-procedures {missing}.",
        )


def dossier_code(agency_code: str, day: date, sequence: int) -> str:
    """National format ``V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX``."""
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


@dataclass(frozen=True)
class Appointment:
    clock_started_at: datetime
    appointment_at: datetime
    legal_hours: Decimal


def legal_hours(procedure: ProcedureInfo, channel: Channel, conditions: list[str]) -> Decimal:
    """The legal time: the online one for online dossiers, longer when a condition says so."""
    hours = procedure.legal_hours
    if channel == Channel.ONLINE and procedure.online_hours is not None:
        hours = procedure.online_hours
    matching = [h for name, h in procedure.hours_if.items() if name in conditions]
    return max([hours, *matching])


def appointment(
    calendar: WorkingCalendar,
    procedure: ProcedureInfo,
    channel: Channel,
    conditions: list[str],
    received_at: datetime,
) -> Appointment:
    hours = legal_hours(procedure, channel, conditions)
    start = calendar.clock_start(received_at, procedure.cut_off)
    return Appointment(
        clock_started_at=start,
        appointment_at=calendar.add_working_hours(start, hours),
        legal_hours=hours,
    )
