"""Night-time deferral: SMS and Zalo are not sent at night, email is.

Zalo refuses some ZNS at night anyway (-133), and a dossier notice at 23:00 helps
nobody; email waits in the inbox, so it goes at once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from contracts.vietnam import VN_TZ

DEFAULT_QUIET_WINDOW = (time(22, 0), time(7, 0))
DEFERRED_CHANNELS = frozenset({"sms", "zalo"})


def quiet_hours_defer(
    now: datetime,
    channel: str,
    window: tuple[time, time] = DEFAULT_QUIET_WINDOW,
    tz: tzinfo = VN_TZ,
) -> datetime | None:
    """When to send instead of `now`, or None to send now.

    `window` is [start, end) in local time and may wrap midnight (22:00-07:00).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if str(channel) not in DEFERRED_CHANNELS:
        return None
    start, end = window
    if start == end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    wraps = start > end
    inside = (t >= start or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    day = local.date()
    if wraps and t >= start:
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz)
