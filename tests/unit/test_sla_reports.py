"""Unit tests of the report figures (services.sla.domain.reports) over generated periods.

The published shape reproduced: a district received 10,095 dossiers in 9.5 months
(7,006 in person, 2,260 online, 829 carried over), resolved 9,256 (8,876 on time or
early, 380 late, mostly land), 839 in progress.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from services.sla.domain.reports import DossierFacts, build_report, to_csv
from services.workcal.calendar import VN_TZ

UNIT = "000.00.01.H99"
START = datetime(2025, 1, 1, tzinfo=VN_TZ)
END = datetime(2025, 10, 16, tzinfo=VN_TZ)  # 9.5 months


def _at(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    return lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))


def published_district_period(seed: int = 766) -> list[DossierFacts]:
    """Dossiers whose period figures are the published ones, plus distractors."""
    rng = random.Random(seed)
    kinds = ["carried"] * 829 + ["in_person"] * 7006 + ["online"] * 2260
    rng.shuffle(kinds)
    fates = ["late"] * 380 + ["early"] * 3100 + ["on_time"] * 5776 + ["open"] * 839
    rng.shuffle(fates)
    facts: list[DossierFacts] = []
    for n, (kind, fate) in enumerate(zip(kinds, fates, strict=True)):
        if kind == "carried":
            received = _at(rng, START - timedelta(days=60), START)
            channel = rng.choice([1, 2])
        else:
            received = _at(rng, START, END - timedelta(days=1))
            channel = 1 if kind == "in_person" else 2
        due = received + timedelta(days=rng.randint(3, 20))
        field = rng.choice(["dat_dai", "ho_tich", "xay_dung"])
        if fate == "open":
            facts.append(
                DossierFacts(
                    f"d{n}",
                    UNIT,
                    field,
                    channel,
                    received,
                    due,
                    status=rng.choice([4, 4, 4, 5, 6]),
                )
            )
            continue
        supplements = 0
        if fate == "late" and n % 5 == 0:
            supplements = 2  # ended before its due date, late by the two-request rule
            ended = min(due - timedelta(hours=1), END - timedelta(minutes=1))
            outcome = "on_time"
        elif fate == "late":
            ended = min(due + timedelta(days=rng.randint(1, 5)), END - timedelta(minutes=1))
            ended = max(ended, received + timedelta(hours=1))
            outcome = "late"
        else:
            ended = received + (due - received) / 2
            outcome = fate
        if ended >= END or ended < START:
            ended = _at(rng, max(received, START), END - timedelta(minutes=1))
            if fate != "late":
                due = max(due, ended + timedelta(hours=1))
        end_status = rng.choice([9, 10, 10, 10, 8])
        facts.append(
            DossierFacts(
                f"d{n}",
                UNIT,
                field,
                channel,
                received,
                due,
                supplement_requests=supplements or rng.choice([0, 0, 0, 1]),
                status=end_status,
                ended_at=ended,
                end_status=end_status,
                outcome=outcome,
                returned=end_status == 10,
            )
        )
    # Distractors: ended before the period, received after it, another unit's dossiers.
    for n in range(50):
        before = _at(rng, START - timedelta(days=90), START - timedelta(days=30))
        facts.append(
            DossierFacts(
                f"old{n}",
                UNIT,
                "ho_tich",
                1,
                before,
                before + timedelta(days=3),
                status=10,
                ended_at=before + timedelta(days=2),
                end_status=10,
                outcome="on_time",
                returned=True,
            )
        )
        after = _at(rng, END, END + timedelta(days=20))
        facts.append(DossierFacts(f"new{n}", UNIT, "ho_tich", 2, after, after + timedelta(days=3)))
        facts.append(
            DossierFacts(f"other{n}", "000.00.02.H99", "ho_tich", 3, START, END + timedelta(1))
        )
    rng.shuffle(facts)
    return facts


def test_a_generated_period_reproduces_the_published_district_figures() -> None:
    report = build_report(published_district_period(), START, END, unit=UNIT)
    assert report.carried_over == 829
    assert report.received_by_channel == {"in_person": 7006, "online": 2260, "post": 0}
    assert report.received == 9266
    assert report.to_handle == 10095 == report.carried_over + report.received
    assert report.resolved == 9256
    assert report.resolved_early + report.resolved_on_time == 8876
    assert report.resolved_late == 380
    assert report.resolved == report.resolved_early + report.resolved_on_time + report.resolved_late
    assert report.in_progress == 839
    assert report.in_progress == report.in_progress_on_time + report.in_progress_overdue
    assert report.to_handle == report.resolved + report.withdrawn + report.in_progress
    assert report.on_time_rate == Decimal("95.89")  # 8,876 / 9,256


def test_a_dossier_with_two_supplement_requests_is_late_even_when_ended_in_time() -> None:
    received = START + timedelta(days=1)
    due = received + timedelta(days=10)
    facts = [
        DossierFacts(
            "a",
            UNIT,
            "dat_dai",
            1,
            received,
            due,
            supplement_requests=2,
            status=9,
            ended_at=received + timedelta(days=2),
            end_status=9,
            outcome="early",
        ),
        DossierFacts(
            "b",
            UNIT,
            "dat_dai",
            1,
            received,
            due,
            supplement_requests=1,
            status=9,
            ended_at=received + timedelta(days=2),
            end_status=9,
            outcome="early",
        ),
    ]
    report = build_report(facts, START, END)
    assert (report.resolved_early, report.resolved_late) == (1, 1)
    assert report.on_time_rate == Decimal("50.00")


def test_in_progress_figures_are_taken_at_the_end_of_the_period() -> None:
    received = END - timedelta(days=5)
    facts = [
        DossierFacts("overdue", UNIT, "dat_dai", 2, received, END - timedelta(hours=1)),
        DossierFacts("soon", UNIT, "dat_dai", 2, received, END + timedelta(hours=20)),
        DossierFacts("later", UNIT, "dat_dai", 2, received, END + timedelta(days=3), status=5),
        DossierFacts(
            "ends_after",
            UNIT,
            "dat_dai",
            3,
            received,
            END + timedelta(days=3),
            status=10,
            ended_at=END + timedelta(hours=2),
            end_status=10,
            outcome="early",
        ),
        DossierFacts(
            "withdrawn",
            UNIT,
            "dat_dai",
            1,
            received,
            END + timedelta(days=3),
            status=7,
            ended_at=END - timedelta(days=1),
            end_status=7,
        ),
        DossierFacts(
            "stopped",
            UNIT,
            "xay_dung",
            1,
            received,
            END + timedelta(days=3),
            status=8,
            ended_at=END - timedelta(days=1),
            end_status=8,
            outcome="on_time",
        ),
    ]
    report = build_report(facts, START, END, field_code="dat_dai")
    assert report.received == 5  # the construction dossier is another field
    assert report.received_by_channel == {"in_person": 1, "online": 3, "post": 1}
    assert report.in_progress == 4
    assert report.in_progress_overdue == 1
    assert report.in_progress_on_time == 3
    assert report.due_within_24h == 1
    assert report.waiting_for_supplement == 1
    assert report.withdrawn == 1
    assert report.resolved == 0
    assert report.on_time_rate is None
    stopped = build_report(facts, START, END, field_code="xay_dung")
    assert (stopped.resolved, stopped.stopped, stopped.resolved_on_time) == (1, 1, 1)


@pytest.mark.parametrize("seed", range(5))
def test_the_identities_hold_for_any_generated_period(seed: int) -> None:
    facts = published_district_period(seed)
    rng = random.Random(seed)
    start = START + timedelta(days=rng.randint(0, 60))
    end = start + timedelta(days=rng.randint(1, 200))
    report = build_report(facts, start, end, unit=UNIT)
    assert report.to_handle == report.carried_over + report.received
    assert report.received == sum(report.received_by_channel.values())
    assert report.resolved == report.resolved_early + report.resolved_on_time + report.resolved_late
    assert report.to_handle == report.resolved + report.withdrawn + report.in_progress


def test_csv_has_one_header_and_one_row_per_report() -> None:
    report = build_report(published_district_period(), START, END, unit=UNIT)
    rows = list(csv.DictReader(io.StringIO(to_csv([report]))))
    assert len(rows) == 1
    row = rows[0]
    assert row["unit"] == UNIT
    assert row["carried_over"] == "829"
    assert row["received_in_person"] == "7006"
    assert row["received_online"] == "2260"
    assert row["resolved_late"] == "380"
    assert row["on_time_rate"] == "95.89"


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        build_report([], END, START)
