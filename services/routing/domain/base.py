"""Shared building blocks of routing's functional core: immutable models and its errors."""

from __future__ import annotations

from datetime import timedelta, timezone

from pydantic import BaseModel, ConfigDict

# Dates that matter legally (effective-from of a workflow, receipt day) are Vietnam dates.
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")

# A working day is eight working hours; every allotment is kept in hours.
HOURS_PER_WORKING_DAY = 8


class FrozenModel(BaseModel):
    """Immutable, strict about unknown keys: a typo in reference data must fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Rejected(Exception):
    """A command that is not a legal transition for the dossier as it stands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReferenceDataError(ValueError):
    """Reference data that cannot be used; names the file and the entry at fault."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        super().__init__(f"{file}: {entry}: {problem}")
        self.file = file
        self.entry = entry
        self.problem = problem


class InvalidState(AssertionError):
    """An event sequence produced a dossier state that breaks an invariant."""
