"""Console: statistics, from SLA's reports and routing's inboxes."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from contracts.vietnam import VN_TZ
from services.routing.console.access import can_see_stats, is_supervisor
from services.routing.console.common import (
    PrincipalDep,
    call,
    jsonable,
    reason_of,
    runtime_of,
)
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)


api = APIRouter()

# --- statistics ----------------------------------------------------------------------------


VN = VN_TZ


def month_starts(now: datetime, months: int) -> list[datetime]:
    """The first instant (Vietnam time) of the last ``months`` months, oldest first,
    followed by the start of next month (so consecutive pairs are periods)."""
    local = now.astimezone(VN)
    year, month = local.year, local.month
    starts: list[datetime] = []
    for back in range(months - 1, -2, -1):
        y, m = year, month - back
        while m < 1:
            y, m = y - 1, m + 12
        while m > 12:
            y, m = y + 1, m - 12
        starts.append(datetime(y, m, 1, tzinfo=VN))
    return starts


async def _report(
    request: Request, start: datetime, end: datetime, **filters: str | None
) -> tuple[int, Any]:
    params = {"from": start.isoformat(), "to": end.isoformat()}
    params.update({k: v for k, v in filters.items() if v})
    return await call(request, "sla", "GET", "/v1/reports", params=params)


async def sla_statistics(request: Request, unit: str | None) -> dict[str, Any]:
    """SLA's reports, sliced: by month (last 6), by unit and by field (whole window)."""
    from reference import reference

    ref = reference(runtime_of(request).settings.reference_profile)
    bounds = month_starts(datetime.now(UTC), 6)
    start, end = bounds[0], bounds[-1]
    status, total = await _report(request, start, end, unit=unit)
    if status != 200:
        return {"error": reason_of(status, total)}
    gate = asyncio.Semaphore(8)

    async def one(lo: datetime, hi: datetime, **filters: str | None) -> Any:
        async with gate:
            code, body = await _report(request, lo, hi, **filters)
        return body if code == 200 else None

    units = [unit] if unit else [u.code for u in ref.units if u.level.value != "province"]
    names = {u.code: u.name for u in ref.units}
    by_month, by_unit, by_field = await asyncio.gather(
        asyncio.gather(*(one(lo, hi, unit=unit) for lo, hi in itertools.pairwise(bounds))),
        asyncio.gather(*(one(start, end, unit=u) for u in units)),
        asyncio.gather(*(one(start, end, unit=unit, field=f) for f in ref.fields)),
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "total": total,
        "by_month": [
            {"period": lo.strftime("%Y-%m"), **r}
            for lo, r in zip(bounds, by_month, strict=False)
            if r is not None
        ],
        "by_unit": [
            {"unit_code": u, "unit_name": names.get(u, u), **r}
            for u, r in zip(units, by_unit, strict=True)
            if r is not None and r.get("to_handle", 1)
        ],
        "by_field": [
            {"field_code": f, "field_name": ref.fields[f].name, **r}
            for f, r in zip(ref.fields, by_field, strict=True)
            if r is not None and r.get("to_handle", 1)
        ],
    }


@api.get("/stats")
async def stats(request: Request, who: PrincipalDep) -> dict[str, Any]:
    """SLA's reports when SLA serves them, and figures from routing's inboxes."""
    if not can_see_stats(who):
        raise ProblemError(403, "Chỉ lãnh đạo đơn vị và giám sát cấp tỉnh xem thống kê")
    units = None if is_supervisor(who) else [who.unit_code]
    sla = await sla_statistics(request, None if units is None else who.unit_code)
    rows = await runtime_of(request).pool.fetch(
        "SELECT unit_code,"
        " count(*) FILTER (WHERE status IN ('open', 'claimed')) AS in_progress,"
        " count(*) FILTER (WHERE status IN ('open', 'claimed') AND due_at < now()) AS overdue,"
        " count(*) FILTER (WHERE status IN ('open', 'claimed')"
        "   AND due_at BETWEEN now() AND now() + interval '24 hours') AS due_24h,"
        " count(*) FILTER (WHERE status = 'done') AS done,"
        " count(*) FILTER (WHERE status = 'done' AND (due_at IS NULL OR updated_at <= due_at))"
        "   AS done_on_time"
        " FROM inbox WHERE ($1::text[] IS NULL OR unit_code = ANY($1::text[]))"
        " GROUP BY unit_code ORDER BY unit_code",
        units,
    )
    return {
        "sla": None if "error" in sla else sla,
        "sla_error": sla.get("error"),
        "steps_by_unit": [jsonable(r) for r in rows],
    }
