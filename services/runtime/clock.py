"""The business clock: the instant every business decision reads as "now".

Received times, daily dossier numbers, appointments, step timings, deadlines and their
timers, quiet hours and rating links read :func:`now`; technical times (token expiry,
leases, outbox and relay, spans, retries, rate limits, HTTP timeouts) stay on the wall
clock. By default the two are the same. For a simulation (``bench/province_year.py``)
the settings map wall time onto business time::

    business = CLOCK_EPOCH + (wall - CLOCK_ANCHOR) * CLOCK_RATE

``CLOCK_ANCHOR`` (a wall instant) makes the mapping independent of when a process
started, so instances restarted mid-run and several instances agree; without it the
anchor is the moment the process configured its clock. Production refuses any setting
other than the wall clock (:func:`clock_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import envelope


def _wall() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """``rate`` business seconds per wall second from ``epoch`` (business) at ``anchor``
    (wall); no epoch at rate 1: the wall clock itself (a rate without an epoch starts
    from the moment it is anchored)."""

    rate: float = 1.0
    epoch: datetime | None = None
    anchor: datetime | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("the clock rate must be positive")
        for name in ("epoch", "anchor"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"the clock {name} needs a time zone")

    @property
    def is_wall(self) -> bool:
        return self.epoch is None and self.rate == 1.0

    def _anchor(self) -> datetime:
        assert self.anchor is not None, "configure() fixes the anchor"
        return self.anchor

    def at(self, wall: datetime) -> datetime:
        """The business instant of a wall instant."""
        if self.epoch is None:
            assert self.rate == 1.0, "anchored() gives a rate its epoch"
            return wall
        return self.epoch + (wall - self._anchor()) * self.rate

    def wall_of(self, business: datetime) -> datetime:
        """The wall instant at which business time reaches ``business``."""
        if self.epoch is None:
            return business
        return self._anchor() + (business - self.epoch) / self.rate

    def now(self) -> datetime:
        return self.at(_wall())

    def wall_seconds(self, business_seconds: float) -> float:
        """How long, on the wall clock, ``business_seconds`` of business time last."""
        return business_seconds / self.rate

    def anchored(self, wall: datetime | None = None) -> Clock:
        """This clock with its anchor fixed (at ``wall``, the present by default)."""
        if self.is_wall or (self.epoch is not None and self.anchor is not None):
            return self
        at = wall or _wall()
        return Clock(self.rate, self.epoch or at, self.anchor or at)


WALL = Clock()
_process: dict[str, Clock] = {"clock": WALL}


def configure(clock: Clock) -> Clock:
    """Make ``clock`` (anchored now unless it names its anchor) the process's clock; the
    events' ``occurred_at`` follow it too."""
    anchored = clock.anchored()
    _process["clock"] = anchored
    envelope.use_clock(anchored.now)
    return anchored


def current() -> Clock:
    return _process["clock"]


def now() -> datetime:
    """The business instant now (UTC)."""
    return _process["clock"].now()


def wall_seconds(business_seconds: float) -> float:
    return _process["clock"].wall_seconds(business_seconds)


def wall_of(business: datetime) -> datetime:
    return _process["clock"].wall_of(business)


def clock_problems(rate: float, epoch: datetime | None, anchor: datetime | None) -> list[str]:
    """What production refuses: any clock but the wall clock."""
    problems: list[str] = []
    if rate != 1.0:
        problems.append("CLOCK_RATE must be 1 in production (accelerated time is for simulations)")
    if epoch is not None:
        problems.append("CLOCK_EPOCH must be unset in production (business time is wall time)")
    if anchor is not None:
        problems.append("CLOCK_ANCHOR must be unset in production")
    return problems
