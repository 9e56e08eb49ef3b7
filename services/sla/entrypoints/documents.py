"""SLA's signed PDF: form 04, for the same callers as the printable page."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.runtime.documents.service import PDF, Documents, documents_of, pdf_response
from services.sla.documents import apology_document
from services.sla.entrypoints.http import (
    CALLER,
    NOT_FOUND,
    CallerDep,
    RuntimeDep,
    _citizen_name,
    _readable_letter,
)

# Included before the letters router, so that "{id}.pdf" is not read as a letter id.
router = APIRouter(prefix="/v1/apologies", tags=["apologies"])
PDF_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}
}


@router.get(
    "/{letter_id}.pdf",
    response_class=Response,
    responses={**PDF_OK, **CALLER, **NOT_FOUND},
    summary="Form 04 as a signed PDF.",
)
async def letter_pdf(
    letter_id: UUID,
    rt: RuntimeDep,
    who: CallerDep,
    documents: Annotated[Documents, Depends(documents_of)],
) -> Response:
    """Carries the citizen's name (fetched from intake): the callers of the printable page
    only; without the name (intake unreachable) the letter is issued with a blank for it."""
    letter = await _readable_letter(rt, who, letter_id)
    current = await rt.pool.fetchval(
        "SELECT contact_ref FROM dossiers WHERE dossier_id = $1", letter.dossier_id
    )
    name = await _citizen_name(rt, current or letter.contact_ref)
    headers = {} if name else {"X-Contact-Lookup": "unavailable"}
    form = apology_document(letter, name, documents.place)
    return pdf_response(await documents.issue(form), form.form, form.dossier_code, headers)
