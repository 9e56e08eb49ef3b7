"""Administrative procedures (TTHC): papers, fees, legal time, chains and workflow versions."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date, time
from itertools import combinations

from pydantic import Field, model_validator

from contracts.events import Channel

from .model import FrozenModel
from .units import UnitLevel
from .workflow import Condition, Workflow

PROCEDURE_CODE = r"^\d\.\d{6}$"  # mã TTHC, e.g. 1.001193


# How the procedures' published document lists mark a paper the citizen hands in only
# when it applies to them.
IF_ANY = "nếu có"


class Document(FrozenModel):
    """A paper of the dossier (thành phần hồ sơ). ``optional``: handed in only when it
    applies ("nếu có"), never required at receipt. ``subprocedures``: in a chain, the
    sub-procedures it belongs to; required only when one of them is chosen."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    optional: bool = False
    subprocedures: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _marked_as_named(self) -> Document:
        if IF_ANY in unicodedata.normalize("NFC", self.name).lower() and not self.optional:
            raise ValueError(f"document {self.code} is named {IF_ANY!r}: mark it optional: true")
        return self

    def required_for(self, chosen: frozenset[str]) -> bool:
        """Whether the desk must have this paper, given the sub-procedures chosen."""
        if self.optional:
            return False
        return not self.subprocedures or bool(self.subprocedures & chosen)


class Fee(FrozenModel):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    amount_vnd: int = Field(ge=0)


class ChainOption(FrozenModel):
    code: str = Field(pattern=PROCEDURE_CODE)
    name: str = Field(min_length=1)


class Chain(FrozenModel):
    """The sub-procedures a citizen may pick in one interlinked submission."""

    options: tuple[ChainOption, ...] = Field(min_length=2)
    mandatory: frozenset[str] = frozenset()  # e.g. the death registration itself
    min_choices: int = Field(ge=1)
    max_choices: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Chain:
        codes = [o.code for o in self.options]
        if len(set(codes)) != len(codes):
            raise ValueError("chain options repeat a procedure code")
        if not self.min_choices <= self.max_choices <= len(codes):
            raise ValueError("need min_choices <= max_choices <= number of options")
        if unknown := self.mandatory - set(codes):
            raise ValueError(f"mandatory sub-procedures are not options: {sorted(unknown)}")
        return self

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(o.code for o in self.options)

    def problem_with(self, chosen: tuple[str, ...]) -> str | None:
        """Why this choice is not allowed, or None when it is."""
        if not self.min_choices <= len(chosen) <= self.max_choices:
            return (
                f"choose between {self.min_choices} and {self.max_choices} sub-procedures,"
                f" not {len(chosen)}"
            )
        if len(set(chosen)) != len(chosen):
            return "a sub-procedure is chosen twice"
        if unknown := set(chosen) - self.codes:
            return f"not part of this chain: {sorted(unknown)}"
        if missing := self.mandatory - set(chosen):
            return f"must be included: {sorted(missing)}"
        return None

    def allowed_choices(self) -> list[tuple[str, ...]]:
        codes = [o.code for o in self.options]
        return [
            combo
            for size in range(self.min_choices, self.max_choices + 1)
            for combo in combinations(codes, size)
            if self.problem_with(combo) is None
        ]


