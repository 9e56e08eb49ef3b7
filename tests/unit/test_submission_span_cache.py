"""An operator's action links to its dossier's submission trace: looked up once, and a
dossier without one (its trace sampled out) is not asked about on every action."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.runtime import http


@dataclass
class Lookups:
    answers: dict[str, tuple[str, str] | None]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, _pool: Any, dossier_id: str) -> tuple[str, str] | None:
        self.asked.append(dossier_id)
        return self.answers.get(dossier_id)


@dataclass
class Runtime:
    schema: str
    pool: object = None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(http, "_SUBMISSION_SPANS", type(http._SUBMISSION_SPANS)())
    return now


def test_a_found_span_is_asked_for_once(
    monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    lookups = Lookups({"d1": ("t" * 32, "s" * 16)})
    monkeypatch.setattr(http, "submission_span", lookups)
    rt = Runtime("b1_routing")

    for _ in range(3):
        assert asyncio.run(http._submission_span(rt, "d1")) == ("t" * 32, "s" * 16)
        clock[0] += 3600
    assert lookups.asked == ["d1"]


def test_no_span_is_remembered_for_a_while_then_asked_again(
    monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    lookups = Lookups({})
    monkeypatch.setattr(http, "submission_span", lookups)
    rt = Runtime("b1_routing")

    assert asyncio.run(http._submission_span(rt, "d2")) is None
    clock[0] += 10  # claim, then complete a few seconds later: no second query
    assert asyncio.run(http._submission_span(rt, "d2")) is None
    assert lookups.asked == ["d2"]

    lookups.answers["d2"] = ("a" * 32, "b" * 16)  # recorded late after all
    clock[0] += http._NO_SUBMISSION_SPAN_SECONDS
    assert asyncio.run(http._submission_span(rt, "d2")) == ("a" * 32, "b" * 16)
    assert lookups.asked == ["d2", "d2"]


def test_each_service_schema_has_its_own_answer(
    monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    lookups = Lookups({})
    monkeypatch.setattr(http, "submission_span", lookups)

    asyncio.run(http._submission_span(Runtime("b1_routing"), "d3"))
    asyncio.run(http._submission_span(Runtime("b2_routing"), "d3"))
    assert lookups.asked == ["d3", "d3"]
