"""What people and agency systems ask of a dossier. Each is checked by ``decide``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from contracts.events import Channel

from .base import FrozenModel

NonEmptyText = Annotated[str, Field(min_length=1)]
NonEmptyList = Annotated[tuple[NonEmptyText, ...], Field(min_length=1)]


class Official(FrozenModel):
    """An official's account reference and the unit they act for (no personal data)."""

    user_id: NonEmptyText
    unit_code: NonEmptyText


class Start(FrozenModel):
    """The desk has received a complete dossier (status 2)."""

    dossier_id: NonEmptyText
    procedure_code: NonEmptyText
    receiving_unit: NonEmptyText
    chosen_subprocedures: tuple[str, ...] = ()
    conditions: frozenset[str] = frozenset()  # e.g. verification_needed
    channel: Channel = Channel.IN_PERSON


class Claim(FrozenModel):
    task_id: NonEmptyText
    official: Official
    expected_version: int  # optimistic concurrency: the dossier version the official saw


class Forward(FrozenModel):
    """The official holding a task hands it to a colleague of the same unit
    (e.g. to the unit head for signature); the dossier stays at the step."""

    task_id: NonEmptyText
    official: Official
    to_official_id: NonEmptyText
    note: str = ""


class Complete(FrozenModel):
    task_id: NonEmptyText
    official: Official
    note: str = ""


class RecordResult(FrozenModel):
    """Result papers a unit issued (certificate numbers), gathered for the desk."""

    task_id: NonEmptyText
    official: Official
    papers: NonEmptyList


class ReturnTo(FrozenModel):
    task_id: NonEmptyText
    official: Official
    target_step: NonEmptyText
    reason: NonEmptyText


class RequestSupplement(FrozenModel):
    """Form 02: one request naming every missing or wrong paper at once."""

    task_id: NonEmptyText
    official: Official
    missing_documents: NonEmptyList
    reason: NonEmptyText


class SupplementSubmitted(FrozenModel):
    documents: NonEmptyList


class RequestObligation(FrozenModel):
    """The assessing unit (tax) finishes its step by telling the citizen what to pay."""

    task_id: NonEmptyText
    official: Official
    amount_vnd: int = Field(gt=0)


class ObligationPaid(FrozenModel):
    receipt_ref: NonEmptyText  # treasury / payment-platform reference


class Refuse(FrozenModel):
    """Form 03: the desk does not accept the dossier, with written reasons."""

    official: Official
    reasons: NonEmptyList


class Stop(FrozenModel):
    """Form 05: processing stops."""

    official: Official
    reason: NonEmptyText


class ReturnResult(FrozenModel):
    official: Official


class Withdraw(FrozenModel):
    reason: NonEmptyText


class ExternalAnswered(FrozenModel):
    correlation_id: NonEmptyText
    outcome: Literal["approved", "rejected"]
    note: str = ""


class ExternalTimedOut(FrozenModel):
    correlation_id: NonEmptyText


Command = (
    Start
    | Claim
    | Forward
    | Complete
    | RecordResult
    | ReturnTo
    | RequestSupplement
    | SupplementSubmitted
    | RequestObligation
    | ObligationPaid
    | Refuse
    | Stop
    | ReturnResult
    | Withdraw
    | ExternalAnswered
    | ExternalTimedOut
)
