"""Console: finding dossiers, the dossier page and its traces."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from contracts.bounds import SafeStr
from reference import reference
from reference.units import UnresolvedUnitError
from services.routing.adapters import access_log
from services.routing.console import offers
from services.routing.console.access import is_supervisor
from services.routing.console.common import (
    DossierRefPath,
    PrincipalDep,
    TraceIdPath,
    call,
    check_dossier_access,
    jsonable,
    no_such_dossier,
    reason_of,
    record_console_read,
    runtime_of,
)
from services.routing.domain.state import DossierState
from services.runtime.auth import Principal
from services.runtime.problems import ProblemError
from services.runtime.telemetry import load_trace, traces_of_dossier

log = logging.getLogger(__name__)


api = APIRouter()
DOSSIER_PAGE_PARTS = (
    "intake",
    "applicant",
    "documents",
    "payments",
    "apologies",
    "handoffs",
    "steps",
    "deadlines",
    "messages",
    "traces",
)

# --- dossiers ------------------------------------------------------------------------------


@api.get("/dossiers")
async def dossiers(
    request: Request,
    who: PrincipalDep,
    q: Annotated[SafeStr, Query(max_length=64, description="Part of a dossier code.")] = "",
) -> dict[str, Any]:
    """Recent dossiers the operator may see, optionally filtered by (part of) the code."""
    units = None if is_supervisor(who) else [who.unit_code]
    rows = await runtime_of(request).pool.fetch(
        "SELECT i.dossier_id, i.dossier_code, i.procedure_code, i.status, i.updated_at"
        " FROM instances i WHERE ($1 = '' OR i.dossier_code ILIKE '%' || $1 || '%')"
        " AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM inbox b"
        " WHERE b.dossier_id = i.dossier_id AND b.unit_code = ANY($2::text[]))"
        " OR i.state ->> 'receiving_unit' = ANY($2::text[]))"
        " ORDER BY i.updated_at DESC LIMIT 100",
        q,
        units,
    )
    return {"items": [jsonable(r) for r in rows]}


@api.get("/dossiers/{ref}")
async def dossier(request: Request, ref: DossierRefPath, who: PrincipalDep) -> dict[str, Any]:
    """Everything about one dossier: intake's view and timeline (form 06 hand-offs),
    routing's steps and step deadlines, SLA's deadlines, notify's messages, traces."""
    found = await check_dossier_access(request, who, ref)
    status, view = await call(request, "intake", "GET", f"/v1/dossiers/{ref}")
    if status != 200 and found is None:
        raise no_such_dossier()
    code = found["dossier_code"] if found is not None else view["code"]
    dossier_id = str(found["dossier_id"]) if found is not None else str(view["id"])
    # The page shows the messages sent to the citizen (their name) and intake's view:
    # the read is recorded before anything is answered.
    await record_console_read(
        request,
        who,
        what=access_log.CONSOLE_DOSSIER,
        parts=DOSSIER_PAGE_PARTS,
        dossier_id=UUID(dossier_id),
        dossier_code=code,
    )
    (n_status, notes), (d_status, deadlines), traces = await asyncio.gather(
        call(request, "notify", "GET", "/v1/notifications", params={"dossier": code}),
        call(request, "sla", "GET", f"/v1/dossiers/{dossier_id}/deadlines"),
        _dossier_traces(request, dossier_id, code),
    )
    # What intake holds of the applicant and the papers, and SLA's letters (form 04).
    parts = await asyncio.gather(
        call(request, "intake", "GET", f"/v1/dossiers/{code}/particulars"),
        call(request, "intake", "GET", f"/v1/dossiers/{code}/documents"),
        call(request, "intake", "GET", f"/v1/dossiers/{code}/payments"),
        call(request, "sla", "GET", "/v1/apologies", params={"dossier": code}),
    )
    (p_status, particulars), (doc_status, documents), (pay_status, payments), apology = parts
    a_status, apologies = apology
    tasks = await runtime_of(request).pool.fetch(
        "SELECT task_id, step_id, unit_code, status, claimed_by, assigned_at, due_at,"
        " allotment_hours, updated_at FROM inbox WHERE dossier_id = $1 ORDER BY assigned_at",
        found["dossier_id"] if found is not None else view["id"],
    )
    timeline = view.get("timeline", []) if isinstance(view, dict) else []
    return {
        "code": code,
        "dossier_id": dossier_id,
        "intake": view if status == 200 else None,
        "intake_error": None if status == 200 else reason_of(status, view),
        "routing": jsonable(found) | {"state": None} if found is not None else None,
        "handoffs": [t for t in timeline if t.get("event_type") == "step.handed_off"],
        "steps": [jsonable(t) for t in tasks],
        "deadlines": deadlines if d_status == 200 else None,
        "deadlines_error": None if d_status == 200 else reason_of(d_status, deadlines),
        "messages": notes.get("messages", []) if n_status == 200 else None,
        "messages_error": None if n_status == 200 else reason_of(n_status, notes),
        "traces": traces,
        "particulars": particulars if p_status == 200 else None,
        "particulars_error": None if p_status == 200 else reason_of(p_status, particulars),
        "documents": documents.get("documents") if doc_status == 200 else None,
        "documents_error": None if doc_status == 200 else reason_of(doc_status, documents),
        "payments": payments if pay_status == 200 else None,
        "payments_error": None if pay_status == 200 else reason_of(pay_status, payments),
        "apologies": apologies if a_status == 200 else None,
        "apologies_error": None if a_status == 200 else reason_of(a_status, apologies),
        **_work_of(request, who, found),
    }


def _work_of(request: Request, who: Principal, found: Any) -> dict[str, Any]:
    """What the operator may do on the dossier, the procedure's papers and fees, and the
    chosen sub-procedures this operator may see."""
    if found is None:
        return {"offers": None, "procedure": None, "subprocedures": None}
    state = DossierState.model_validate_json(found["state"])
    ref = reference(runtime_of(request).settings.reference_profile)
    procedure = ref.procedure(state.procedure_code)
    workflow = procedure.workflow(state.workflow_version)
    options = {o.code: o.name for o in procedure.chain.options} if procedure.chain else {}
    chosen = offers.visible_subprocedures(who, state, workflow)

    def unit_of(step_id: str) -> str | None:
        step = workflow.step(step_id)
        if step.unit is None:
            return None
        try:
            return ref.units.resolve(step.unit, state.receiving_unit, procedure.field).code
        except UnresolvedUnitError:
            return None

    return {
        "offers": offers.offers(who, state, procedure, unit_of),
        "procedure": {
            "code": procedure.code,
            "fees": [f.model_dump() for f in procedure.fees],
            "documents": [{"code": d.code, "name": d.name} for d in procedure.documents],
        },
        "subprocedures": (
            None
            if chosen is None
            else {
                "shown": [{"code": c, "name": options.get(c, c)} for c in chosen],
                "all_visible": len(chosen) == len(state.chosen_subprocedures),
            }
        ),
    }


async def _dossier_traces(request: Request, dossier_id: str, code: str) -> list[dict[str, Any]]:
    """Trace ids whose spans name the dossier, from the four services' span tables."""
    pool = runtime_of(request).pool
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
    spans = [jsonable(s) for s in await load_trace(runtime_of(request).pool, trace_id)]
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
            await check_dossier_access(request, who, ref)
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
