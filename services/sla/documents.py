"""Form 04 (apology and new appointment) for the shared layout, from the stored letter."""

from __future__ import annotations

from services.runtime.documents.model import ApologyForm, Issuer
from services.sla.domain.apology import ApologyLetter


def apology_document(
    letter: ApologyLetter, citizen_name: str | None, place: str | None
) -> ApologyForm:
    return ApologyForm(
        issuer=Issuer(
            unit_code=letter.responsible_unit, unit_name=letter.responsible_unit_name, place=place
        ),
        dossier_code=letter.dossier_code,
        issued_at=letter.issued_at,
        signer_title=letter.signed_by_title,
        applicant_name=citizen_name,
        procedure_code=letter.procedure_code or "",
        procedure_name=letter.procedure_name or letter.procedure_code or "",
        reason=letter.reason,
        old_appointment_at=letter.old_appointment_at,
        new_appointment_at=letter.new_appointment_at,
    )
