"""Commands that end a dossier: refusal at the desk, stop, withdrawal, return of the result."""

from __future__ import annotations

from contracts.events import DossierStatus

from . import commands as cmd
from . import events as ev
from .base import Rejected
from .progress import Progress
from .state import StepPhase


def close(p: Progress, c: cmd.Refuse | cmd.Stop | cmd.Withdraw | cmd.ReturnResult) -> None:
    status = p.state.status
    match c:
        case cmd.Refuse():
            # Form 03 is the desk's answer at reception, before any unit has worked on it.
            if status is not DossierStatus.RECEIVED:
                raise Rejected("only a dossier not yet in processing can be refused; stop it")
            _at_desk(p, c.official, "refuse")
            p.emit(
                ev.Refused(
                    **p.stamp,
                    unit_code=c.official.unit_code,
                    official_id=c.official.user_id,
                    reasons=c.reasons,
                )
            )
        case cmd.Stop():
            if status is DossierStatus.DONE:
                raise Rejected("the result is ready; it can only be returned")
            _involved(p, c.official)
            p.emit(
                ev.Stopped(
                    **p.stamp,
                    unit_code=c.official.unit_code,
                    official_id=c.official.user_id,
                    reason=c.reason,
                )
            )
        case cmd.Withdraw():
            if status is DossierStatus.DONE:
                raise Rejected("the result is ready; it can only be returned")
            p.emit(ev.Withdrawn(**p.stamp, reason=c.reason))
        case cmd.ReturnResult():
            if status is not DossierStatus.DONE:
                raise Rejected(f"no result to return yet ({status} {status.label})")
            _at_desk(p, c.official, "return the result")
            p.emit(
                ev.Returned(
                    **p.stamp, unit_code=c.official.unit_code, official_id=c.official.user_id
                )
            )


def _at_desk(p: Progress, official: cmd.Official, action: str) -> None:
    if official.unit_code != p.state.receiving_unit:
        raise Rejected(f"only the receiving unit {p.state.receiving_unit} may {action}")


def _involved(p: Progress, official: cmd.Official) -> None:
    """The desk, or a unit currently holding a step, may stop processing."""
    holding = {
        r.unit_code
        for r in p.state.runs_in(StepPhase.OPEN, StepPhase.AWAITING_AGENCY)
        if r.unit_code is not None
    }
    if official.unit_code not in holding | {p.state.receiving_unit}:
        raise Rejected(f"{official.unit_code} has no step of this dossier in hand")
