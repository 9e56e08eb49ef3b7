"""Vietnam's time zone: every time a citizen or official reads is in +07:00 (no DST)."""

from __future__ import annotations

from datetime import timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

VN_TZ: tzinfo
try:
    VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
except ZoneInfoNotFoundError:  # no tz database in the image; Vietnam has no DST
    VN_TZ = timezone(timedelta(hours=7), "ICT")
