"""A province's year, simulated (a tiny slice): the workload generator drives the real
services in accelerated time (every service on the same business clock) and SLA's
reports agree with the generator's own ledger.

Two simulated days of arrivals (Thursday and Friday, civil-status procedures) at scale
0.002 of the seed's year, plus three dossiers placed on purpose: one received on Friday
afternoon (its deadline must fall after the weekend: working time), one whose unit
overruns, one supplemented. The generator works every dossier to its end; then:

* SLA received exactly the dossiers intake accepted, by channel;
* received = resolved + withdrawn + in progress, and every one was resolved;
* the late ones are exactly those the generator's ledger names: the units it made
  overrun, and (counted apart) any whose last action it could only send after the
  deadline because the system lagged; the on-time shares are equal;
* the Friday dossier's deadline is the next working day's, Monday, as the calendar says.

No timed assertion: how fast the machine is changes which dossiers lag, never whether
SLA and the ledger agree (a clean step uses at most 40 % of its allotment, a late unit
finishes four working hours after the appointment, so on a quiet machine none lags).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from bench.province_year import (
    CIVIL_STATUS_MIX,
    VN,
    Arrival,
    calendar_of,
    calendars,
    plan_arrivals,
    simulate,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

THURSDAY = date(2025, 3, 6)
DAYS = 2
RATE = 10_000.0  # 10,000 business seconds per wall second: a working day in 3 s
QUIET_COMMUNE = "000.02.01.H99"  # xã Đông Phú: no Saturday service
# Wall seconds from setting the clock to the period's start: the stack starts and warms up
# meanwhile (about 30 s on a quiet 2-core box, a minute when it is shared).
LEAD = 120.0


def vn(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), VN).astimezone(UTC)


def test_a_simulated_slice_of_the_year_matches_the_generators_ledger() -> None:
    friday = date(2025, 3, 7)
    placed = [
        Arrival(vn(friday, 15), "1.001193", QUIET_COMMUNE, 1, seed=101),  # Friday afternoon
        Arrival(vn(THURSDAY, 9), "1.001193", "000.02.02.H99", 1, late_step="khai_sinh", seed=102),
        Arrival(vn(THURSDAY, 10), "1.004873", "000.01.02.H99", 2, supplements=1, seed=103),
    ]
    arrivals = sorted(
        plan_arrivals(THURSDAY, DAYS, scale=0.002, seed=7, mix=CIVIL_STATUS_MIX) + placed,
        key=lambda a: a.at,
    )
    start = vn(THURSDAY, 0)
    outcome = simulate(arrivals, start, DAYS, RATE, lead_seconds=LEAD, with_deadlines=True)
    ledger, summary = outcome.ledger, outcome.summary
    assert summary["failed"] == 0, [(led.arrival, led.error) for led in ledger if led.error]
    figures = outcome.figures
    assert figures["warmed_up_before_start"], (figures["stack_ready_at"], figures["warmed_up_at"])

    received = outcome.reports["arrivals"]
    whole = outcome.reports["whole"]
    accepted = summary["accepted"]
    assert accepted == len(arrivals)
    # SLA heard every dossier intake accepted in the period, once, with its channel.
    assert received["received"] == accepted
    assert whole["carried_over"] == 0  # the warm-up dossier ended before the period
    by_channel = summary["by_channel"]
    assert received["received_by_channel"]["in_person"] == by_channel[1]
    assert received["received_by_channel"]["online"] == by_channel[2]
    for report in (received, whole):
        assert report["to_handle"] == (
            report["resolved"] + report["withdrawn"] + report["in_progress"]
        )
        assert report["resolved"] == (
            report["resolved_early"] + report["resolved_on_time"] + report["resolved_late"]
        )
    # The generator worked every dossier to its end; SLA saw each end.
    assert summary["ended"] == accepted
    assert whole["resolved"] == accepted
    assert whole["in_progress"] == 0
    # Late exactly where the generator's ledger says: the units it made overrun (and any
    # dossier its last action reached only after the deadline, the system lagging at this
    # acceleration; the ledger counts those apart as ``lagged``).
    assert summary["made_late"] >= 1
    assert summary["supplemented"] >= 1
    assert whole["resolved_late"] == summary["late"], summary
    assert Decimal(whole["on_time_rate"]) == summary["on_time_rate"]
    late_ids = {led.dossier_id for led in ledger if led.expected_late}
    outcomes = {
        dossier_id: answer["dossier"]["outcome"] for dossier_id, answer in outcome.deadlines.items()
    }
    assert {d for d, o in outcomes.items() if o == "late"} == late_ids

    # Friday 15:00 + 8 working hours: 2 h on Friday, then Monday (not Saturday, Sunday).
    led = next(x for x in ledger if x.arrival.seed == 101)
    assert led.received_at is not None
    own = next(d for d in outcome.deadlines[led.dossier_id]["deadlines"] if d["kind"] == "dossier")
    due = datetime.fromisoformat(own["due_at"]).astimezone(VN)
    assert due.date() == date(2025, 3, 10)  # Monday
    cal = calendar_of(calendars(), QUIET_COMMUNE)
    assert due == cal.add_working_hours(cal.clock_start(led.received_at), 8)
    assert led.appointment_at is not None
    assert led.appointment_at.astimezone(VN).date() == date(2025, 3, 10)
