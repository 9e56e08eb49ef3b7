"""Routing's pure functional core: reference data, workflows, and the dossier instance.

No I/O except reading reference YAML once (``load_reference``). Everything else takes
time and reference data as arguments: ``decide(state, command, now, ref) -> events`` and
``evolve(state, event) -> state``.
"""

from contracts.events import Channel, DossierStatus
from reference.loader import ReferenceData, load_reference
from reference.procedures import Chain, Procedure
from reference.units import QueueLevel, Unit, UnitLevel, UnitSelector
from reference.workflow import Step, StepKind, Workflow

from . import commands, events
from .base import HOURS_PER_WORKING_DAY, VIETNAM_TIME, InvalidState, ReferenceDataError, Rejected
from .fold import evolve, replay
from .instance import decide, execute
from .state import DossierState, StepPhase, StepRun, WaitingOn, invariant_errors, waiting_on
from .status import LEGAL_MOVES, TERMINAL, is_legal_move

__all__ = [
    "HOURS_PER_WORKING_DAY",
    "LEGAL_MOVES",
    "TERMINAL",
    "VIETNAM_TIME",
    "Chain",
    "Channel",
    "DossierState",
    "DossierStatus",
    "InvalidState",
    "Procedure",
    "QueueLevel",
    "ReferenceData",
    "ReferenceDataError",
    "Rejected",
    "Step",
    "StepKind",
    "StepPhase",
    "StepRun",
    "Unit",
    "UnitLevel",
    "UnitSelector",
    "WaitingOn",
    "Workflow",
    "commands",
    "decide",
    "events",
    "evolve",
    "execute",
    "invariant_errors",
    "is_legal_move",
    "load_reference",
    "replay",
    "waiting_on",
]
