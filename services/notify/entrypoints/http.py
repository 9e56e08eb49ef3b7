"""Notify's REST routes for operators: the messages of a dossier and its opt-outs.

Every route here needs a credential: the console's (routing's service credential), the
province operators' (`ops`), or an operator's bearer token for a unit the dossier belongs
to (received at, assigned to; a province supervisor for any). Dossiers are named by code
or id; contact references never appear in a request or an answer. Citizens opt out with
the signed link in each message (`optouts.py`) or through their portal (intake).
Receipts: `receipts.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field

from contracts.bounds import SafeStr
from services.notify.adapters.store import set_opt_out
from services.runtime.auth import OperatorAuth, Principal
from services.runtime.credentials import ServiceCredentials
from services.runtime.db import DbConn, uuid_or_none
from services.runtime.logs import mask_personal_data
from services.runtime.problems import PROBLEM_JSON, ProblemError
from services.runtime.service import Runtime

router = APIRouter(prefix="/v1", tags=["notifications"])
OptOutChannel = Literal["email", "sms", "zalo"]
DOSSIER_REF = r"^[0-9A-Za-z.\-]+$"
DossierRef = Annotated[
    SafeStr,
    Query(min_length=1, max_length=64, pattern=DOSSIER_REF, description="Dossier code or id."),
]

# Services whose credential may read messages and manage opt-outs of any dossier.
TRUSTED_CALLERS = ("routing", "ops")


def _problem(description: str) -> dict[str, Any]:
    return {"content": {PROBLEM_JSON: {"schema": {"type": "object"}}}, "description": description}


GUARDED: dict[int | str, dict[str, Any]] = {
    401: _problem("No credential (X-Service-Token or an operator's bearer token)."),
    403: _problem("The credential may not act for this dossier's units."),
}


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class StatusChange(BaseModel):
    status: str
    at: datetime
    detail: str


class MessageView(BaseModel):
    id: UUID
    event_id: UUID
    event_type: str
    channel: str
    template_id: str
    template_version: int
    status: str
    provider: str | None
    provider_message_id: str | None
    attempts: int
    subject: str | None
    body_text: str
    last_error: str | None
    fallback_of: UUID | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusChange]


class NotificationList(BaseModel):
    dossier: str
    messages: list[MessageView]


class Dossier(BaseModel):
    """What notify knows of a dossier: enough to decide who may see it."""

    ids: list[UUID]
    code: str | None
    units: set[str]
    contact_ref: str | None  # never answered to anyone


DOSSIER_BY_REF = (
    "SELECT dossier_id, dossier_code, contact_ref FROM dossier_facts"
    " WHERE dossier_code = $1 OR dossier_id = $2"
    " UNION SELECT DISTINCT dossier_id, dossier_code, NULL FROM messages"
    " WHERE dossier_code = $1 OR dossier_id = $2"
)


async def find_dossier(conn: DbConn, ref: str) -> Dossier:
    """The dossier named by code or id: from its facts and from its messages (an event of
    another topic may have come before intake's)."""
    rows = await conn.fetch(DOSSIER_BY_REF, ref, uuid_or_none(ref))
    ids = list(dict.fromkeys(r["dossier_id"] for r in rows))
    units = {
        r["unit_code"]
        for r in await conn.fetch(
            "SELECT unit_code FROM dossier_units WHERE dossier_id = ANY($1::uuid[])"
            " UNION SELECT unit_code FROM messages"
            " WHERE dossier_id = ANY($1::uuid[]) AND unit_code IS NOT NULL",
            ids,
        )
    }
    contact = next((r["contact_ref"] for r in rows if r["contact_ref"]), None)
    code = next((r["dossier_code"] for r in rows), None)
    return Dossier(ids=ids, code=code, units=units, contact_ref=contact)


@dataclass(frozen=True)
class Caller:
    service: str | None = None
    operator: Principal | None = None

    @property
    def label(self) -> str:
        """As recorded in audit: ``service:ops``, ``operator:<user id>``."""
        if self.operator is not None:
            return f"operator:{self.operator.user_id}"
        return f"service:{self.service}"


async def caller(
    request: Request,
    x_service_token: Annotated[str | None, Header(max_length=512)] = None,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
) -> Caller:
    """Who calls, checked before the body is read: 401 without a credential (or with a
    bad bearer token), 403 with a service credential not allowed here."""
    rt = _rt(request)
    if x_service_token:
        credentials: ServiceCredentials = rt.credentials
        return Caller(service=credentials.require(x_service_token, TRUSTED_CALLERS))
    if not authorization:
        raise ProblemError(
            401,
            "Chưa xác thực",
            "Send the console's X-Service-Token or an operator's bearer token.",
        )
    auth: OperatorAuth = rt.auth
    return Caller(operator=await auth.principal(authorization))


CallerDep = Annotated[Caller, Depends(caller)]


def authorise(who: Caller, dossier: Dossier) -> None:
    """A service allowed here acts for every dossier; an operator for the dossier's units
    (a province supervisor for all); otherwise 403."""
    operator = who.operator
    if operator is None or operator.role == "province_supervisor":
        return
    if not any(operator.may_act_for(u) for u in dossier.units):
        raise ProblemError(
            403,
            "Không có quyền với hồ sơ này",
            "The operator's unit is not one this dossier belongs to.",
        )


def _masked(value: Any) -> Any:
    return mask_personal_data(value) if isinstance(value, str) else value


@router.get(
    "/notifications",
    summary="Messages of a dossier with their status history.",
    description="Free text (bodies, errors, history) is shown with personal data masked.",
    responses=GUARDED,
)
async def list_notifications(
    request: Request,
    who: CallerDep,
    dossier: DossierRef,
) -> dict[str, Any]:
    rt = _rt(request)
    async with rt.pool.acquire() as conn:
        found = await find_dossier(conn, dossier)
        authorise(who, found)
        rows = await conn.fetch(
            "SELECT id, event_id, event_type, channel, template_id, template_version, status,"
            " provider, provider_message_id, attempts, subject, body_text, last_error,"
            " fallback_of, next_attempt_at, sent_at, created_at, updated_at FROM messages"
            " WHERE dossier_id = ANY($1::uuid[])"
            " ORDER BY created_at, channel",
            found.ids,
        )
        history = await conn.fetch(
            "SELECT message_id, status, at, detail FROM message_status_history"
            " WHERE message_id = ANY($1::uuid[]) ORDER BY id",
            [r["id"] for r in rows],
        )
    by_message: dict[Any, list[dict[str, Any]]] = {}
    for h in history:
        by_message.setdefault(h["message_id"], []).append(
            {"status": h["status"], "at": h["at"], "detail": _masked(h["detail"])}
        )
    text_fields = ("subject", "body_text", "last_error")
    return {
        "dossier": dossier,
        "messages": [
            {
                **{k: (_masked(v) if k in text_fields else v) for k, v in dict(r).items()},
                "history": by_message.get(r["id"], []),
            }
            for r in rows
        ],
    }


class OptOut(BaseModel):
    dossier: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9.\-]+$",
        description="Dossier code (or id).",
        examples=["000.01.01.H99-261122-0001"],
    )
    channel: OptOutChannel


