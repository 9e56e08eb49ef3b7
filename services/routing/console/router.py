"""Operator console: a web page served by routing, plus the JSON it reads.

The browser talks only to routing (same origin): routing's own operator API for the
inbox and task actions, and the ``/console/api`` routes below, which read routing's
tables and call intake, SLA and notify over HTTP on the server side. Every route checks
the operator's signed token and answers only what the role may see: an official their
unit, a unit head their unit and its statistics, a province supervisor everything.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.bounds import PG_BIGINT_MAX, UNIT_PATTERN, SafeStr
from contracts.vietnam import VN_TZ
from services.routing.adapters import access_log
from services.routing.console.access import can_see_stats, can_see_unit, is_supervisor, urgency
from services.runtime.auth import Principal, operator_principal
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.telemetry import load_trace, traces_of_dossier

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
SERVICES = ("intake", "routing", "sla", "notify")
ACTIVE = ["open", "claimed"]


class ConsoleSettings(BaseSettings):
    """Where the other services answer (routing is the console's own process)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    sla_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    console_http_timeout: float = 5.0

    def url(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")


# The page and its files are not part of the API; the JSON the page reads is.
router = APIRouter()
api = APIRouter(
    prefix="/console/api", tags=["console"], responses=problem_responses(401, 403, 404, 422)
)
UnitQuery = Annotated[SafeStr | None, Query(max_length=32, pattern=UNIT_PATTERN)]
DossierRefPath = Annotated[
    SafeStr,
    PathParam(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-]+$", description="Code or id."),
]
TraceIdPath = Annotated[str, PathParam(pattern=r"^[0-9a-fA-F]{32}$", description="W3C trace id.")]


# --- the page ---------------------------------------------------------------------------


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console/", include_in_schema=False)
async def console_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/console/static/{name}", include_in_schema=False)
async def console_static(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ProblemError(404, "Không tìm thấy tệp")
    return FileResponse(STATIC / name, media_type=media_type)


# --- plumbing ---------------------------------------------------------------------------


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


PrincipalDep = Annotated[Principal, Depends(operator_principal)]


def _service_headers(request: Request) -> dict[str, str]:
    """Routing's own credential, sent only to the configured addresses."""
    return {"X-Service-Token": _runtime(request).settings.own_service_token()}


def settings_of(request: Request) -> ConsoleSettings:
    state = _runtime(request).state
    found = state.get("console_settings")
    if found is None:
        found = state["console_settings"] = ConsoleSettings()
    assert isinstance(found, ConsoleSettings)
    return found


async def call(
    request: Request,
    service: str,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, str] | None = None,
    internal: bool = True,
) -> tuple[int, Any]:
    """Call another service; (0, reason) when it does not answer (the page degrades)."""
    cfg = settings_of(request)
    headers = _service_headers(request) if internal else {}
    try:
        async with httpx.AsyncClient(timeout=cfg.console_http_timeout) as client:
            response = await client.request(
                method, cfg.url(service) + path, json=json_body, params=params, headers=headers
            )
    except httpx.HTTPError as exc:
        return 0, f"{service} không phản hồi ({type(exc).__name__})"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _jsonable(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = float(value)
        elif value is not None and not isinstance(value, str | int | float | bool | dict | list):
            out[key] = str(value)
        else:
            out[key] = value
    return out


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
    rt = _runtime(request)
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
        {**_jsonable(r), "remaining_hours": h, "urgency": urgency(h)}
        for r, h in zip(rows, left, strict=True)
    ]
    return {"unit_code": unit_code, "now": now.isoformat(), "items": items}


@api.get("/units")
async def units(request: Request, who: PrincipalDep) -> dict[str, Any]:
    """Units the operator may look at (a supervisor picks any; others get their own)."""
    if not is_supervisor(who):
        return {"units": [who.unit_code]}
    rows = await _runtime(request).pool.fetch(
        "SELECT DISTINCT unit_code FROM officials WHERE role <> 'province_supervisor' ORDER BY 1"
    )
    return {"units": [r["unit_code"] for r in rows]}


# --- overdue -------------------------------------------------------------------------------


@api.get("/overdue")
async def overdue(request: Request, who: PrincipalDep) -> dict[str, Any]:
    """Steps past their own deadline, with the unit responsible for the delay."""
    rt = _runtime(request)
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
    return {"items": [_jsonable(r) for r in rows]}


# --- dossiers ------------------------------------------------------------------------------


async def _instance(request: Request, ref: str) -> Any:
    return await _runtime(request).pool.fetchrow(
        "SELECT dossier_id, dossier_code, procedure_code, status, version, state, updated_at"
        " FROM instances WHERE dossier_code = $1 OR dossier_id::text = $1",
        ref,
    )


async def _units_of(request: Request, dossier_id: Any) -> set[str]:
    rows = await _runtime(request).pool.fetch(
        "SELECT DISTINCT unit_code FROM inbox WHERE dossier_id = $1", dossier_id
    )
    return {r["unit_code"] for r in rows}


DOSSIER_REF = re.compile(r"^[0-9A-Za-z.\-]{1,64}$")
DOSSIER_PAGE_PARTS = ("intake", "handoffs", "steps", "deadlines", "messages", "traces")


def no_such_dossier() -> ProblemError:
    """The same answer for a dossier that does not exist and one the operator's unit may
    not see, as routing's operator API gives: neither its existence nor its owner leaks."""
    return ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for your unit.")


async def _check_dossier_access(request: Request, who: Principal, ref: str) -> Any:
    if not DOSSIER_REF.match(ref):
        raise ProblemError(422, "Mã hồ sơ không hợp lệ")
    found = await _instance(request, ref)
    if found is None:
        if is_supervisor(who):
            return None  # intake may know it before routing does
        raise no_such_dossier()
    if not is_supervisor(who):
        receiving = json.loads(found["state"]).get("receiving_unit")
        if who.unit_code not in await _units_of(request, found["dossier_id"]) | {receiving}:
            raise no_such_dossier()
    return found


@api.get("/dossiers")
async def dossiers(
    request: Request,
    who: PrincipalDep,
    q: Annotated[SafeStr, Query(max_length=64, description="Part of a dossier code.")] = "",
) -> dict[str, Any]:
    """Recent dossiers the operator may see, optionally filtered by (part of) the code."""
    units = None if is_supervisor(who) else [who.unit_code]
    rows = await _runtime(request).pool.fetch(
        "SELECT i.dossier_id, i.dossier_code, i.procedure_code, i.status, i.updated_at"
        " FROM instances i WHERE ($1 = '' OR i.dossier_code ILIKE '%' || $1 || '%')"
        " AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM inbox b"
        " WHERE b.dossier_id = i.dossier_id AND b.unit_code = ANY($2::text[]))"
        " OR i.state ->> 'receiving_unit' = ANY($2::text[]))"
        " ORDER BY i.updated_at DESC LIMIT 100",
        q,
        units,
    )
    return {"items": [_jsonable(r) for r in rows]}


@api.get("/dossiers/{ref}")
async def dossier(request: Request, ref: DossierRefPath, who: PrincipalDep) -> dict[str, Any]:
    """Everything about one dossier: intake's view and timeline (form 06 hand-offs),
    routing's steps and step deadlines, SLA's deadlines, notify's messages, traces."""
    found = await _check_dossier_access(request, who, ref)
    status, view = await call(request, "intake", "GET", f"/v1/dossiers/{ref}")
    if status != 200 and found is None:
        raise no_such_dossier()
    code = found["dossier_code"] if found is not None else view["code"]
    dossier_id = str(found["dossier_id"]) if found is not None else str(view["id"])
    # The page shows the messages sent to the citizen (their name) and intake's view:
    # the read is recorded before anything is answered.
    async with _runtime(request).pool.acquire() as conn:
        await access_log.record_read(
            conn,
            actor=who.user_id,
            role=who.role,
            unit_code=who.unit_code,
            dossier_id=UUID(dossier_id),
            dossier_code=code,
            what=access_log.CONSOLE_DOSSIER,
            parts=DOSSIER_PAGE_PARTS,
        )
    (n_status, notes), (d_status, deadlines), traces = await asyncio.gather(
        call(request, "notify", "GET", "/v1/notifications", params={"dossier": code}),
        call(request, "sla", "GET", f"/v1/dossiers/{dossier_id}/deadlines"),
        _dossier_traces(request, dossier_id, code),
    )
    tasks = await _runtime(request).pool.fetch(
        "SELECT task_id, step_id, unit_code, status, claimed_by, assigned_at, due_at,"
        " allotment_hours, updated_at FROM inbox WHERE dossier_id = $1 ORDER BY assigned_at",
        found["dossier_id"] if found is not None else view["id"],
    )
    timeline = view.get("timeline", []) if isinstance(view, dict) else []
    return {
        "code": code,
        "dossier_id": dossier_id,
        "intake": view if status == 200 else None,
        "intake_error": None if status == 200 else _reason(status, view),
        "routing": _jsonable(found) | {"state": None} if found is not None else None,
        "handoffs": [t for t in timeline if t.get("event_type") == "step.handed_off"],
        "steps": [_jsonable(t) for t in tasks],
        "deadlines": deadlines if d_status == 200 else None,
        "deadlines_error": None if d_status == 200 else _reason(d_status, deadlines),
        "messages": notes.get("messages", []) if n_status == 200 else None,
        "messages_error": None if n_status == 200 else _reason(n_status, notes),
        "traces": traces,
    }


def _reason(status: int, body: Any) -> str:
    if status == 0:
        return str(body)
    if isinstance(body, dict):
        return f"HTTP {status}: {body.get('title') or body.get('detail') or ''}".strip()
    return f"HTTP {status}"


async def _dossier_traces(request: Request, dossier_id: str, code: str) -> list[dict[str, Any]]:
    """Trace ids whose spans name the dossier, from the four services' span tables."""
    pool = _runtime(request).pool
    found: dict[str, dict[str, Any]] = {}
    lists: list[list[dict[str, Any]]] = [
        await traces_of_dossier(pool, dossier_id),
        await traces_of_dossier(pool, code),
    ]
    for service in ("intake", "sla", "notify"):
        for ref in (dossier_id, code):
            status, body = await call(
                request, service, "GET", "/v1/traces", params={"dossier": ref}
            )
            if status == 200 and isinstance(body, dict):
                lists.append(body.get("traces", []))
    for entries in lists:
        for entry in entries:
            started = _instant(entry["started_at"])
            known = found.setdefault(entry["trace_id"], {"trace_id": entry["trace_id"]})
            if "started_at" not in known or started < known["started_at"]:
                known["started_at"] = started
    ordered = sorted(found.values(), key=lambda t: t["started_at"])
    return [{**t, "started_at": t["started_at"].isoformat()} for t in ordered]


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# --- traces --------------------------------------------------------------------------------


async def merged_trace(request: Request, trace_id: str) -> dict[str, Any]:
    """The spans of one trace from all four services, oldest first, with depth."""
    spans = [_jsonable(s) for s in await load_trace(_runtime(request).pool, trace_id)]
    missing: list[str] = []
    for service in ("intake", "sla", "notify"):
        status, body = await call(request, service, "GET", f"/v1/traces/{trace_id}")
        if status == 200 and isinstance(body, dict):
            spans.extend(body.get("spans", []))
        else:
            missing.append(service)
    spans.sort(key=lambda s: _instant(s["start_time"]))
    by_id = {s["span_id"]: s for s in spans}
    for span in spans:
        depth, parent, seen = 0, span.get("parent_span_id"), set()
        while parent in by_id and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = by_id[parent].get("parent_span_id")
        span["depth"] = depth
    return {"trace_id": trace_id, "spans": spans, "unreachable": missing}


DOSSIER_ATTRIBUTES = ("onestop.dossier_id", "onestop.dossier_code")
MAX_TRACE_DOSSIERS = 200  # a trace is about one dossier (a DVCQG batch: a few)


def _dossiers_named(span: dict[str, Any]) -> set[str]:
    attributes = span.get("attributes")
    if not isinstance(attributes, dict):
        return set()
    return {str(attributes[name]) for name in DOSSIER_ATTRIBUTES if attributes.get(name)}


async def _visible_spans(
    request: Request, who: Principal, spans: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Authorised by dossier, never by trace id: the operator must be allowed to see a
    dossier the trace's spans name, and sees no span naming a dossier they may not see
    (had anyone grafted spans of their own onto another dossier's trace, neither side
    would see the other's)."""
    named = {ref for span in spans for ref in _dossiers_named(span)}
    if len(named) > MAX_TRACE_DOSSIERS:
        raise ProblemError(403, "Không có quyền xem trace này", "Too many dossiers in one trace.")
    allowed: dict[str, bool] = {}
    for ref in sorted(named):
        try:
            await _check_dossier_access(request, who, ref)
            allowed[ref] = True
        except ProblemError:
            allowed[ref] = False
    if not any(allowed.values()):
        raise ProblemError(403, "Không có quyền xem trace này")
    return [s for s in spans if all(allowed[ref] for ref in _dossiers_named(s))]


@api.get("/traces/{trace_id}")
async def trace(request: Request, trace_id: TraceIdPath, who: PrincipalDep) -> dict[str, Any]:
    merged = await merged_trace(request, trace_id.lower())
    if not is_supervisor(who):
        merged["spans"] = await _visible_spans(request, who, merged["spans"])
    return merged


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

    ref = reference(_runtime(request).settings.reference_profile)
    bounds = month_starts(datetime.now(UTC), 6)
    start, end = bounds[0], bounds[-1]
    status, total = await _report(request, start, end, unit=unit)
    if status != 200:
        return {"error": _reason(status, total)}
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
    rows = await _runtime(request).pool.fetch(
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
        "steps_by_unit": [_jsonable(r) for r in rows],
    }


# --- system health -------------------------------------------------------------------------

HEALTH_METRICS = {
    "consumer_lag",
    "outbox_backlog",
    "outbox_oldest_age_seconds",
    "dead_letters_pending",
    "inbox_size",
    "deadlines",
    "notifications",
}


def metric_samples(text: str) -> list[dict[str, Any]]:
    """The samples of the gauges the console shows, from Prometheus text."""
    samples: list[dict[str, Any]] = []
    for family in text_string_to_metric_families(text):
        if family.name not in HEALTH_METRICS:
            continue
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
    return samples


async def _service_health(request: Request, service: str) -> dict[str, Any]:
    cfg = settings_of(request)
    # Never an address from the request (its Host header is the caller's to choose).
    base = cfg.url(service)
    out: dict[str, Any] = {"service": service, "url": base}
    try:
        async with httpx.AsyncClient(timeout=cfg.console_http_timeout) as client:
            ready = await client.get(base + "/readyz")
            out["ready"] = ready.json()
            metrics = await client.get(base + "/metrics")
            out["metrics"] = metric_samples(metrics.text)
            letters = await client.get(
                base + "/v1/dead-letters",
                headers=_service_headers(request),
            )
            body = letters.json() if letters.status_code == 200 else {}
            out["dead_letters"] = body.get("dead_letters", [])
    except (httpx.HTTPError, ValueError) as exc:
        out["error"] = f"{service} không phản hồi ({type(exc).__name__})"
    return out


@api.get("/health")
async def health(request: Request, who: PrincipalDep) -> dict[str, Any]:
    if not is_supervisor(who):
        raise ProblemError(403, "Chỉ giám sát cấp tỉnh xem tình trạng hệ thống")
    services = await asyncio.gather(*(_service_health(request, s) for s in SERVICES))
    return {"services": list(services), "at": datetime.now(UTC).isoformat()}


@api.post("/dead-letters/{service}/{letter_id}/replay")
async def replay_dead_letter(
    request: Request,
    service: Literal["intake", "routing", "sla", "notify"],
    letter_id: Annotated[int, PathParam(ge=1, le=PG_BIGINT_MAX)],
    who: PrincipalDep,
) -> Response:
    if not is_supervisor(who):
        raise ProblemError(403, "Chỉ giám sát cấp tỉnh được phát lại")
    cfg = settings_of(request)
    # Never an address from the request (its Host header is the caller's to choose).
    base = cfg.url(service)
    async with httpx.AsyncClient(timeout=30.0) as client:
        answer = await client.post(
            f"{base}/v1/dead-letters/{letter_id}/replay",
            headers=_service_headers(request),
        )
    log.info(
        "dead letter %s/%s replay by %s: %s", service, letter_id, who.user_id, answer.status_code
    )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type"),
    )


router.include_router(api)
