"""Building blocks of the province's reference data: immutable models and the error that
names the file and entry at fault."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """Immutable, strict about unknown keys: a typo in reference data must fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ReferenceDataError(ValueError):
    """Reference data that cannot be used; names the file and the entry at fault."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        super().__init__(f"{file}: {entry}: {problem}")
        self.file = file
        self.entry = entry
        self.problem = problem