async def _known(who: Caller, conn: DbConn, ref: str) -> tuple[Dossier, str]:
    found = await find_dossier(conn, ref)
    authorise(who, found)
    if found.contact_ref is None or found.code is None:
        raise ProblemError(404, "Không tìm thấy hồ sơ", "Notify has no contact for this dossier.")
    return found, found.contact_ref


@router.post(
    "/opt-outs",
    status_code=201,
    summary="An operator stops a channel for a dossier's citizen (at the citizen's request).",
    responses={**GUARDED, 404: _problem("Notify knows no contact for this dossier.")},
)
async def add_opt_out(who: CallerDep, body: OptOut, request: Request) -> dict[str, Any]:
    async with _rt(request).pool.acquire() as conn, conn.transaction():
        found, contact_ref = await _known(who, conn, body.dossier)
        await set_opt_out(conn, contact_ref, body.channel, True, who.label)
    return {"dossier_code": found.code, "channel": body.channel, "opted_out": True}


@router.delete(
    "/opt-outs/{dossier}/{channel}",
    status_code=204,
    summary="An operator lets a channel reach the dossier's citizen again.",
    responses={**GUARDED, 404: _problem("Notify knows no contact for this dossier.")},
)
async def remove_opt_out(
    who: CallerDep,
    dossier: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9.\-]+$")],
    channel: OptOutChannel,
    request: Request,
) -> Response:
    async with _rt(request).pool.acquire() as conn, conn.transaction():
        _, contact_ref = await _known(who, conn, dossier)
        await set_opt_out(conn, contact_ref, channel, False, who.label)
    return Response(status_code=204)


@router.get(
    "/opt-outs",
    summary="The channels a dossier's citizen stopped, when and by which route.",
    responses={**GUARDED, 404: _problem("Notify knows no contact for this dossier.")},
)
async def list_opt_outs(
    request: Request,
    who: CallerDep,
    dossier: str = Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9.\-]+$"),
) -> dict[str, Any]:
    async with _rt(request).pool.acquire() as conn:
        found, contact_ref = await _known(who, conn, dossier)
        rows = await conn.fetch(
            "SELECT channel, created_at, source FROM opt_outs WHERE contact_ref = $1"
            " ORDER BY channel",
            contact_ref,
        )
    return {"dossier_code": found.code, "opt_outs": [dict(r) for r in rows]}
