"""The dossier instance core: ``decide`` turns a command into events or raises Rejected;
``evolve`` folds events into state. Pure: time and reference data are passed in."""

from __future__ import annotations

from datetime import datetime

from reference.loader import ReferenceData

from . import commands as cmd
from . import events as ev
from .base import VIETNAM_TIME, InvalidState, Rejected
from .fold import evolve, replay
from .handlers import handle
from .progress import Progress
from .state import DossierState, invariant_errors

__all__ = ["DossierState", "Rejected", "decide", "evolve", "execute", "replay"]


def decide(
    state: DossierState | None, command: cmd.Command, now: datetime, ref: ReferenceData
) -> list[ev.Event]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if isinstance(command, cmd.Start):
        return _start(state, command, now, ref)
    if state is None:
        raise Rejected("no such dossier; it must be started first")
    if state.is_terminal:
        raise Rejected(f"dossier is closed ({state.status} {state.status.label})")
    progress = Progress(state, ref, now)
    handle(progress, command)
    return progress.events


def execute(
    state: DossierState | None, command: cmd.Command, now: datetime, ref: ReferenceData
) -> tuple[DossierState, list[ev.Event]]:
    """decide, fold, and refuse to hand back a state that breaks an invariant (a bug)."""
    events = decide(state, command, now, ref)
    new_state = state
    for event in events:
        new_state = evolve(new_state, event)
    if new_state is None:
        raise InvalidState("a decision left no dossier behind")
    if errors := invariant_errors(new_state):
        raise InvalidState(f"{type(command).__name__} broke the dossier: {errors}")
    return new_state, events


def _start(
    state: DossierState | None, command: cmd.Start, now: datetime, ref: ReferenceData
) -> list[ev.Event]:
    if state is not None:
        raise Rejected(f"dossier {command.dossier_id} was already started")
    procedure = ref.procedures.get(command.procedure_code)
    if procedure is None:
        raise Rejected(f"unknown procedure {command.procedure_code}")
    if command.receiving_unit not in ref.units:
        raise Rejected(f"unknown unit {command.receiving_unit}")
    unit = ref.unit(command.receiving_unit)
    if unit.level not in procedure.active_at:
        raise Rejected(f"{procedure.code} is not received at {unit.level} level ({unit.name})")
    if unknown := command.conditions - set(procedure.conditions):
        raise Rejected(f"unknown conditions for {procedure.code}: {sorted(unknown)}")
    if procedure.chain is not None:
        if problem := procedure.chain.problem_with(command.chosen_subprocedures):
            raise Rejected(f"{procedure.code}: {problem}")
    elif command.chosen_subprocedures:
        raise Rejected(f"{procedure.code} is not a chain; there is nothing to choose")
    workflow = procedure.workflow_on(now.astimezone(VIETNAM_TIME).date())
    if workflow is None:
        raise Rejected(f"{procedure.code} has no workflow in force on {now.date()}")
    chosen = frozenset(command.chosen_subprocedures)
    graph = workflow.live_graph(chosen, command.conditions)
    received = ev.DossierReceived(
        dossier_id=command.dossier_id,
        at=now,
        procedure_code=procedure.code,
        field_code=procedure.field,
        workflow_version=workflow.version,
        receiving_unit=unit.code,
        channel=command.channel,
        chosen_subprocedures=command.chosen_subprocedures,
        conditions=command.conditions,
        legal_hours=procedure.legal_hours(command.channel, command.conditions),
        graph=graph,
    )
    progress = Progress.begin(received, ref)
    for step_id, preds in graph.items():
        if not preds:
            progress.start(step_id)
    return progress.events
