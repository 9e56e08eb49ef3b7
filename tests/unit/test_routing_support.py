"""Shared cast and props for the routing stories (no tests here).

A ``Story`` holds one dossier, a clock that moves forward with every action, and the
full event history, so tests read as "the commune official claims and completes".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from services.routing.domain import (
    VIETNAM_TIME,
    DossierState,
    DossierStatus,
    ReferenceData,
    Rejected,
    StepPhase,
    StepRun,
    execute,
    load_reference,
    replay,
)
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev

E = TypeVar("E")

REFERENCE_ROOT = Path(__file__).resolve().parents[2] / "reference"
CONFIGS = ("three_level", "two_level")


@dataclass(frozen=True)
class Places:
    """The units one story meets, per configuration."""

    commune: str
    other_commune: str
    district: str | None
    police: str
    other_police: str
    social_insurance: str
    labour: str  # department_for_field:chinh_sach seen from the commune
    land_registry: str
    tax: str
    first_day: datetime  # a day on which this configuration's workflows are in force


PLACES = {
    "three_level": Places(
        commune="000.01.01.H99",  # xã Đông Lâm, huyện Đông Hà
        other_commune="000.02.01.H99",  # xã Đông Phú
        district="000.00.01.H99",
        police="CA0.01.01.H99",
        other_police="CA0.02.01.H99",
        social_insurance="BH0.00.01.H99",
        labour="003.00.01.H99",  # Phòng LĐTBXH huyện Đông Hà
        land_registry="DK0.00.01.H99",
        tax="CT0.00.01.H99",
        first_day=datetime(2025, 3, 3, 8, 0, tzinfo=VIETNAM_TIME),
    ),
    "two_level": Places(
        commune="000.02.00.H99",  # xã Đông Lâm
        other_commune="000.03.00.H99",  # xã Tây Sơn
        district=None,
        police="CA0.02.00.H99",
        other_police="CA0.03.00.H99",
        social_insurance="BH0.00.00.H99",
        labour="003.00.00.H99",  # Sở Nội vụ
        land_registry="DK0.00.00.H99",
        tax="CT0.00.00.H99",
        first_day=datetime(2025, 11, 3, 8, 0, tzinfo=VIETNAM_TIME),
    ),
}

_REFERENCES = {name: load_reference(REFERENCE_ROOT / name) for name in CONFIGS}


def reference(config: str) -> ReferenceData:
    return _REFERENCES[config]


def copy_config(tmp_path: Path, config: str) -> Path:
    """A private copy of a shipped configuration, to be edited by a test."""
    return Path(shutil.copytree(REFERENCE_ROOT / config, tmp_path / config))


def edit_yaml(file: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    change(data)
    file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def official(unit_code: str, name: str = "a") -> cmd.Official:
    return cmd.Official(user_id=f"{name}@{unit_code}", unit_code=unit_code)


@dataclass
class Story:
    ref: ReferenceData
    now: datetime
    state: DossierState | None = None
    history: list[ev.Event] = field(default_factory=list)
    statuses: list[DossierStatus] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        config: str,
        procedure: str,
        *choices: str,
        conditions: frozenset[str] = frozenset(),
        receiving_unit: str | None = None,
        ref: ReferenceData | None = None,
        now: datetime | None = None,
    ) -> Story:
        places = PLACES[config]
        story = cls(ref or reference(config), now or places.first_day)
        story.do(
            cmd.Start(
                dossier_id="000.00.01.H99-250303-0001",
                procedure_code=procedure,
                receiving_unit=receiving_unit or places.commune,
                chosen_subprocedures=choices,
                conditions=conditions,
            )
        )
        return story

    @property
    def dossier(self) -> DossierState:
        assert self.state is not None
        return self.state

    def do(self, command: cmd.Command) -> list[ev.Event]:
        self.now += timedelta(minutes=30)
        self.state, events = execute(self.state, command, self.now, self.ref)
        self.history.extend(events)
        if not self.statuses or self.statuses[-1] != self.state.status:
            self.statuses.append(self.state.status)
        assert replay(self.history) == self.state
        return events

    def rejected(self, command: cmd.Command) -> str:
        before = self.state
        with pytest.raises(Rejected) as refusal:
            self.do(command)
        assert self.state == before
        return refusal.value.reason

    def run(self, step_id: str) -> StepRun:
        return self.dossier.steps[step_id]

    def task(self, step_id: str) -> str:
        run = self.run(step_id)
        assert run.phase is StepPhase.OPEN, f"{step_id} is {run.phase}"
        assert run.task_id is not None
        return run.task_id

    def claim(self, step_id: str, who: cmd.Official) -> list[ev.Event]:
        return self.do(
            cmd.Claim(
                task_id=self.task(step_id), official=who, expected_version=self.dossier.version
            )
        )

    def work(self, step_id: str, who: cmd.Official | None = None) -> list[ev.Event]:
        """An official of the step's unit claims the task and completes it."""
        who = who or official(self.run(step_id).unit_code or "")
        self.claim(step_id, who)
        return self.do(cmd.Complete(task_id=self.task(step_id), official=who, note="xong"))

    def return_result(self) -> list[ev.Event]:
        return self.do(cmd.ReturnResult(official=official(self.dossier.receiving_unit, "desk")))

    def of_type(self, kind: type[E]) -> list[E]:
        return [e for e in self.history if isinstance(e, kind)]


def types(events: list[ev.Event]) -> list[str]:
    return [e.type for e in events]
