"""Console: statistics, from SLA's reports and routing's inboxes, for a chosen period
that ends now by default; every table exports to CSV and Excel."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from contracts.vietnam import VN_TZ
from services.routing.console.access import can_see_stats, is_supervisor
from services.routing.console.common import (
    ACTIVE,
    PrincipalDep,
    call,
    reason_of,
    runtime_of,
    settings_of,
)
from services.routing.console.report_tables import (
    PeriodError,
    Table,
    month_label,
    months_of,
    period,
    statistics_tables,
    to_csv,
    to_xlsx,
)
from services.runtime import clock
from services.runtime.auth import Principal
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)


api = APIRouter()

VN = VN_TZ
# "Due soon" is one working day ahead, by the unit's working calendar (never 24 wall hours).
DUE_SOON_WORKING_HOURS = Decimal(8)


def month_starts(now: datetime, months: int) -> list[datetime]:
    """The first instant (Vietnam time) of the last ``months`` months, oldest first,
    followed by the start of next month (so consecutive pairs are calendar months)."""
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


async def sla_statistics(
    request: Request, unit: str | None, start: datetime, end: datetime
) -> dict[str, Any]:
    """SLA's reports for [start, end), sliced: by calendar month, by unit, by field."""
    from reference import reference

    ref = reference(runtime_of(request).settings.reference_profile)
    status, total = await _report(request, start, end, unit=unit)
    if status != 200:
        return {"error": reason_of(status, total)}
    gate = asyncio.Semaphore(8)

    async def one(lo: datetime, hi: datetime, **filters: str | None) -> Any:
        async with gate:
            code, body = await _report(request, lo, hi, **filters)
        return body if code == 200 else None

    months = months_of(start, end)
    units = [unit] if unit else [u.code for u in ref.units if u.level.value != "province"]
    names = {u.code: u.name for u in ref.units}
    by_month, by_unit, by_field = await asyncio.gather(
        asyncio.gather(*(one(lo, hi, unit=unit) for lo, hi in months)),
        asyncio.gather(*(one(start, end, unit=u) for u in units)),
        asyncio.gather(*(one(start, end, unit=unit, field=f) for f in ref.fields)),
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "total": total,
        "by_month": [
            {"period": lo.strftime("%Y-%m"), "period_label": month_label(lo), **r}
            for (lo, _), r in zip(months, by_month, strict=True)
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


async def due_soon_limit(
    request: Request, client: httpx.AsyncClient, unit: str, now: datetime
) -> datetime:
    """``now`` plus one working day by SLA's calendar of the unit (the shared calendar
    library, without SLA's administrator overrides, when SLA does not answer)."""
    try:
        answer = await client.post(
            settings_of(request).url("sla") + "/v1/calendar/due",
            json={
                "start": now.isoformat(),
                "working_hours": str(DUE_SOON_WORKING_HOURS),
                "unit_code": unit,
            },
        )
        if answer.status_code == 200:
            return datetime.fromisoformat(answer.json()["due"])
    except (httpx.HTTPError, ValueError, KeyError):
        pass
    from services.workcal.calendar import WorkingCalendar

    return WorkingCalendar().add_working_hours(now, DUE_SOON_WORKING_HOURS)


async def steps_by_unit(request: Request, units: list[str] | None, now: datetime) -> list[Any]:
    """Routing's steps per unit at ``now``. A step is overdue when its due instant is
    past (``due_at < now``), the overdue screen's rule; due soon when it falls within
    one working day; done on time when handed on (form 06) by its due instant."""
    pool = runtime_of(request).pool
    present = [
        r["unit_code"]
        for r in await pool.fetch(
            "SELECT DISTINCT unit_code FROM inbox"
            " WHERE ($1::text[] IS NULL OR unit_code = ANY($1::text[]))",
            units,
        )
    ]
    async with httpx.AsyncClient(timeout=settings_of(request).console_http_timeout) as client:
        limits = await asyncio.gather(*(due_soon_limit(request, client, u, now) for u in present))
    return list(
        await pool.fetch(
            "WITH soon AS (SELECT * FROM unnest($2::text[], $3::timestamptz[]) AS s(unit_code,"
            " until)),"
            # A step is done when it was handed on (a line of form 06), not when its dossier
            # was withdrawn, refused or stopped around it (that closes it too).
            " finished AS (SELECT e.event->>'from_task_id' AS task_id, min(e.at) AS at"
            "   FROM instance_events e WHERE e.type = 'HandedOff' AND e.dossier_id IN"
            "   (SELECT dossier_id FROM inbox WHERE unit_code = ANY($2::text[])) GROUP BY 1)"
            " SELECT b.unit_code,"
            " count(*) FILTER (WHERE b.status = ANY($4::text[])) AS in_progress,"
            " count(*) FILTER (WHERE b.status = ANY($4::text[]) AND b.due_at < $1) AS overdue,"
            " count(*) FILTER (WHERE b.status = ANY($4::text[]) AND b.due_at >= $1"
            "   AND b.due_at <= s.until) AS due_1_working_day,"
            " count(f.task_id) FILTER (WHERE b.status = 'done') AS done,"
            " count(f.task_id) FILTER (WHERE b.status = 'done'"
            "   AND (b.due_at IS NULL OR f.at <= b.due_at)) AS done_on_time"
            " FROM inbox b LEFT JOIN soon s USING (unit_code)"
            " LEFT JOIN finished f ON f.task_id = b.task_id"
            " WHERE b.unit_code = ANY($2::text[]) GROUP BY b.unit_code ORDER BY b.unit_code",
            now,
            present,
            limits,
            ACTIVE,
        )
    )


FromQuery = Annotated[
    date | None, Query(alias="from", description="First day (Vietnam time), YYYY-MM-DD.")
]
ToQuery = Annotated[
    date | None,
    Query(alias="to", description="Last day (Vietnam time), YYYY-MM-DD; the period ends now."),
]


async def statistics(
    request: Request, who: Principal, first: date | None, last: date | None
) -> tuple[dict[str, Any], list[Table]]:
    if not can_see_stats(who):
        raise ProblemError(
            403,
            "Chỉ lãnh đạo đơn vị và giám sát cấp tỉnh xem thống kê",
            "Statistics are for unit heads and province supervisors.",
        )
    now = clock.now()
    try:
        start, end = period(first, last, now)
    except PeriodError as exc:
        raise ProblemError(422, exc.title, "Invalid report period.") from exc
    unit = None if is_supervisor(who) else who.unit_code
    sla = await sla_statistics(request, unit, start, end)
    from services.routing.console.names import names_of

    names = names_of(runtime_of(request).settings.reference_profile)["units"]
    steps = [
        {**dict(r), "unit_name": names.get(r["unit_code"], r["unit_code"])}
        for r in await steps_by_unit(request, None if unit is None else [unit], now)
    ]
    good = None if "error" in sla else sla
    data = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "now": now.isoformat(),
        # The days the period covers (Vietnam time), as the date fields show them.
        "first_day": start.astimezone(VN).date().isoformat(),
        "last_day": (end - timedelta(microseconds=1)).astimezone(VN).date().isoformat(),
        "unit_code": unit,
        "sla": good,
        "sla_error": sla.get("error"),
        "steps_by_unit": steps,
    }
    return data, statistics_tables(good, steps)


@api.get("/stats")
async def stats(
    request: Request, who: PrincipalDep, first: FromQuery = None, last: ToQuery = None
) -> dict[str, Any]:
    """SLA's reports for the period (the last six months up to now by default) and
    routing's steps per unit now; the tables the screen shows and exports."""
    data, tables = await statistics(request, who, first, last)
    return {**data, "tables": [t.as_dict() for t in tables]}


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@api.get(
    "/stats/export/{table}.{fmt}",
    responses={
        200: {
            "description": "The table as CSV (UTF-8 with BOM) or an Excel workbook.",
            "content": {t: {"schema": {"type": "string"}} for t in EXPORT_TYPES.values()},
        }
    },
)
async def export(
    request: Request,
    who: PrincipalDep,
    table: Annotated[str, PathParam(pattern=r"^[a-z0-9\-]{1,40}$")],
    fmt: Annotated[Literal["csv", "xlsx"], PathParam()],
    first: FromQuery = None,
    last: ToQuery = None,
) -> Response:
    """One table of the statistics screen, as the screen shows it, to a spreadsheet."""
    data, tables = await statistics(request, who, first, last)
    found = next((t for t in tables if t.id == table), None)
    if found is None:
        raise ProblemError(404, "Không có bảng thống kê này")
    start = datetime.fromisoformat(data["from"]).astimezone(VN)
    end = datetime.fromisoformat(data["to"]).astimezone(VN)
    scope = f"đơn vị {data['unit_code']}" if data["unit_code"] else "toàn tỉnh"
    subtitle = f"Từ {start:%d/%m/%Y %H:%M} đến {end:%d/%m/%Y %H:%M} · {scope}"
    body = to_csv(found) if fmt == "csv" else to_xlsx(found, subtitle)
    name = f"thong-ke-{found.id}-{start:%Y%m%d}-{end:%Y%m%d}.{fmt}"
    return Response(
        body,
        media_type=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
