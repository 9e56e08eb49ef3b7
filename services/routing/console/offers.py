"""Which actions the console offers an operator on one dossier (pure, unit-tested).

The page offers a button only when the operator's role may issue the command
(``domain.authority``) and the dossier's state allows it (the same rules the core
checks in ``domain.handlers`` and ``domain.closing``); the core still decides, so an
offer that raced with a colleague's action is refused with a Vietnamese title.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.events import DossierStatus
from reference.procedures import Procedure
from reference.workflow import StepKind, Workflow, ancestors, descendants, successors
from services.routing.domain import authority
from services.routing.domain import commands as cmd
from services.routing.domain.state import DossierState, StepPhase, StepRun
from services.routing.domain.status import PAUSED
from services.runtime.auth import Principal

TASK_ACTIONS: dict[str, type[authority.OperatorCommand]] = {
    "claim": cmd.Claim,
    "complete": cmd.Complete,
    "obligation": cmd.RequestObligation,
    "forward": cmd.Forward,
    "return": cmd.ReturnTo,
    "supplement": cmd.RequestSupplement,
    "result": cmd.RecordResult,
}
DOSSIER_ACTIONS: dict[str, type[authority.OperatorCommand]] = {
    "refuse": cmd.Refuse,
    "stop": cmd.Stop,
    "return_result": cmd.ReturnResult,
}


def _may(who: Principal, action: type[authority.OperatorCommand]) -> bool:
    return authority.may_issue(who.role, action)


def _payment_follows(workflow: Workflow, state: DossierState, step_id: str) -> bool:
    return any(workflow.step(s).kind is StepKind.PAYMENT for s in successors(state.graph, step_id))


def next_steps(workflow: Workflow, state: DossierState, step_id: str) -> list[str | None]:
    """Where completing ``step_id`` leads (None: back to the desk, the result is ready);
    a payment step is the citizen's, so what comes after it is named instead."""
    following = successors(state.graph, step_id)
    if not following:
        return [None]
    found: list[str | None] = []
    for successor in following:
        if workflow.step(successor).kind is StepKind.PAYMENT:
            found.extend(next_steps(workflow, state, successor))
        else:
            found.append(successor)
    return found


def return_targets(workflow: Workflow, state: DossierState, step_id: str) -> list[str]:
    """Earlier steps the dossier may be sent back to from ``step_id`` now."""
    targets = []
    for target in ancestors(state.graph, step_id):
        if workflow.step(target).kind is StepKind.PAYMENT:
            continue
        below = descendants(state.graph, target) - {step_id}
        if any(state.steps[s].phase.under_way for s in below):
            continue
        targets.append(target)
    order = list(state.graph)
    return sorted(targets, key=order.index)


def supplement_documents(procedure: Procedure, state: DossierState) -> list[dict[str, str]]:
    """The procedure's papers that apply to the sub-procedures chosen (the list a
    supplement request ticks from)."""
    chosen = frozenset(state.chosen_subprocedures)
    return [
        {"code": d.code, "name": d.name}
        for d in procedure.documents
        if not d.subprocedures or d.subprocedures & chosen
    ]


def _task_actions(who: Principal, state: DossierState, run: StepRun, payment: bool) -> list[str]:
    if state.is_terminal or state.status is DossierStatus.DONE:
        return []
    if not who.may_act_for(run.unit_code or ""):
        return []
    if state.status in PAUSED:
        return []
    if run.claimed_by is None:
        names = ["claim"]
    elif run.claimed_by != who.user_id:
        return []
    else:
        names = ["obligation" if payment else "complete", "result", "forward", "return"]
        if state.status is not DossierStatus.SUPPLEMENT_REQUESTED:
            names.append("supplement")
    return [n for n in names if _may(who, TASK_ACTIONS[n])]


def _holding_units(state: DossierState) -> set[str]:
    return {
        r.unit_code
        for r in state.runs_in(StepPhase.OPEN, StepPhase.AWAITING_AGENCY)
        if r.unit_code is not None
    }


