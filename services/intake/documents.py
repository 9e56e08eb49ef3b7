"""Intake's signed forms: 01 (receipt and appointment) and 07 (the unit's register),
filled from intake's rows for the shared layout (``services.runtime.documents``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.intake.domain.catalog import Catalog
from services.intake.domain.status import status_name
from services.intake.receipt import CHANNEL_NAMES
from services.runtime.documents.model import (
    Issuer,
    PaperLine,
    ReceiptForm,
    RegisterForm,
    RegisterRow,
)

DESK = "Người tiếp nhận hồ sơ"
HEAD = "Thủ trưởng cơ quan"


def issuer(catalog: Catalog, unit_code: str, place: str | None = None) -> Issuer:
    unit = catalog.units.get(unit_code)
    return Issuer(unit_code=unit_code, unit_name=unit.name if unit else unit_code, place=place)


def receipt_document(catalog: Catalog, row: dict[str, Any], place: str | None) -> ReceiptForm:
    """Form 01 of a dossier row; issued (and dated) at its receipt."""
    procedure = catalog.procedures.get(row["procedure_code"])
    applicant = json.loads(row["applicant"])
    return ReceiptForm(
        issuer=issuer(catalog, row["receiving_unit"], place),
        dossier_code=row["code"],
        issued_at=row["received_at"],
        signer_title=DESK,
        applicant_name=applicant.get("full_name"),  # gone once anonymised
        procedure_code=row["procedure_code"],
        procedure_name=procedure.name if procedure else row["procedure_code"],
        channel_name=CHANNEL_NAMES.get(int(row["channel"]), str(row["channel"])),
        documents=tuple(
            PaperLine(name=d["name"], type_code=d["type_code"])
            for d in json.loads(row["documents"])
            if not d.get("supplement")
        ),
        received_at=row["received_at"],
        appointment_at=row["appointment_at"],
    )


def register_document(
    catalog: Catalog,
    unit_code: str,
    period: tuple[date, date],
    rows: Sequence[dict[str, Any]],
    now: datetime,
    place: str | None,
) -> RegisterForm:
    """Form 07: the dossiers a unit received in a period, in order of receipt."""
    return RegisterForm(
        issuer=issuer(catalog, unit_code, place),
        issued_at=now,
        signer_title=HEAD,
        period_from=period[0],
        period_to=period[1],
        rows=tuple(
            RegisterRow(
                dossier_code=r["code"],
                procedure_name=(
                    p.name
                    if (p := catalog.procedures.get(r["procedure_code"]))
                    else r["procedure_code"]
                ),
                applicant_name=json.loads(r["applicant"]).get("full_name"),
                received_at=r["received_at"],
                appointment_at=r["appointment_at"],
                status_name=status_name(int(r["status"])),
                returned_at=r["returned_at"],
            )
            for r in rows
        ),
    )
