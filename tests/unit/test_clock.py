"""The business clock: wall time by default; a simulation's mapping otherwise, the same
in every process that shares the settings; production refuses anything but wall time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from contracts.envelope import EventEnvelope
from services.runtime import clock
from services.runtime.settings import ServiceSettings

EPOCH = datetime(2025, 1, 6, 0, 30, tzinfo=UTC)  # Monday 07:30 in Vietnam
ANCHOR = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def wall_afterwards() -> Iterator[None]:
    yield
    clock.configure(clock.WALL)


def test_the_default_clock_is_the_wall_clock() -> None:
    assert clock.current().is_wall
    before = datetime.now(UTC)
    now = clock.now()
    assert before <= now <= datetime.now(UTC)
    assert clock.wall_seconds(3600) == 3600
    some = datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert clock.wall_of(some) == some
    assert clock.current().at(some) == some


def test_an_accelerated_clock_maps_wall_time_from_its_anchor() -> None:
    c = clock.Clock(rate=600.0, epoch=EPOCH, anchor=ANCHOR)
    assert c.at(ANCHOR) == EPOCH
    assert c.at(ANCHOR + timedelta(seconds=6)) == EPOCH + timedelta(hours=1)
    assert c.wall_of(EPOCH + timedelta(days=1)) == ANCHOR + timedelta(seconds=144)
    assert c.wall_seconds(600) == 1.0
    for business in (EPOCH, EPOCH + timedelta(days=90, minutes=7)):
        assert c.at(c.wall_of(business)) == business


def test_two_processes_with_the_same_settings_agree_whenever_they_started() -> None:
    """CLOCK_ANCHOR makes the mapping independent of process start."""
    first = clock.Clock(600.0, EPOCH, ANCHOR).anchored(ANCHOR + timedelta(seconds=5))
    restarted = clock.Clock(600.0, EPOCH, ANCHOR).anchored(ANCHOR + timedelta(minutes=9))
    wall = ANCHOR + timedelta(minutes=10)
    assert first.at(wall) == restarted.at(wall) == EPOCH + timedelta(hours=100)


def test_without_an_anchor_the_process_start_is_the_anchor() -> None:
    started = ANCHOR + timedelta(seconds=30)
    c = clock.Clock(60.0, EPOCH).anchored(started)
    assert c.at(started) == EPOCH
    assert c.at(started + timedelta(seconds=1)) == EPOCH + timedelta(minutes=1)
    # A rate without an epoch starts business time at the wall instant it is anchored.
    fast = clock.Clock(10.0).anchored(started)
    assert fast.at(started + timedelta(seconds=2)) == started + timedelta(seconds=20)


def test_configure_sets_the_business_now_and_the_events_occurred_at() -> None:
    configured = clock.configure(clock.Clock(1000.0, EPOCH, datetime.now(UTC)))
    now = clock.now()
    assert EPOCH <= now < EPOCH + timedelta(hours=1)
    event = EventEnvelope(
        event_type="dossier.received",
        dossier_id="0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
        correlation_id="0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
        producer="intake",
    )
    assert EPOCH <= event.occurred_at < EPOCH + timedelta(hours=1)
    assert configured.wall_seconds(1000) == 1.0
    clock.configure(clock.WALL)
    later = EventEnvelope.model_validate(
        {k: v for k, v in event.model_dump().items() if k != "occurred_at"}
    )
    assert later.occurred_at > datetime(2026, 1, 1, tzinfo=UTC)  # back on the wall clock


def test_naive_instants_and_non_positive_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        clock.Clock(0.0, EPOCH, ANCHOR)
    with pytest.raises(ValueError, match="time zone"):
        clock.Clock(2.0, datetime(2025, 1, 6), ANCHOR)


def test_settings_read_the_clock_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK_RATE", "600")
    monkeypatch.setenv("CLOCK_EPOCH", "2025-01-06T07:30:00+07:00")
    monkeypatch.setenv("CLOCK_ANCHOR", ANCHOR.isoformat())
    c = ServiceSettings(environment="development").clock()
    assert c.rate == 600.0
    assert c.at(ANCHOR) == EPOCH
    assert ServiceSettings(environment="development").insecure_settings() == []


def test_production_refuses_any_clock_but_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK_RATE", "600")
    monkeypatch.setenv("CLOCK_EPOCH", "2025-01-06T07:30:00+07:00")
    problems = ServiceSettings(environment="production").insecure_settings()
    assert any(p.startswith("CLOCK_RATE must be 1") for p in problems)
    assert any(p.startswith("CLOCK_EPOCH must be unset") for p in problems)
    monkeypatch.delenv("CLOCK_RATE")
    monkeypatch.delenv("CLOCK_EPOCH")
    problems = ServiceSettings(environment="production").insecure_settings()
    assert not any(p.startswith("CLOCK_") for p in problems)
