"""The figures units report per period (pure: facts in, numbers out).

One row per dossier (an interlinked chain is one dossier, so it counts once), attributed
to the unit that received it. For a period ``[start, end)``:

* **carried over**: received before ``start`` and not ended before ``start``;
* **received**: received inside the period, split by channel (1 in person, 2 online,
  3 post); ``to_handle = carried_over + received``;
* **resolved**: ended inside the period with done (9), returned (10), stopped (8) or
  refused (3) — the end statuses of the domain — split early / on time / late; a
  dossier that needed more than one supplement request is late (Quyết định 766);
* **withdrawn**: the citizen withdrew inside the period (7);
* **in progress**: the rest of ``to_handle`` (not ended by ``end``), on time or overdue
  at ``end`` (overdue when the due instant is past: ``due_at < end``); of those, **due
  within one working day** of ``end`` (``due_soon_by``, by the unit's working calendar;
  24 hours when the caller gives none) and **waiting for supplement**;
* **stopped** / **refused** / **returned**: breakdowns of resolved by end status
  (returned = the result was handed to the citizen);
* **on-time rate**: (early + on time) / resolved, in percent.

So ``to_handle == resolved + withdrawn + in_progress`` and
``resolved == early + on_time + late`` always hold.

**Ratings** (the satisfaction index): the citizens' ratings given inside the period for
dossiers of the unit and field, counted, with the average of each criterion (thời gian,
thái độ, hướng dẫn rõ ràng, kết quả; 1–5) to two decimals, None when there is none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from contracts.events import Channel, DossierStatus

_S = DossierStatus
RESOLVED_STATUSES = frozenset({_S.NOT_ACCEPTED, _S.STOPPED, _S.DONE, _S.RETURNED})
WITHDRAWN = _S.WITHDRAWN
SUPPLEMENT_REQUESTED = _S.SUPPLEMENT_REQUESTED
CHANNELS = {channel.value: channel.slug for channel in Channel}


@dataclass(frozen=True)
class DossierFacts:
    dossier_id: str
    unit_code: str
    field_code: str
    channel: int
    received_at: datetime
    due_at: datetime
    supplement_requests: int = 0
    status: int = 4  # the latest known status
    ended_at: datetime | None = None
    end_status: int | None = None
    outcome: str | None = None  # early | on_time | late, decided when it ended
    returned: bool = False  # the result was handed to the citizen (status 10 reached)


RATING_CRITERIA = ("timeliness", "attitude", "clarity", "outcome")


@dataclass(frozen=True)
class RatingFacts:
    """One citizen's rating (`dossier.rated`), with the unit and field of its dossier."""

    dossier_id: str
    unit_code: str
    field_code: str
    rated_at: datetime
    timeliness: int
    attitude: int
    clarity: int
    outcome: int


@dataclass
class Report:
    unit: str | None
    field: str | None
    start: datetime
    end: datetime
    carried_over: int = 0
    received: int = 0
    received_by_channel: dict[str, int] = dc_field(
        default_factory=lambda: dict.fromkeys(CHANNELS.values(), 0)
    )
    to_handle: int = 0
    resolved: int = 0
    resolved_early: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    withdrawn: int = 0
    in_progress: int = 0
    in_progress_on_time: int = 0
    in_progress_overdue: int = 0
    due_within_24h: int = 0
    waiting_for_supplement: int = 0
    stopped: int = 0
    refused: int = 0
    returned: int = 0
    on_time_rate: Decimal | None = None
    ratings: int = 0
    rating_timeliness: Decimal | None = None
    rating_attitude: Decimal | None = None
    rating_clarity: Decimal | None = None
    rating_outcome: Decimal | None = None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        for name in ("on_time_rate", *(f"rating_{c}" for c in RATING_CRITERIA)):
            value = getattr(self, name)
            data[name] = None if value is None else str(value)
        return data


def _late(f: DossierFacts) -> bool:
    if f.supplement_requests > 1:
        return True
    if f.outcome is not None:
        return f.outcome == "late"
    return f.ended_at is not None and f.ended_at > f.due_at


def add_ratings(report: Report, ratings: Iterable[RatingFacts]) -> Report:
    """The report with the ratings given inside its period for its unit and field."""
    sums = dict.fromkeys(RATING_CRITERIA, 0)
    count = 0
    for r in ratings:
        if report.unit is not None and r.unit_code != report.unit:
            continue
        if report.field is not None and r.field_code != report.field:
            continue
        if not report.start <= r.rated_at < report.end:
            continue
        count += 1
        for c in RATING_CRITERIA:
            sums[c] += getattr(r, c)
    report.ratings = count
    for c in RATING_CRITERIA:
        average = None
        if count:
            average = (Decimal(sums[c]) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        setattr(report, f"rating_{c}", average)
    return report


def build_report(
    facts: Iterable[DossierFacts],
    start: datetime,
    end: datetime,
    unit: str | None = None,
    field_code: str | None = None,
    ratings: Iterable[RatingFacts] = (),
    due_soon_by: datetime | None = None,
) -> Report:
    if end <= start:
        raise ValueError("the period must end after it starts")
    report = Report(unit=unit, field=field_code, start=start, end=end)
    soon = due_soon_by if due_soon_by is not None else end + timedelta(hours=24)
    for f in facts:
        if unit is not None and f.unit_code != unit:
            continue
        if field_code is not None and f.field_code != field_code:
            continue
        if f.received_at >= end:
            continue
        if f.received_at < start:
            if f.ended_at is not None and f.ended_at < start:
                continue
            report.carried_over += 1
        else:
            report.received += 1
            channel = CHANNELS.get(f.channel, "other")
            report.received_by_channel[channel] = report.received_by_channel.get(channel, 0) + 1
        if f.ended_at is not None and f.ended_at < end:
            if f.end_status == WITHDRAWN:
                report.withdrawn += 1
                continue
            report.resolved += 1
            if _late(f):
                report.resolved_late += 1
            elif f.outcome == "early":
                report.resolved_early += 1
            else:
                report.resolved_on_time += 1
            if f.end_status == 8:
                report.stopped += 1
            elif f.end_status == 3:
                report.refused += 1
            if f.returned:
                report.returned += 1
            continue
        report.in_progress += 1
        if f.due_at < end:
            report.in_progress_overdue += 1
        else:
            report.in_progress_on_time += 1
            if f.due_at <= soon:
                report.due_within_24h += 1
        if f.status == SUPPLEMENT_REQUESTED:
            report.waiting_for_supplement += 1
    report.to_handle = report.carried_over + report.received
    if report.resolved:
        rate = Decimal(100 * (report.resolved_early + report.resolved_on_time)) / report.resolved
        report.on_time_rate = rate.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return add_ratings(report, ratings)


CSV_COLUMNS = (
    "unit",
    "field",
    "start",
    "end",
    "carried_over",
    "received",
    "received_in_person",
    "received_online",
    "received_post",
    "to_handle",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "withdrawn",
    "in_progress",
    "in_progress_on_time",
    "in_progress_overdue",
    "due_within_24h",
    "waiting_for_supplement",
    "stopped",
    "refused",
    "returned",
    "on_time_rate",
    "ratings",
    "rating_timeliness",
    "rating_attitude",
    "rating_clarity",
    "rating_outcome",
)


def to_csv(reports: Iterable[Report]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        d = r.as_dict()
        by_channel = r.received_by_channel
        d["received_in_person"] = by_channel.get("in_person", 0)
        d["received_online"] = by_channel.get("online", 0)
        d["received_post"] = by_channel.get("post", 0)
        writer.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return out.getvalue()
