"""Who reads personal data, and an alarm when one caller reads too much of it.

Every read of a dossier's personal data (a portal's receipt, the console, notify's and
SLA's contact look-ups, a data-subject export, an identity document's storage reference)
counts once per dossier in ``personal_data_reads_total{caller}``. The pure
:class:`BulkReadDetector` remembers, per caller, the distinct dossiers read inside a
sliding window; when one caller passes its threshold it raises the alarm once
(``personal_data_bulk_read_alerts_total{caller}`` and a warning log line whose ``event``
is ``personal_data.bulk_read``) and starts counting again. A bulk read may be a breach:
the 72-hour duty to report starts when one is confirmed (docs/SECURITY.md).

Counting is per process (each uvicorn worker has its own window); Prometheus sums the
counters across processes, which is what the alert rules use.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import Counter

log = logging.getLogger(__name__)

BULK_READ_EVENT = "personal_data.bulk_read"
PERSONAL_DATA_READS = Counter(
    "personal_data_reads_total",
    "Dossiers whose personal data a caller read (once per dossier per request).",
    ["caller"],
)
BULK_READ_ALERTS = Counter(
    "personal_data_bulk_read_alerts_total",
    "Times one caller read more distinct dossiers' personal data than allowed in the window.",
    ["caller"],
)
# Callers remembered at once; beyond this the oldest is forgotten (memory stays bounded).
MAX_CALLERS = 10_000


@dataclass(frozen=True)
class BulkReadPolicy:
    threshold: int = 100
    window_seconds: float = 600.0
    # Callers whose work is reading many dossiers (notify sends every message) get more.
    per_caller: Mapping[str, int] = field(default_factory=dict)

    def threshold_for(self, caller: str) -> int:
        return self.per_caller.get(caller, self.threshold)


@dataclass(frozen=True)
class BulkRead:
    caller: str
    distinct_dossiers: int
    threshold: int
    window_seconds: float


class BulkReadDetector:
    """Distinct dossiers per caller inside a sliding window; pure apart from the clock."""

    def __init__(self, policy: BulkReadPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        # caller -> dossier id -> when last read (oldest first)
        self._seen: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def record(self, caller: str, dossier_ids: Iterable[str]) -> BulkRead | None:
        """Note the reads; the alarm when this caller just went over its threshold."""
        now = self._clock()
        seen = self._seen.get(caller)
        if seen is None:
            seen = self._seen[caller] = OrderedDict()
            while len(self._seen) > MAX_CALLERS:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(caller)
        for dossier_id in dossier_ids:
            seen[dossier_id] = now
            seen.move_to_end(dossier_id)
        horizon = now - self.policy.window_seconds
        while seen and next(iter(seen.values())) < horizon:
            seen.popitem(last=False)
        limit = self.policy.threshold_for(caller)
        if len(seen) <= limit:
            return None
        found = BulkRead(caller, len(seen), limit, self.policy.window_seconds)
        seen.clear()  # one alarm per burst; the next needs as many reads again
        return found


def note_reads(
    detector: BulkReadDetector | None, caller: str, dossier_ids: Iterable[object]
) -> None:
    """Count a caller's reads of these dossiers' personal data and raise the alarm if due."""
    ids = sorted({str(i) for i in dossier_ids})
    if not ids:
        return
    PERSONAL_DATA_READS.labels(caller).inc(len(ids))
    if detector is None:
        return
    alarm = detector.record(caller, ids)
    if alarm is None:
        return
    BULK_READ_ALERTS.labels(caller).inc()
    log.warning(
        "%s caller=%s distinct_dossiers=%d threshold=%d window_seconds=%.0f",
        BULK_READ_EVENT,
        alarm.caller,
        alarm.distinct_dossiers,
        alarm.threshold,
        alarm.window_seconds,
        extra={"event": BULK_READ_EVENT, "caller": alarm.caller},
    )
