"""One function per command (after Start): check it is legal here and now, then emit."""

from __future__ import annotations

from contracts.events import DossierStatus
from reference.workflow import StepKind, ancestors, descendants

from . import commands as cmd
from . import events as ev
from .base import Rejected
from .closing import close
from .progress import Progress
from .state import StepPhase, StepRun
from .status import PAUSED


def handle(p: Progress, command: cmd.Command) -> None:
    match command:
        case cmd.Claim():
            _claim(p, command)
        case cmd.Forward():
            _forward(p, command)
        case cmd.Complete():
            _complete(p, command)
        case cmd.RequestObligation():
            _request_obligation(p, command)
        case cmd.RecordResult():
            _record_result(p, command)
        case cmd.ReturnTo():
            _return_to(p, command)
        case cmd.RequestSupplement():
            _request_supplement(p, command)
        case cmd.SupplementSubmitted():
            _supplement_submitted(p, command)
        case cmd.ObligationPaid():
            _obligation_paid(p, command)
        case cmd.ExternalAnswered() | cmd.ExternalTimedOut():
            _external(p, command)
        case cmd.Refuse() | cmd.Stop() | cmd.Withdraw() | cmd.ReturnResult():
            close(p, command)
        case cmd.Start():
            raise Rejected(f"dossier {p.state.dossier_id} was already started")


def _not_paused(p: Progress) -> None:
    if p.state.status in PAUSED:
        raise Rejected(f"waiting for the citizen ({p.state.status} {p.state.status.label})")


def _task(p: Progress, task_id: str, official: cmd.Official, *, claimed: bool = True) -> StepRun:
    run = p.state.run_of_task(task_id)
    if run is None or run.phase is not StepPhase.OPEN:
        raise Rejected(f"no open task {task_id}")
    if official.unit_code != run.unit_code:
        raise Rejected(
            f"task {task_id} belongs to {run.unit_code};"
            f" {official.user_id} acts for {official.unit_code}"
        )
    if claimed and run.claimed_by is None:
        raise Rejected(f"task {task_id} must be claimed first")
    if claimed and run.claimed_by != official.user_id:
        raise Rejected(f"task {task_id} is claimed by {run.claimed_by}")
    return run


def _claim(p: Progress, c: cmd.Claim) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official, claimed=False)
    if run.claimed_by == c.official.user_id:
        return  # claiming one's own task again changes nothing
    if run.claimed_by is not None:
        raise Rejected(f"task {c.task_id} is claimed by {run.claimed_by}")
    if c.expected_version != p.state.version:
        raise Rejected(
            f"dossier changed (version {p.state.version}, you saw {c.expected_version}); reload"
        )
    p.emit(
        ev.TaskClaimed(
            **p.stamp,
            task_id=c.task_id,
            step_id=run.step_id,
            unit_code=c.official.unit_code,
            official_id=c.official.user_id,
        )
    )


def _forward(p: Progress, c: cmd.Forward) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official)  # only the holder may hand it on
    if c.to_official_id == c.official.user_id:
        raise Rejected(f"task {c.task_id} is already held by {c.official.user_id}")
    p.emit(
        ev.TaskForwarded(
            **p.stamp,
            task_id=c.task_id,
            step_id=run.step_id,
            unit_code=c.official.unit_code,
            from_official_id=c.official.user_id,
            to_official_id=c.to_official_id,
            note=c.note,
        )
    )


def _step_completed(p: Progress, run: StepRun, official_id: str, note: str) -> None:
    p.emit(
        ev.StepCompleted(
            **p.stamp,
            step_id=run.step_id,
            unit_code=run.unit_code or "",
            task_id=run.task_id,
            official_id=official_id,
            note=note,
        )
    )


def _complete(p: Progress, c: cmd.Complete) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official)
    if p.payment_follows(run.step_id):
        raise Rejected(f"step {run.step_id} ends by assessing the obligation (RequestObligation)")
    _step_completed(p, run, c.official.user_id, c.note)
    p.finish(run)


def _request_obligation(p: Progress, c: cmd.RequestObligation) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official)
    if not p.payment_follows(run.step_id):
        raise Rejected(f"no financial obligation follows step {run.step_id}")
    _step_completed(p, run, c.official.user_id, f"obligation assessed: {c.amount_vnd} VND")
    p.finish(run, amount_vnd=c.amount_vnd)


