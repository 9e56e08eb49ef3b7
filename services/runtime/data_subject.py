"""The body intake sends to the other services' data-subject export endpoints."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

MAX_DOSSIERS = 1000
ContactRef = Annotated[str, Field(min_length=1, max_length=128)]


class ExportQuery(BaseModel):
    """The dossiers of one person (their ids) and their contact references."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dossier_ids: list[UUID] = Field(default_factory=list, max_length=MAX_DOSSIERS)
    contact_refs: list[Annotated[str, Field(max_length=128)]] = Field(
        default_factory=list, max_length=MAX_DOSSIERS
    )

    def ids(self) -> list[UUID]:
        return list(dict.fromkeys(self.dossier_ids))