def dossier_actions(who: Principal, state: DossierState) -> list[str]:
    """Refuse (form 03), stop (form 05), return the result: signed by the head."""
    if state.is_terminal:
        return []
    supervisor = who.role == "province_supervisor"
    at_desk = supervisor or who.unit_code == state.receiving_unit
    names: list[str] = []
    if state.status is DossierStatus.RECEIVED and at_desk:
        names.append("refuse")
    if state.status is DossierStatus.DONE:
        if at_desk:
            names.append("return_result")
    elif at_desk or who.unit_code in _holding_units(state):
        names.append("stop")
    return names


def head_signs(who: Principal, state: DossierState) -> list[str]:
    """What the dossier's state allows that this operator's role may not sign (the page
    says who signs it instead of offering a button)."""
    return [n for n in dossier_actions(who, state) if not _may(who, DOSSIER_ACTIONS[n])]


def _since(run: StepRun) -> str | None:
    return run.started_at.isoformat() if run.started_at else None


def waits(state: DossierState, workflow: Workflow) -> list[dict[str, Any]]:
    """Who the dossier waits for outside the units: agency systems (what is awaited and
    since when), the citizen's payment or papers."""
    found: list[dict[str, Any]] = []
    for run in state.runs_in(StepPhase.AWAITING_AGENCY):
        step = workflow.step(run.step_id)
        found.append(
            {
                "party": "agency",
                "step_id": run.step_id,
                "unit_code": run.unit_code,
                "correlation_id": run.correlation_id,
                "since": _since(run),
                "timeout_hours": step.timeout_hours,
            }
        )
    for run in state.runs_in(StepPhase.AWAITING_PAYMENT):
        found.append(
            {
                "party": "citizen",
                "what": "payment",
                "step_id": run.step_id,
                "amount_vnd": run.amount_vnd,
                "since": _since(run),
            }
        )
    if state.supplement is not None and state.status is DossierStatus.SUPPLEMENT_REQUESTED:
        found.append(
            {
                "party": "citizen",
                "what": "supplement",
                "task_id": state.supplement.task_id,
                "missing_documents": list(state.supplement.missing_documents),
            }
        )
    return found


def offers(
    who: Principal,
    state: DossierState,
    procedure: Procedure,
    unit_of: Callable[[str], str | None] = lambda step_id: None,
) -> dict[str, Any]:
    """Everything the page may offer on this dossier, for this operator; ``unit_of``
    names the unit that carries out a step (for saying where a completion leads)."""
    workflow = procedure.workflow(state.workflow_version)
    tasks = []
    # A closed dossier keeps whatever was open when it closed: nothing is to be done.
    for run in [] if state.is_terminal else state.runs_in(StepPhase.OPEN):
        payment = _payment_follows(workflow, state, run.step_id)
        actions = _task_actions(who, state, run, payment)
        tasks.append(
            {
                "task_id": run.task_id,
                "step_id": run.step_id,
                "unit_code": run.unit_code,
                "claimed_by": run.claimed_by,
                "since": _since(run),
                "actions": actions,
                "next_steps": [
                    {
                        "step_id": s,
                        "unit_code": state.receiving_unit if s is None else unit_of(s),
                    }
                    for s in next_steps(workflow, state, run.step_id)
                ],
                "return_targets": (
                    return_targets(workflow, state, run.step_id) if "return" in actions else []
                ),
                "ends_with_obligation": payment,
            }
        )
    return {
        "version": state.version,
        "status": int(state.status),
        "tasks": tasks,
        "dossier": [n for n in dossier_actions(who, state) if _may(who, DOSSIER_ACTIONS[n])],
        "head_signs": head_signs(who, state),
        "waits": waits(state, workflow),
        "documents": supplement_documents(procedure, state),
    }


def visible_subprocedures(
    who: Principal, state: DossierState, workflow: Workflow
) -> list[str] | None:
    """The family's choice of sub-procedures is on a need-to-know basis: the desk that
    received it and the province supervisor see all of it; a unit working one of them
    sees the ones its steps carry out; None when the dossier is not a chain."""
    if not state.chosen_subprocedures:
        return None
    if who.role == "province_supervisor" or who.unit_code == state.receiving_unit:
        return list(state.chosen_subprocedures)
    mine = {
        workflow.step(r.step_id).subprocedure
        for r in state.steps.values()
        if r.unit_code == who.unit_code
    }
    return [c for c in state.chosen_subprocedures if c in mine]