def _record_result(p: Progress, c: cmd.RecordResult) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official)
    p.emit(
        ev.ResultRecorded(
            **p.stamp,
            task_id=c.task_id,
            step_id=run.step_id,
            unit_code=c.official.unit_code,
            papers=c.papers,
        )
    )


def _return_to(p: Progress, c: cmd.ReturnTo) -> None:
    _not_paused(p)
    run = _task(p, c.task_id, c.official)
    graph = p.state.graph
    if c.target_step not in ancestors(graph, run.step_id):
        raise Rejected(f"{c.target_step} is not an earlier step of {run.step_id} here")
    if p.step(c.target_step).kind is StepKind.PAYMENT:
        raise Rejected("a payment step cannot be redone on its own; return to the assessing step")
    # Only the branch being returned may be in flight below the target; anything else
    # running there would carry on from a result that is about to be redone.
    below = descendants(graph, c.target_step) - {run.step_id}
    if busy := sorted(s for s in below if p.state.steps[s].phase.under_way):
        raise Rejected(f"cannot return while other branches are in progress: {busy}")
    between = descendants(graph, c.target_step) & ancestors(graph, run.step_id)
    redo = between | {c.target_step, run.step_id}
    p.emit(
        ev.StepReturned(
            **p.stamp,
            task_id=c.task_id,
            from_step_id=run.step_id,
            to_step_id=c.target_step,
            unit_code=c.official.unit_code,
            official_id=c.official.user_id,
            reason=c.reason,
            reset_steps=tuple(s for s in graph if s in redo),
        )
    )
    p.hand_off(run, c.target_step)
    p.start(c.target_step)


def _request_supplement(p: Progress, c: cmd.RequestSupplement) -> None:
    if p.state.status is DossierStatus.SUPPLEMENT_REQUESTED:
        raise Rejected("a supplement request is already pending; one request names every paper")
    _not_paused(p)
    run = _task(p, c.task_id, c.official)
    known = {d.code for d in p.procedure.documents}
    if unknown := [d for d in c.missing_documents if d not in known]:
        raise Rejected(f"not documents of {p.procedure.code}: {unknown}")
    p.emit(
        ev.SupplementRequested(
            **p.stamp,
            task_id=c.task_id,
            step_id=run.step_id,
            unit_code=c.official.unit_code,
            official_id=c.official.user_id,
            missing_documents=tuple(dict.fromkeys(c.missing_documents)),
            reason=c.reason,
            count=p.state.supplement_count + 1,
        )
    )


def _supplement_submitted(p: Progress, c: cmd.SupplementSubmitted) -> None:
    pending = p.state.supplement
    if pending is None:
        raise Rejected("no supplement was requested")
    if missing := [d for d in pending.missing_documents if d not in c.documents]:
        raise Rejected(f"still missing: {missing}")
    p.emit(ev.SupplementResumed(**p.stamp, task_id=pending.task_id, documents=c.documents))


def _obligation_paid(p: Progress, c: cmd.ObligationPaid) -> None:
    owed = p.state.runs_in(StepPhase.AWAITING_PAYMENT)
    if not owed:
        raise Rejected("no financial obligation is awaited")
    for run in owed:  # one receipt settles what is owed
        p.emit(
            ev.ObligationPaid(
                **p.stamp,
                step_id=run.step_id,
                receipt_ref=c.receipt_ref,
            )
        )
        # The assessing unit's hand-off was recorded when it assessed.
        p.finish(run, hand_off=False)


def _external(p: Progress, c: cmd.ExternalAnswered | cmd.ExternalTimedOut) -> None:
    run = p.state.run_of_correlation(c.correlation_id)
    if run is None or run.phase is not StepPhase.AWAITING_AGENCY:
        raise Rejected(f"no pending agency request {c.correlation_id}")
    if isinstance(c, cmd.ExternalTimedOut):
        p.emit(ev.ExternalTimedOut(**p.stamp, correlation_id=c.correlation_id, step_id=run.step_id))
    else:
        p.emit(
            ev.ExternalAnswered(
                **p.stamp,
                correlation_id=c.correlation_id,
                step_id=run.step_id,
                outcome=c.outcome,
                note=c.note,
            )
        )
        if c.outcome == "approved":
            p.emit(
                ev.StepCompleted(
                    **p.stamp,
                    step_id=run.step_id,
                    unit_code=run.unit_code or "",
                    correlation_id=c.correlation_id,
                    note=c.note,
                )
            )
            p.finish(run)
            return
    # No answer, or a refusal: the unit's officials take the step over by hand.
    p.start(run.step_id, by_hand=True)
