"""The satisfaction figures of the SLA reports (services.sla.domain.reports), by unit and
field: the count and the average of each criterion of the ratings given in the period."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

from services.sla.domain.reports import RatingFacts, build_report, to_csv
from services.workcal.calendar import VN_TZ

START = datetime(2026, 11, 1, tzinfo=VN_TZ)
END = datetime(2026, 12, 1, tzinfo=VN_TZ)
UNIT, OTHER_UNIT = "000.00.01.H22", "000.00.02.H22"
LAND, BIRTH = "dat-dai", "ho-tich"


def _rating(n: int, unit: str, field: str, at: datetime, *scores: int) -> RatingFacts:
    t, a, c, o = scores
    return RatingFacts(f"d{n}", unit, field, at, t, a, c, o)


RATINGS = [
    _rating(1, UNIT, LAND, START, 5, 4, 3, 2),
    _rating(2, UNIT, LAND, START + timedelta(days=3), 4, 4, 4, 4),
    _rating(3, UNIT, LAND, START + timedelta(days=9), 2, 5, 5, 5),
    _rating(4, UNIT, BIRTH, START + timedelta(days=5), 1, 1, 1, 1),
    _rating(5, OTHER_UNIT, LAND, START + timedelta(days=5), 3, 3, 3, 3),
    _rating(6, UNIT, LAND, START - timedelta(seconds=1), 1, 1, 1, 1),  # before the period
    _rating(7, UNIT, LAND, END, 1, 1, 1, 1),  # the period's end is excluded
]


def test_ratings_by_unit_and_field_average_each_criterion() -> None:
    report = build_report([], START, END, UNIT, LAND, RATINGS)
    assert report.ratings == 3
    assert report.rating_timeliness == Decimal("3.67")  # (5 + 4 + 2) / 3
    assert report.rating_attitude == Decimal("4.33")
    assert report.rating_clarity == Decimal("4.00")
    assert report.rating_outcome == Decimal("3.67")


def test_a_unit_alone_counts_all_its_fields_and_the_province_every_unit() -> None:
    unit = build_report([], START, END, UNIT, None, RATINGS)
    assert unit.ratings == 4
    assert unit.rating_timeliness == Decimal("3.00")  # (5 + 4 + 2 + 1) / 4
    field = build_report([], START, END, None, LAND, RATINGS)
    assert (field.ratings, field.rating_outcome) == (4, Decimal("3.50"))
    assert build_report([], START, END, None, None, RATINGS).ratings == 5


def test_no_rating_gives_a_count_of_zero_and_no_average() -> None:
    report = build_report([], START, END, OTHER_UNIT, BIRTH, RATINGS)
    assert report.ratings == 0
    assert report.rating_attitude is None
    assert report.as_dict()["rating_attitude"] is None


def test_json_and_csv_carry_the_rating_figures() -> None:
    report = build_report([], START, END, UNIT, LAND, RATINGS)
    data = report.as_dict()
    assert data["ratings"] == 3
    assert data["rating_clarity"] == "4.00"
    rows = list(csv.DictReader(io.StringIO(to_csv([report]))))
    assert len(rows) == 1
    assert rows[0]["ratings"] == "3"
    assert rows[0]["rating_timeliness"] == "3.67"
    assert rows[0]["rating_outcome"] == "3.67"
