"""Moving a dossier through its graph within one decision.

Events are folded into a working copy as soon as they are emitted, so each later choice
(is the join ready? is everything done?) sees the effect of the earlier ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from reference.loader import ReferenceData
from reference.procedures import Procedure
from reference.units import Unit, UnresolvedUnitError
from reference.workflow import Step, StepKind, Workflow, successors

from . import events as ev
from .base import Rejected
from .fold import evolve
from .state import DossierState, StepPhase, StepRun


class Stamp(TypedDict):
    """What every event of a decision shares."""

    dossier_id: str
    at: datetime


class Progress:
    def __init__(self, state: DossierState, ref: ReferenceData, now: datetime) -> None:
        self.state = state
        self.ref = ref
        self.now = now
        self.events: list[ev.Event] = []
        try:
            self.procedure: Procedure = ref.procedure(state.procedure_code)
            self.workflow: Workflow = self.procedure.workflow(state.workflow_version)
        except KeyError:
            # A pinned workflow must stay in the reference while dossiers still use it.
            raise Rejected(
                f"workflow v{state.workflow_version} of {state.procedure_code} is no longer"
                " in the reference data"
            ) from None

    @classmethod
    def begin(cls, received: ev.DossierReceived, ref: ReferenceData) -> Progress:
        progress = cls(evolve(None, received), ref, received.at)
        progress.events.append(received)
        return progress

    @property
    def stamp(self) -> Stamp:
        return Stamp(dossier_id=self.state.dossier_id, at=self.now)

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)
        self.state = evolve(self.state, event)

    def _next_reference(self, step_id: str) -> str:
        # The number of the event that carries it: unique within the dossier, and stable.
        return f"{self.state.dossier_id}:{step_id}:{self.state.version + 1}"

    def step(self, step_id: str) -> Step:
        return self.workflow.step(step_id)

    def unit_of(self, step_id: str) -> Unit:
        step = self.step(step_id)
        if step.unit is None:
            raise Rejected(f"step {step_id} is not carried out by a unit")
        try:
            return self.ref.units.resolve(
                step.unit, self.state.receiving_unit, self.procedure.field
            )
        except UnresolvedUnitError as error:
            raise Rejected(f"no unit for step {step_id} ({step.unit}): {error}") from None

    def start(self, step_id: str, *, amount_vnd: int | None = None, by_hand: bool = False) -> None:
        """Put a step to work; ``by_hand`` turns an external step into a task for its unit."""
        step = self.step(step_id)
        if step.kind is StepKind.PAYMENT:
            if amount_vnd is None:
                raise Rejected(f"step {step_id} needs the assessed amount")
            assessor = self.state.steps[self.state.graph[step_id][0]].unit_code or ""
            self.emit(
                ev.ObligationRequested(
                    **self.stamp, step_id=step_id, assessed_by_unit=assessor, amount_vnd=amount_vnd
                )
            )
            return
        unit = self.unit_of(step_id)
        hours = step.allotment(self.state.conditions)
        reference = self._next_reference(step_id)
        if step.kind is StepKind.EXTERNAL and not by_hand:
            self.emit(
                ev.ExternalRequested(
                    **self.stamp,
                    step_id=step_id,
                    correlation_id=reference,
                    unit_code=unit.code,
                    allotment_hours=hours,
                    timeout_hours=step.timeout_hours or 0,
                )
            )
            return
        self.emit(
            ev.StepAssigned(
                **self.stamp,
                step_id=step_id,
                task_id=reference,
                unit_code=unit.code,
                queue_level=unit.queue_level,
                allotment_hours=hours,
            )
        )

    def hand_off(self, run: StepRun, to_step: str | None) -> None:
        """A form-06 line from ``run``'s unit to ``to_step``'s (None: the desk)."""
        to_unit = self.state.receiving_unit if to_step is None else self.unit_of(to_step).code
        self.emit(
            ev.HandedOff(
                **self.stamp,
                from_step_id=run.step_id,
                from_unit=run.unit_code or "",
                from_task_id=run.task_id or run.correlation_id,
                to_step_id=to_step,
                to_unit=to_unit,
                allotment_hours=run.allotment_hours,
                step_started_at=run.started_at or self.now,
            )
        )

    def payment_follows(self, step_id: str) -> bool:
        return any(
            self.step(s).kind is StepKind.PAYMENT for s in successors(self.state.graph, step_id)
        )

    def finish(self, run: StepRun, *, amount_vnd: int | None = None, hand_off: bool = True) -> None:
        """After a step is done: hand-offs, then start what it unblocks, then the result."""
        graph = self.state.graph
        if hand_off:
            for target in self._hand_off_targets(run.step_id):
                self.hand_off(run, target)
        for successor in successors(graph, run.step_id):
            if self._ready(successor):
                self.start(successor, amount_vnd=amount_vnd)
        if all(r.phase is StepPhase.DONE for r in self.state.steps.values()):
            self.emit(
                ev.ResultReady(
                    **self.stamp,
                    unit_code=self.state.receiving_unit,
                    papers=self.state.papers,
                )
            )

    def _ready(self, step_id: str) -> bool:
        preds = self.state.graph[step_id]
        return self.state.steps[step_id].phase is StepPhase.PENDING and all(
            self.state.steps[p].phase is StepPhase.DONE for p in preds
        )

    def _hand_off_targets(self, step_id: str) -> list[str | None]:
        # A payment step is the citizen's, not a unit's: the line goes to the unit after it.
        targets: list[str | None] = []
        following = successors(self.state.graph, step_id)
        for successor in following:
            if self.step(successor).kind is StepKind.PAYMENT:
                targets.extend(self._hand_off_targets(successor))
            else:
                targets.append(successor)
        return targets if following else [None]
