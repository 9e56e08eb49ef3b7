"""Console: who am I, the inbox, the unit list, the overdue screen."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints

from contracts.bounds import SafeStr
from contracts.vietnam import VN_TZ
from reference import reference
from services.routing.adapters import access_log
from services.routing.adapters import console_store as store
from services.routing.adapters.console_store import URGENCIES, QueueFilter
from services.routing.console.access import can_see_stats, can_see_unit, is_supervisor
from services.routing.console.common import (
    PrincipalDep,
    UnitQuery,
    call,
    jsonable,
    reason_of,
    record_console_read,
    runtime_of,
)
from services.routing.console.queue import (
    DEFAULT_STATUSES,
    PAGE_SIZE_MAX,
    QUEUE_LIMIT,
    SEARCH_LIMIT,
    counts,
    masked,
    may_search_people,
    pages,
)
from services.routing.console.workhours import (
    ConsoleCalendars,
    edges,
    parse_overrides,
    working_hours,
)
from services.runtime import clock
from services.runtime.auth import Principal
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)


api = APIRouter()

# --- who am I -----------------------------------------------------------------------------


@api.get("/me")
async def me(who: PrincipalDep) -> dict[str, Any]:
    return {
        "user": who.user_id,
        "unit_code": who.unit_code,
        "role": who.role,
        "may": {
            "stats": can_see_stats(who),
            "all_units": is_supervisor(who),
            "health": is_supervisor(who),
        },
    }


# --- inbox: a real queue, counted, filtered, sorted, paged, searched -------------------------

StatusQuery = Annotated[
    list[Literal["open", "claimed", "waiting"]] | None,
    Query(max_length=3, description="Task statuses (repeat); open and claimed if absent."),
]
UrgencyQuery = Annotated[
    list[Literal["overdue", "critical", "soon", "ok", "none"]] | None,
    Query(
        max_length=5, description="Urgency buckets by working time left (repeat); all if absent."
    ),
]
ProcedureQuery = Annotated[
    list[Annotated[SafeStr, StringConstraints(max_length=32, pattern=r"^[0-9A-Za-z.\-]+$")]] | None,
    Query(max_length=50, description="Procedure codes (repeat)."),
]
FieldQuery = Annotated[
    SafeStr | None,
    Query(max_length=32, pattern=r"^[0-9A-Za-z.\-_]+$", description="Field (lĩnh vực) code."),
]
SearchQuery = Annotated[
    SafeStr,
    Query(max_length=100, description="Dossier code, applicant name or the phone's last digits."),
]


def procedures_in_field(profile: str, field: str) -> list[str]:
    return [code for code, p in reference(profile).procedures.items() if p.field == field]


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), tzinfo=VN_TZ)


async def calendars_of(request: Request) -> ConsoleCalendars:
    """The units' calendars, SLA's overrides re-read at most once a minute."""
    rt = runtime_of(request)
    found = rt.state.get("console_calendars")
    if found is None:
        found = rt.state["console_calendars"] = ConsoleCalendars(rt.settings.reference_profile)
    assert isinstance(found, ConsoleCalendars)
    if found.stale():
        status, body = await call(request, "sla", "GET", "/v1/calendar/overrides")
        if status == 200 and isinstance(body, list):
            found.set_overrides(parse_overrides(body))
        else:
            log.warning("console: SLA's calendar overrides unread (%s)", reason_of(status, body))
            found.set_overrides(found.overrides)  # keep the last ones; retry after the TTL
    return found


async def people_search(
    request: Request, who: Principal, unit_code: str, mode: str, query: str
) -> tuple[list[UUID], bool]:
    """The dossiers of the unit's queue whose applicant matches, by intake (which holds
    the names and phones; it is asked only among the queue's dossiers, so the answer is
    exact however many dossiers the province has); the search is audited, masked."""
    if not may_search_people(who, unit_code):
        raise ProblemError(403, "Không có quyền tìm hồ sơ theo tên hoặc số điện thoại")
    if mode == "phone" and not re.fullmatch(r"[0-9]{4,10}", query):
        raise ProblemError(422, "Nhập từ 4 đến 10 chữ số cuối của số điện thoại")
    if mode == "name" and len(query.strip()) < 2:
        raise ProblemError(422, "Nhập ít nhất 2 ký tự của tên người nộp")
    async with runtime_of(request).pool.acquire() as conn:
        within = await store.queue_dossier_ids(conn, unit_code, QUEUE_LIMIT)
    status, body = await call(
        request,
        "intake",
        "POST",
        "/internal/v1/dossier-search",
        json_body={
            "mode": mode,
            "query": query,
            "limit": SEARCH_LIMIT,
            "within": [str(d) for d in within],
        },
    )
    if status != 200 or not isinstance(body, dict):
        raise ProblemError(
            503, "Chưa tìm được theo người nộp, vui lòng thử lại sau", reason_of(status, body)
        )
    ids = [UUID(m["id"]) for m in body["matches"]]
    await record_console_read(
        request,
        who,
        what=access_log.CONSOLE_SEARCH,
        parts=[f"mode:{mode}", f"query:{masked(mode, query)}", f"matches:{len(ids)}"],
        unit_code=unit_code,
    )
    return ids, bool(body.get("truncated"))


@api.get("/inbox")
async def inbox(
    request: Request,
    who: PrincipalDep,
    unit: UnitQuery = None,
    status: StatusQuery = None,
    urgency: UrgencyQuery = None,
    procedure: ProcedureQuery = None,
    field: FieldQuery = None,
    received_from: Annotated[date | None, Query(description="First day (local).")] = None,
    received_to: Annotated[date | None, Query(description="Last day (local).")] = None,
    sort: Annotated[Literal["remaining", "received"], Query()] = "remaining",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 50,
    q: SearchQuery = "",
    mode: Annotated[Literal["code", "name", "phone"], Query()] = "code",
) -> dict[str, Any]:
    """One unit's queue: counts per status and urgency over the whole filtered queue,
    one page of it with the working hours left on each row (the shared calendar,
    in-process), filters, sort, search by code, applicant name or phone suffix."""
    unit_code = unit or who.unit_code
    if not can_see_unit(who, unit_code):
        raise ProblemError(403, "Không có quyền xem hộp hồ sơ của đơn vị khác")
    procedures: list[str] | None = list(procedure) if procedure else None
    if field is not None:
        in_field = procedures_in_field(runtime_of(request).settings.reference_profile, field)
        procedures = [p for p in (procedures or in_field) if p in in_field]
    query = q.strip()
    dossier_ids: list[UUID] | None = None
    truncated = False
    if query and mode != "code":
        dossier_ids, truncated = await people_search(request, who, unit_code, mode, query)
    calendar = (await calendars_of(request)).for_unit(unit_code)
    now = clock.now()
    edge = edges(calendar, now)
    received_before = _day_start(received_to + timedelta(days=1) if received_to else None)
    flt = QueueFilter(
        unit_code=unit_code,
        now=edge.now,
        day_edge=edge.day,
        three_days_edge=edge.three_days,
        procedures=procedures,
        received_from=_day_start(received_from),
        received_before=received_before,
        dossier_ids=dossier_ids,
        code_fragment=like_escape(query) if query and mode == "code" else None,
    )
    statuses = list(status) if status else list(DEFAULT_STATUSES)
    urgencies = list(urgency) if urgency else list(URGENCIES)
    async with runtime_of(request).pool.acquire() as conn:
        cells = await store.queue_cells(conn, flt)
        rows = await store.queue_page(
            conn,
            flt,
            statuses=statuses,
            urgencies=urgencies,
            sort=sort,
            descending=order == "desc",
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    counted = counts(cells, statuses, urgencies)
    items = []
    for r in rows:
        left = working_hours(calendar, now, r["due_at"])
        items.append({**jsonable(r), "remaining_hours": left})  # urgency: the SQL's bucket
    return {
        "unit_code": unit_code,
        "now": now.isoformat(),
        "counts": {"status": counted.by_status, "urgency": counted.by_urgency},
        "total": counted.total,
        "page": page,
        "page_size": page_size,
        "pages": pages(counted.total, page_size),
        "sort": sort,
        "order": order,
        "filters": {"status": statuses, "urgency": urgencies, "procedure": procedures},
        "search": {"mode": mode, "q": query, "truncated": truncated} if query else None,
        "items": items,
    }


@api.get("/units")
async def units(request: Request, who: PrincipalDep) -> dict[str, Any]:
    """Units the operator may look at (a supervisor picks any; others get their own)."""
    if not is_supervisor(who):
        return {"units": [who.unit_code]}
    rows = await runtime_of(request).pool.fetch(
        "SELECT DISTINCT unit_code FROM officials WHERE role <> 'province_supervisor' ORDER BY 1"
    )
    return {"units": [r["unit_code"] for r in rows]}


# --- overdue -------------------------------------------------------------------------------


@api.get("/overdue")
async def overdue(request: Request, who: PrincipalDep) -> dict[str, Any]:
    """Steps past their own deadline, with the unit responsible for the delay and the
    working hours late (the unit's calendar, as SLA counts them)."""
    units = None if is_supervisor(who) else [who.unit_code]
    now = clock.now()
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.overdue_steps(conn, units, 500, now)
        total = await store.overdue_count(conn, units, now)
    calendars = await calendars_of(request)
    items = []
    for r in rows:
        left = working_hours(calendars.for_unit(r["responsible_unit"]), now, r["due_at"])
        items.append({**jsonable(r), "late_working_hours": -left if left is not None else None})
    return {"now": now.isoformat(), "total": total, "items": items}
