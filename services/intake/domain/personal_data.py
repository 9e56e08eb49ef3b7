"""Personal-data rules of intake, pure: identity documents, who sees what, masking.

Identity documents (căn cước / CCCD, CMND, passport, other ID cards) are sensitive: their
images identify a person completely. A document is one when its type code is one of the
identity codes or its name says so (portals send their own codes for papers beyond the
procedure's required ones; none of the reference data's required papers is an identity
document today). Only the portal that submitted a dossier is given the storage reference
of such a document; every other reader gets the document without it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.events import DossierStatus as S

# Type codes portals and the national portal use for identity papers.
IDENTITY_DOCUMENT_CODES = frozenset(
    {
        "CCCD",  # căn cước công dân
        "CC",  # thẻ căn cước (Law on Identification 2023)
        "CMND",  # chứng minh nhân dân
        "CMQD",  # chứng minh quân đội
        "HO_CHIEU",
        "HC",
        "PASSPORT",
        "GTTT",  # giấy tờ tùy thân
        "ID_CARD",
        "DDCN",  # định danh cá nhân
    }
)
_IDENTITY_WORDS = (
    "căn cước",
    "chứng minh nhân dân",
    "chứng minh thư",
    "chứng minh quân đội",
    "hộ chiếu",
    "giấy tờ tùy thân",
    "giấy tờ tuỳ thân",
    "định danh cá nhân",
    "passport",
    "identity card",
    "id card",
)
# A dossier is closed in these statuses; its personal data's retention runs from then.
CLOSED_STATUSES = frozenset({S.NOT_ACCEPTED, S.WITHDRAWN, S.STOPPED, S.DONE, S.RETURNED})


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def is_identity_document(type_code: str, name: str) -> bool:
    code = type_code.strip().upper().replace("-", "_")
    if code in IDENTITY_DOCUMENT_CODES:
        return True
    folded = _folded(name)
    return any(word in folded for word in _IDENTITY_WORDS)


def is_sensitive(document: Mapping[str, Any]) -> bool:
    """Flagged at receipt, or recognisable now (rows stored before the flag existed)."""
    return bool(document.get("sensitive")) or is_identity_document(
        str(document.get("type_code", "")), str(document.get("name", ""))
    )


def flag_documents(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The documents as stored: each with ``sensitive`` true or false."""
    return [{**d, "sensitive": is_sensitive(d)} for d in documents]


@dataclass(frozen=True)
class DocumentsView:
    documents: list[dict[str, Any]]
    revealed_sensitive: int  # identity documents whose storage reference was given out


def documents_for(
    documents: Iterable[Mapping[str, Any]], *, submitting_portal: bool
) -> DocumentsView:
    """What a reader is shown: identity documents keep their storage reference only for
    the portal that submitted them."""
    shown: list[dict[str, Any]] = []
    revealed = 0
    for d in documents:
        sensitive = is_sensitive(d)
        withheld = sensitive and not submitting_portal
        revealed += int(sensitive and not withheld)
        shown.append(
            {
                "type_code": d.get("type_code", ""),
                "name": d.get("name", ""),
                "checksum": d.get("checksum"),
                "storage_ref": None if withheld else d.get("storage_ref"),
                "supplement": bool(d.get("supplement")),
                "sensitive": sensitive,
                "storage_ref_withheld": withheld,
            }
        )
    return DocumentsView(shown, revealed)


def mask_citizen_id(citizen_id: str) -> str:
    """What an audit row keeps of the number: its last three digits."""
    return "*" * max(len(citizen_id) - 3, 0) + citizen_id[-3:]
