"""The state of one dossier, built only by folding its events (see ``instance.evolve``)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BeforeValidator

from contracts.events import Channel, DossierStatus
from reference.units import QueueLevel

from .base import FrozenModel
from .status import ENDING, TERMINAL


class StepPhase(StrEnum):
    PENDING = "pending"  # not started (or reset by a return)
    OPEN = "open"  # a task waits in a unit's queue, claimed or not
    AWAITING_AGENCY = "awaiting_agency"  # an agency system owes an answer
    AWAITING_PAYMENT = "awaiting_payment"  # the citizen owes the assessed obligation
    DONE = "done"

    @property
    def under_way(self) -> bool:
        return self not in (StepPhase.PENDING, StepPhase.DONE)


class StepRun(FrozenModel):
    step_id: str
    phase: StepPhase = StepPhase.PENDING
    unit_code: str | None = None
    queue_level: QueueLevel | None = None
    task_id: str | None = None
    claimed_by: str | None = None
    correlation_id: str | None = None
    allotment_hours: int = 0
    started_at: AwareDatetime | None = None
    amount_vnd: int | None = None


class PendingSupplement(FrozenModel):
    task_id: str
    missing_documents: tuple[str, ...]


class DossierState(FrozenModel):
    dossier_id: str
    procedure_code: str
    field_code: str
    workflow_version: int
    receiving_unit: str
    # Older states and events stored the channel by name ("online").
    channel: Annotated[Channel, BeforeValidator(Channel.parse)]
    chosen_subprocedures: tuple[str, ...]
    conditions: frozenset[str]
    legal_hours: int
    received_at: AwareDatetime
    graph: Mapping[str, tuple[str, ...]]
    steps: Mapping[str, StepRun]
    status: DossierStatus = DossierStatus.RECEIVED
    version: int = 0  # number of events folded in
    supplement: PendingSupplement | None = None
    supplement_count: int = 0
    papers: tuple[str, ...] = ()
    ended_at: AwareDatetime | None = None  # the first of done, returned, stopped, refused

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def run_of_task(self, task_id: str) -> StepRun | None:
        return next((r for r in self.steps.values() if r.task_id == task_id), None)

    def run_of_correlation(self, correlation_id: str) -> StepRun | None:
        return next((r for r in self.steps.values() if r.correlation_id == correlation_id), None)

    def runs_in(self, *phases: StepPhase) -> list[StepRun]:
        return [r for r in self.steps.values() if r.phase in phases]


class WaitingOn(FrozenModel):
    """Who must act next: a unit's task, the citizen, or an agency system."""

    party: Literal["unit", "citizen", "agency"]
    reason: str
    unit_code: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None


def waiting_on(state: DossierState) -> list[WaitingOn]:
    """Everyone the dossier waits for; empty only when it has ended."""
    if state.is_terminal:
        return []
    if state.status is DossierStatus.SUPPLEMENT_REQUESTED and state.supplement is not None:
        missing = ", ".join(state.supplement.missing_documents)
        return [WaitingOn(party="citizen", reason=f"supplement: {missing}")]
    if state.status is DossierStatus.FINANCIAL_OBLIGATION:
        return [
            WaitingOn(party="citizen", reason=f"pay {r.amount_vnd} VND")
            for r in state.runs_in(StepPhase.AWAITING_PAYMENT)
        ]
    if state.status is DossierStatus.DONE:
        return [WaitingOn(party="unit", reason="return result", unit_code=state.receiving_unit)]
    tasks = [
        WaitingOn(party="unit", reason=r.step_id, unit_code=r.unit_code, task_id=r.task_id)
        for r in state.runs_in(StepPhase.OPEN)
    ]
    agencies = [
        WaitingOn(
            party="agency", reason=r.step_id, unit_code=r.unit_code, correlation_id=r.correlation_id
        )
        for r in state.runs_in(StepPhase.AWAITING_AGENCY)
    ]
    return tasks + agencies


def invariant_errors(state: DossierState) -> list[str]:
    """Broken rules of a dossier as it stands after a whole decision has been applied."""
    errors = [f"step {r.step_id}: {p}" for r in state.steps.values() for p in _run_errors(r)]
    if set(state.steps) != set(state.graph):
        errors.append("steps and live graph disagree")
    if (state.ended_at is None) == (state.status in ENDING):
        errors.append("ended_at must be set exactly when processing has ended")
    if state.is_terminal:
        return errors  # a closed dossier keeps whatever was open when it closed
    if (state.status is DossierStatus.SUPPLEMENT_REQUESTED) != (state.supplement is not None):
        errors.append("status 5 if and only if a supplement is pending")
    if state.supplement is not None:
        run = state.run_of_task(state.supplement.task_id)
        if run is None or run.phase is not StepPhase.OPEN or run.claimed_by is None:
            errors.append("the supplement request's task is not open and claimed")
    awaiting_payment = bool(state.runs_in(StepPhase.AWAITING_PAYMENT))
    if awaiting_payment != (state.status is DossierStatus.FINANCIAL_OBLIGATION):
        errors.append("status 6 if and only if a payment is awaited")
    if state.status is DossierStatus.DONE and state.runs_in(*_UNFINISHED):
        errors.append("done while steps are unfinished")
    for step_id, preds in state.graph.items():
        ready = all(state.steps[p].phase is StepPhase.DONE for p in preds)
        phase = state.steps[step_id].phase
        if phase is StepPhase.PENDING and ready:
            errors.append(f"step {step_id} is ready but was never started")
        if phase.under_way and not ready:
            errors.append(f"step {step_id} is under way before its predecessors are done")
    if not waiting_on(state):
        errors.append("nobody is named to act next")
    return errors


_UNFINISHED = (
    StepPhase.PENDING,
    StepPhase.OPEN,
    StepPhase.AWAITING_AGENCY,
    StepPhase.AWAITING_PAYMENT,
)


def _run_errors(run: StepRun) -> list[str]:
    errors: list[str] = []
    if run.phase is not StepPhase.PENDING and (run.unit_code is None or run.started_at is None):
        errors.append("started without a unit or a start time")
    if run.claimed_by is not None and run.phase is not StepPhase.OPEN:
        errors.append("claimed but not open")
    if run.phase is StepPhase.OPEN and run.task_id is None:
        errors.append("open without a task id")
    if run.phase is StepPhase.AWAITING_AGENCY and run.correlation_id is None:
        errors.append("awaiting an agency without a correlation id")
    if run.phase is StepPhase.AWAITING_PAYMENT and not run.amount_vnd:
        errors.append("awaiting payment of no amount")
    return errors
