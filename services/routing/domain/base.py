"""Shared building blocks of routing's functional core: immutable models and its errors."""

from __future__ import annotations

from contracts.vietnam import VN_TZ
from reference.model import FrozenModel, ReferenceDataError

__all__ = ["FrozenModel", "ReferenceDataError"]  # routing's core builds on them too

# Dates that matter legally (effective-from of a workflow, receipt day) are Vietnam dates.
VIETNAM_TIME = VN_TZ

# A working day is eight working hours; every allotment is kept in hours.
HOURS_PER_WORKING_DAY = 8


class Rejected(Exception):
    """A command that is not a legal transition for the dossier as it stands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidState(AssertionError):
    """An event sequence produced a dossier state that breaks an invariant."""
