"""Operator console: what its screens share (settings, calls to the other services,
access to a dossier).

The console is a web page served by routing, plus the JSON it reads.

The browser talks only to routing (same origin): routing's own operator API for the
inbox and task actions, and the ``/console/api`` routes below, which read routing's
tables and call intake, SLA and notify over HTTP on the server side. Every route checks
the operator's signed token and answers only what the role may see: an official their
unit, a unit head their unit and its statistics, a province supervisor everything.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.bounds import UNIT_PATTERN, SafeStr
from services.routing.adapters import access_log
from services.routing.console.access import is_supervisor
from services.runtime.auth import Principal, operator_principal
from services.runtime.db import uuid_or_none
from services.runtime.problems import ProblemError

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


UnitQuery = Annotated[SafeStr | None, Query(max_length=32, pattern=UNIT_PATTERN)]
DossierRefPath = Annotated[
    SafeStr,
    PathParam(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-]+$", description="Code or id."),
]
TraceIdPath = Annotated[str, PathParam(pattern=r"^[0-9a-fA-F]{32}$", description="W3C trace id.")]


# --- plumbing ---------------------------------------------------------------------------


def runtime_of(request: Request) -> Any:
    return request.app.state.runtime


PrincipalDep = Annotated[Principal, Depends(operator_principal)]


def service_headers(request: Request) -> dict[str, str]:
    """Routing's own credential, sent only to the configured addresses."""
    return {"X-Service-Token": runtime_of(request).settings.own_service_token()}


def settings_of(request: Request) -> ConsoleSettings:
    state = runtime_of(request).state
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
    headers = service_headers(request) if internal else {}
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


def jsonable(row: Any) -> dict[str, Any]:
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


INSTANCE_BY_REF = (
    "SELECT dossier_id, dossier_code, procedure_code, status, version, state, updated_at"
    " FROM instances WHERE dossier_code = $1 OR dossier_id = $2"
)


async def instance_of(request: Request, ref: str) -> Any:
    return await runtime_of(request).pool.fetchrow(INSTANCE_BY_REF, ref, uuid_or_none(ref))


async def units_of(request: Request, dossier_id: Any) -> set[str]:
    rows = await runtime_of(request).pool.fetch(
        "SELECT DISTINCT unit_code FROM inbox WHERE dossier_id = $1", dossier_id
    )
    return {r["unit_code"] for r in rows}


DOSSIER_REF = re.compile(r"^[0-9A-Za-z.\-]{1,64}$")


def no_such_dossier() -> ProblemError:
    """The same answer for a dossier that does not exist and one the operator's unit may
    not see, as routing's operator API gives: neither its existence nor its owner leaks."""
    return ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for your unit.")


async def check_dossier_access(request: Request, who: Principal, ref: str) -> Any:
    if not DOSSIER_REF.match(ref):
        raise ProblemError(422, "Mã hồ sơ không hợp lệ")
    found = await instance_of(request, ref)
    if found is None:
        if is_supervisor(who):
            return None  # intake may know it before routing does
        raise no_such_dossier()
    if not is_supervisor(who):
        receiving = json.loads(found["state"]).get("receiving_unit")
        if who.unit_code not in await units_of(request, found["dossier_id"]) | {receiving}:
            raise no_such_dossier()
    return found


def reason_of(status: int, body: Any) -> str:
    if status == 0:
        return str(body)
    if isinstance(body, dict):
        return f"HTTP {status}: {body.get('title') or body.get('detail') or ''}".strip()
    return f"HTTP {status}"


async def record_console_read(
    request: Request,
    who: Principal,
    *,
    what: str,
    parts: Sequence[str],
    dossier_id: UUID | None = None,
    dossier_code: str | None = None,
    unit_code: str | None = None,
) -> None:
    """One access-log row for what the console is about to show (personal data is read
    on the record, before anything is answered); ``unit_code`` defaults to the operator's."""
    async with runtime_of(request).pool.acquire() as conn:
        await access_log.record_read(
            conn,
            actor=who.user_id,
            role=who.role,
            unit_code=unit_code or who.unit_code,
            dossier_id=dossier_id,
            dossier_code=dossier_code,
            what=what,
            parts=parts,
        )
