"""The forms routing issues, filled from the dossier's events for the shared layout:
02 supplement request, 03 refusal, 05 stop notice, 06 process control sheet, and the
result document. Pure: names come from the reference data, the citizen's from intake."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reference.loader import ReferenceData
from services.routing.domain import events as ev
from services.routing.domain.state import DossierState
from services.runtime.documents.model import (
    ControlSheetForm,
    HandOffLine,
    Issuer,
    Outcome,
    PaperLine,
    RefusalForm,
    ResultDocument,
    StopNoticeForm,
    SupplementRequestForm,
)

FORM_EVENTS: Mapping[str, tuple[str, ...]] = {
    "02": ("SupplementRequested",),
    "03": ("Refused",),
    "05": ("Stopped",),
    "06": ("HandedOff",),
    "KQ": ("ResultReady",),
}
DESK_TITLE = "Bộ phận Tiếp nhận và Trả kết quả"


@dataclass(frozen=True, slots=True)
class Citizen:
    """What intake tells of the dossier (None: it could not be asked)."""

    name: str | None = None
    appointment_at: datetime | None = None


class NoSuchForm(LookupError):
    """The dossier has not (yet) reached the step that issues this form."""


def _unit_name(ref: ReferenceData, code: str) -> str:
    return ref.units[code].name if code in ref.units else code


def issuer(ref: ReferenceData, unit_code: str, place: str | None = None) -> Issuer:
    parent = ref.units[unit_code].parent if unit_code in ref.units else None
    return Issuer(
        unit_code=unit_code,
        unit_name=_unit_name(ref, unit_code),
        parent_name=_unit_name(ref, parent) if parent else None,
        place=place,
    )


def _procedure_name(ref: ReferenceData, code: str) -> str:
    procedure = ref.procedures.get(code)
    return procedure.name if procedure else code


def _paper(ref: ReferenceData, procedure_code: str, type_code: str) -> PaperLine:
    procedure = ref.procedures.get(procedure_code)
    names = {d.code: d.name for d in procedure.documents} if procedure else {}
    return PaperLine(name=names.get(type_code, type_code), type_code=type_code)


def _head(ref: ReferenceData, unit_code: str) -> str:
    return f"Thủ trưởng {_unit_name(ref, unit_code)}"


def build(
    form: str,
    state: DossierState,
    code: str,
    events: Sequence[ev.Event],
    ref: ReferenceData,
    citizen: Citizen,
    outcomes: Mapping[str, Outcome],
    place: str | None = None,
) -> SupplementRequestForm | RefusalForm | StopNoticeForm | ControlSheetForm | ResultDocument:
    """The form ``form`` of the dossier from its events (the latest one for 02, 03, 05 and
    the result; every hand-off for 06). ``outcomes`` judge hand-offs by task id (SLA's)."""
    common = {
        "dossier_code": code,
        "applicant_name": citizen.name,
        "procedure_code": state.procedure_code,
        "procedure_name": _procedure_name(ref, state.procedure_code),
    }
    if form == "06":
        lines = tuple(
            HandOffLine(
                from_unit_name=_unit_name(ref, e.from_unit),
                to_unit_name=_unit_name(ref, e.to_unit),
                at=e.at,
                outcome=outcomes.get(e.from_task_id or ""),
            )
            for e in events
            if isinstance(e, ev.HandedOff)
        )
        issued = lines[-1].at if lines else state.received_at
        return ControlSheetForm(
            issuer=issuer(ref, state.receiving_unit, place),
            issued_at=issued,
            signer_title=DESK_TITLE,
            received_at=state.received_at,
            appointment_at=citizen.appointment_at,
            lines=lines,
            **common,
        )
    if not events:
        raise NoSuchForm(form)
    last = events[-1]
    match last:
        case ev.SupplementRequested():
            return SupplementRequestForm(
                issuer=issuer(ref, last.unit_code, place),
                issued_at=last.at,
                signer_title=f"Cán bộ {_unit_name(ref, last.unit_code)}",
                missing=tuple(_paper(ref, state.procedure_code, c) for c in last.missing_documents),
                reason=last.reason,
                received_at=state.received_at,
                **common,
            )
        case ev.Refused():
            return RefusalForm(
                issuer=issuer(ref, last.unit_code, place),
                issued_at=last.at,
                signer_title=_head(ref, last.unit_code),
                reasons=last.reasons,
                **common,
            )
        case ev.Stopped():
            return StopNoticeForm(
                issuer=issuer(ref, last.unit_code, place),
                issued_at=last.at,
                signer_title=_head(ref, last.unit_code),
                reason=last.reason,
                **common,
            )
        case ev.ResultReady():
            return ResultDocument(
                issuer=issuer(ref, last.unit_code, place),
                issued_at=last.at,
                signer_title=_head(ref, last.unit_code),
                papers=last.papers or ("Kết quả giải quyết thủ tục hành chính",),
                decided_at=last.at,
                **common,
            )
    raise NoSuchForm(form)
