"""Console: who am I, the inbox, the unit list, the overdue screen."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request

from services.routing.console.access import can_see_stats, can_see_unit, is_supervisor, urgency
from services.routing.console.common import (
    ACTIVE,
    PrincipalDep,
    UnitQuery,
    jsonable,
    runtime_of,
    settings_of,
)
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


# --- inbox with remaining working time -----------------------------------------------------


async def remaining_hours(
    request: Request, client: httpx.AsyncClient, unit: str, due_at: datetime, now: datetime
) -> float:
    """Working hours left until ``due_at`` (negative when past), by SLA's calendar; the
    shared calendar library (without SLA's administrator overrides) if SLA is away."""
    try:
        answer = await client.post(
            settings_of(request).url("sla") + "/v1/calendar/elapsed",
            json={"start": now.isoformat(), "end": due_at.isoformat(), "unit_code": unit},
        )
        if answer.status_code == 200:
            return float(answer.json()["working_hours"])
    except (httpx.HTTPError, ValueError, KeyError):
        pass
    from services.workcal.calendar import WorkingCalendar

    return float(WorkingCalendar().working_hours_between(now, due_at))


@api.get("/inbox")
async def inbox(
    request: Request,
    who: PrincipalDep,
    unit: UnitQuery = None,
) -> dict[str, Any]:
    unit_code = unit or who.unit_code
    if not can_see_unit(who, unit_code):
        raise ProblemError(403, "Không có quyền xem hộp hồ sơ của đơn vị khác")
    rt = runtime_of(request)
    rows = await rt.pool.fetch(
        "SELECT b.task_id, b.dossier_id, b.dossier_code, b.procedure_code, b.step_id,"
        " b.unit_code, b.status, b.claimed_by, b.assigned_at, b.due_at, b.allotment_hours,"
        " i.version AS dossier_version FROM inbox b JOIN instances i USING (dossier_id)"
        " WHERE b.unit_code = $1 AND b.status = ANY($2::text[])"
        " ORDER BY b.due_at NULLS LAST, b.assigned_at LIMIT 200",
        unit_code,
        ACTIVE,
    )
    now = datetime.now(UTC)
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(
        timeout=settings_of(request).console_http_timeout, limits=limits
    ) as client:
        left = await asyncio.gather(
            *(
                remaining_hours(request, client, r["unit_code"], r["due_at"], now)
                if r["due_at"] is not None
                else asyncio.sleep(0, None)
                for r in rows
            )
        )
    items = [
        {**jsonable(r), "remaining_hours": h, "urgency": urgency(h)}
        for r, h in zip(rows, left, strict=True)
    ]
    return {"unit_code": unit_code, "now": now.isoformat(), "items": items}


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
    """Steps past their own deadline, with the unit responsible for the delay."""
    rt = runtime_of(request)
    units = None if is_supervisor(who) else [who.unit_code]
    rows = await rt.pool.fetch(
        "SELECT task_id, dossier_id, dossier_code, procedure_code, step_id,"
        " unit_code AS responsible_unit, status, claimed_by, assigned_at, due_at,"
        " extract(epoch FROM now() - due_at) / 3600 AS late_hours FROM inbox"
        " WHERE status = ANY($1::text[]) AND due_at < now()"
        " AND ($2::text[] IS NULL OR unit_code = ANY($2::text[]))"
        " ORDER BY due_at LIMIT 500",
        ACTIVE,
        units,
    )
    return {"items": [jsonable(r) for r in rows]}