class Procedure(FrozenModel):
    code: str = Field(pattern=PROCEDURE_CODE)
    name: str = Field(min_length=1)
    field: str = Field(min_length=1)  # lĩnh vực
    processing_hours: int = Field(gt=0)  # thời hạn giải quyết, 8 h = 1 working day
    processing_hours_if: Mapping[str, int] = Field(default_factory=dict)
    online_processing_hours: int | None = Field(default=None, gt=0)
    conditions: Mapping[str, str] = Field(default_factory=dict)  # name -> what it means
    documents: tuple[Document, ...] = Field(min_length=1)  # thành phần hồ sơ
    fees: tuple[Fee, ...] = ()
    active_at: frozenset[UnitLevel] = Field(min_length=1)  # receiving-unit levels
    # Received after this local time → the clock starts on the next working day.
    cut_off: time | None = None
    chain: Chain | None = None
    workflows: tuple[Workflow, ...] = Field(min_length=1)
    # National component code (MaThanhPhanHoSo in DVCQG sync) -> one of ``documents``.
    dvcqg_components: Mapping[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Procedure:
        if unknown := set(self.processing_hours_if) - set(self.conditions):
            raise ValueError(f"processing_hours_if names undeclared conditions {sorted(unknown)}")
        codes = [d.code for d in self.documents]
        if len(set(codes)) != len(codes):
            raise ValueError("a document code is listed twice")
        options = self.chain.codes if self.chain else frozenset()
        for document in self.documents:
            if strays := document.subprocedures - options:
                raise ValueError(
                    f"document {document.code}: subprocedures {sorted(strays)} are not"
                    " options of this procedure's chain"
                )
        versions = [w.version for w in self.workflows]
        dates = [w.effective_from for w in self.workflows]
        if versions != sorted(set(versions)) or dates != sorted(set(dates)):
            raise ValueError("workflow versions and effective dates must both strictly increase")
        for workflow in self.workflows:
            self._check_workflow(workflow)
        return self

    def _check_workflow(self, workflow: Workflow) -> None:
        where = f"workflow v{workflow.version}"
        options = self.chain.codes if self.chain else frozenset()
        for step in workflow.steps:
            at = f"{where} step {step.id!r}"
            if unknown := set(step.hours_if) - set(self.conditions):
                raise ValueError(f"{at}: hours_if names undeclared conditions {sorted(unknown)}")
            if step.subprocedure is not None and step.subprocedure not in options:
                raise ValueError(f"{at}: subprocedure {step.subprocedure} is not a chain option")
            for edge in step.after:
                if edge.when is not None:
                    self._check_condition(edge.when, options, at)
        self._check_choices(workflow, where)
        self._check_timing(workflow, where)

    def _check_choices(self, workflow: Workflow, where: str) -> None:
        # For every allowed choice: exactly the chosen sub-procedures' steps run.
        for chosen in self.chain.allowed_choices() if self.chain else []:
            graph = workflow.live_graph(frozenset(chosen), frozenset())
            labels = {workflow.step(s).subprocedure for s in graph}
            if idle := set(chosen) - labels:
                raise ValueError(f"{where}: no step runs for chosen {sorted(idle)}")
            if extra := labels - set(chosen) - {None}:
                raise ValueError(
                    f"{where}: steps of {sorted(str(e) for e in extra)} run without being chosen"
                    f" (choice {list(chosen)}); condition their edges with 'chosen:<code>'"
                )

    def _check_condition(self, when: Condition, options: frozenset[str], at: str) -> None:
        known = options if when.subject == "chosen" else frozenset(self.conditions)
        if when.name not in known:
            raise ValueError(f"{at}: condition on unknown {when.subject} {when.name!r}")

    def _check_timing(self, workflow: Workflow, where: str) -> None:
        # The slowest path for every allowed choice must fit the legal processing time.
        choices = self.chain.allowed_choices() if self.chain else [()]
        situations = [frozenset[str]()] + [frozenset({c}) for c in self.conditions]
        for chosen in choices:
            for conditions in situations:
                graph = workflow.live_graph(frozenset(chosen), conditions)
                needed = workflow.longest_hours(graph, conditions)
                allowed = self.legal_hours(Channel.IN_PERSON, conditions)
                if needed > allowed:
                    raise ValueError(
                        f"{where}: steps need {needed} h for choice {list(chosen)} and"
                        f" conditions {sorted(conditions)}, legal time is {allowed} h"
                    )

    def required_documents(self, chosen: frozenset[str] = frozenset()) -> tuple[Document, ...]:
        """The papers a complete dossier holds for this choice of sub-procedures."""
        return tuple(d for d in self.documents if d.required_for(chosen))

    def legal_hours(self, channel: Channel, conditions: frozenset[str]) -> int:
        """Legal processing time for this dossier, in working hours."""
        base = self.processing_hours
        if channel is Channel.ONLINE and self.online_processing_hours is not None:
            base = self.online_processing_hours
        matching = [h for name, h in self.processing_hours_if.items() if name in conditions]
        return max([base, *matching])

    def workflow(self, version: int) -> Workflow:
        for workflow in self.workflows:
            if workflow.version == version:
                return workflow
        raise KeyError(f"{self.code} has no workflow version {version}")

    def workflow_on(self, day: date) -> Workflow | None:
        """The version in force on ``day``; a dossier keeps it for its whole life."""
        effective = [w for w in self.workflows if w.effective_from <= day]
        return effective[-1] if effective else None
