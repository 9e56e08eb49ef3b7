"""Workflow definitions: steps, who acts, how long, and in which order.

A workflow is a small DAG. Steps are listed in processing order and each names the
steps it comes ``after``; an edge may carry a condition. At the start of a dossier the
citizen's choices and the declared conditions fix which steps are *live*; the live steps
and their live predecessors form the dossier's graph, and a step starts when all of its
live predecessors are done (parallel branches and joins fall out of that rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .model import FrozenModel
from .units import UnitSelector

# Live step id -> ids of its live predecessors; steps in processing order.
LiveGraph = Mapping[str, tuple[str, ...]]


class StepKind(StrEnum):
    TASK = "task"  # an official of the unit acts
    EXTERNAL = "external"  # an agency system answers by callback, or times out
    PAYMENT = "payment"  # the citizen pays the assessed obligation; the clock is paused


class Condition(FrozenModel):
    """``chosen:<code>`` / ``not_chosen:<code>`` (a sub-procedure the citizen picked) or
    ``if:<name>`` / ``unless:<name>`` (a condition declared at receipt)."""

    subject: Literal["chosen", "condition"]
    name: str
    negated: bool = False

    @classmethod
    def parse(cls, text: str) -> Condition:
        prefixes: dict[str, tuple[Literal["chosen", "condition"], bool]] = {
            "chosen": ("chosen", False),
            "not_chosen": ("chosen", True),
            "if": ("condition", False),
            "unless": ("condition", True),
        }
        prefix, _, name = text.partition(":")
        if prefix not in prefixes or not name:
            raise ValueError(f"condition {text!r} must be chosen:, not_chosen:, if: or unless:")
        subject, negated = prefixes[prefix]
        return cls(subject=subject, name=name, negated=negated)

    def holds(self, chosen: frozenset[str], conditions: frozenset[str]) -> bool:
        present = self.name in (chosen if self.subject == "chosen" else conditions)
        return present != self.negated


class Edge(FrozenModel):
    """``after: [step]`` or ``after: [{step: x, when: "chosen:1.004194"}]``."""

    step: str
    when: Condition | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return {"step": raw}
        if isinstance(raw, dict) and isinstance(raw.get("when"), str):
            return {**raw, "when": Condition.parse(raw["when"])}
        return raw


class Step(FrozenModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    kind: StepKind = StepKind.TASK
    unit: UnitSelector | None = None
    hours: int = Field(ge=0)  # allotment in working hours
    hours_if: Mapping[str, int] = Field(default_factory=dict)  # e.g. verification_needed: 24
    timeout_hours: int | None = Field(default=None, gt=0)  # external steps only
    # The chain option this step carries out; its edges must make it run only when chosen.
    subprocedure: str | None = None
    after: tuple[Edge, ...] = ()

    @field_validator("unit", mode="before")
    @classmethod
    def _parse_selector(cls, raw: Any) -> Any:
        return UnitSelector.parse(raw) if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _kind_rules(self) -> Step:
        if self.kind is StepKind.PAYMENT:
            if self.unit is not None or self.hours or self.hours_if:
                raise ValueError("a payment step has no unit and no allotment (clock paused)")
            if len(self.after) != 1:
                raise ValueError("a payment step follows exactly one step, which assesses it")
        elif self.unit is None:
            raise ValueError(f"a {self.kind} step needs a unit selector")
        if (self.kind is StepKind.EXTERNAL) != (self.timeout_hours is not None):
            raise ValueError("timeout_hours is required on external steps and only on them")
        return self

    def allotment(self, conditions: frozenset[str]) -> int:
        """Working hours for this step; a matching condition may lengthen it."""
        matching = [hours for name, hours in self.hours_if.items() if name in conditions]
        return max(matching) if matching else self.hours


class Workflow(FrozenModel):
    version: int = Field(ge=1)
    effective_from: date
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _well_formed(self) -> Workflow:
        seen: dict[str, Step] = {}
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            for edge in step.after:
                # Listing predecessors first keeps the graph acyclic by construction.
                if edge.step not in seen:
                    raise ValueError(
                        f"step {step.id!r} comes after {edge.step!r}, which is unknown or listed"
                        " later (list steps in processing order)"
                    )
                if step.kind is StepKind.PAYMENT and seen[edge.step].kind is not StepKind.TASK:
                    raise ValueError(f"payment step {step.id!r} must follow a task step")
            seen[step.id] = step
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def live_graph(
        self, chosen: frozenset[str], conditions: frozenset[str]
    ) -> dict[str, tuple[str, ...]]:
        """The steps this dossier will run, each with the live predecessors it waits for."""
        graph: dict[str, tuple[str, ...]] = {}
        for step in self.steps:
            preds = tuple(
                edge.step
                for edge in step.after
                if edge.step in graph and (edge.when is None or edge.when.holds(chosen, conditions))
            )
            if preds or not step.after:
                graph[step.id] = preds
        return graph

    def longest_hours(self, graph: LiveGraph, conditions: frozenset[str]) -> int:
        """Sum of allotments along the slowest path: what the legal time must cover."""
        finish: dict[str, int] = {}
        for step_id, preds in graph.items():
            start = max((finish[p] for p in preds), default=0)
            finish[step_id] = start + self.step(step_id).allotment(conditions)
        return max(finish.values(), default=0)


def successors(graph: LiveGraph, step_id: str) -> tuple[str, ...]:
    return tuple(s for s, preds in graph.items() if step_id in preds)


def ancestors(graph: LiveGraph, step_id: str) -> frozenset[str]:
    found: set[str] = set()
    todo = list(graph[step_id])
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(graph[current])
    return frozenset(found)


def descendants(graph: LiveGraph, step_id: str) -> frozenset[str]:
    return frozenset(s for s in graph if step_id in ancestors(graph, s))
