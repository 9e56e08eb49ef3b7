"""Operator API: officials work their unit's inbox; every action is audited."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from contracts.bounds import (
    CODE_PATTERN,
    PG_INT_MAX,
    UNIT_PATTERN,
    Code,
    Note,
    Reason,
    SafeStr,
)
from services.routing.adapters import access_log, store
from services.routing.domain import Rejected, authority
from services.routing.domain import commands as cmd
from services.routing.domain.state import waiting_on
from services.routing.handlers import Actor, Routing, UnknownDossier
from services.runtime import clock
from services.runtime.auth import OperatorDep, Principal, service_caller
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

router = APIRouter(prefix="/v1", tags=["operators"])
ERRORS = problem_responses(401, 403, 404, 409, 422)
# Task ids are "{dossier id}:{step}:{n}"; agency correlation ids start with the dossier id.
TaskPath = Annotated[SafeStr, Path(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z._:\-]+$")]
CorrelationPath = Annotated[
    SafeStr, Path(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z._:\-]+$")
]
Username = Annotated[SafeStr, Field(min_length=1, max_length=100)]
# A paper (result document) or a refusal reason an official names.
Paper = Annotated[SafeStr, Field(min_length=1, max_length=300)]


async def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


PrincipalDep = OperatorDep


class InboxItem(BaseModel):
    task_id: str
    dossier_id: UUID
    dossier_code: str
    procedure_code: str
    step_id: str
    unit_code: str
    status: str
    claimed_by: str | None
    assigned_at: datetime
    due_at: datetime | None
    overdue: bool = False
    dossier_version: int


@router.get("/inbox", response_model=list[InboxItem], responses=ERRORS, summary="A unit's inbox.")
async def inbox(
    rt: RuntimeDep,
    who: PrincipalDep,
    unit: Annotated[SafeStr | None, Query(max_length=32, pattern=UNIT_PATTERN)] = None,
    status: Annotated[Literal["open", "claimed", "active", "waiting", "done"], Query()] = "active",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    procedure: Annotated[SafeStr | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
) -> list[dict[str, Any]]:
    """Least remaining time first (SLA's step deadline); tasks without one yet last."""
    unit_code = unit or who.unit_code
    if not who.may_act_for(unit_code):
        raise ProblemError(403, "Không có quyền xem hộp hồ sơ của đơn vị khác")
    statuses = ["open", "claimed"] if status == "active" else [status]
    rows = await rt.pool.fetch(
        "SELECT b.*, i.version AS dossier_version FROM inbox b"
        " JOIN instances i USING (dossier_id)"
        " WHERE b.unit_code = $1 AND b.status = ANY($2::text[])"
        " AND ($4::text IS NULL OR b.procedure_code = $4)"
        " ORDER BY b.due_at NULLS LAST, b.assigned_at, b.task_id LIMIT $3",
        unit_code,
        statuses,
        limit,
        procedure,
    )
    return [dict(r) for r in rows]


class ClaimBody(BaseModel):
    expected_version: int = Field(
        ge=0, le=PG_INT_MAX, description="The dossier version the official saw."
    )


class CompleteBody(BaseModel):
    note: Note = ""


class ForwardBody(BaseModel):
    to_user: Username = Field(examples=["lanhdao@000.01.01.H99"])
    note: Note = Field(default="", examples=["Trình lãnh đạo ký"])


class ReturnBody(BaseModel):
    target_step: Code
    reason: Reason


class SupplementBody(BaseModel):
    missing_documents: list[Code] = Field(min_length=1, max_length=50)
    reason: Reason


class ObligationBody(BaseModel):
    amount_vnd: int = Field(gt=0, le=100_000_000_000)


class ResultBody(BaseModel):
    papers: list[Paper] = Field(min_length=1, max_length=50)


class ReasonBody(BaseModel):
    reason: Reason


class RefuseBody(BaseModel):
    reasons: list[Reason] = Field(min_length=1, max_length=20)


class ActionResult(BaseModel):
    dossier_id: UUID
    status: int
    version: int
    waiting_on: list[dict[str, Any]]


def no_such_task() -> ProblemError:
    """The same answer for a task that does not exist and one of another unit, so that
    probing task ids tells nothing about which unit holds what."""
    return ProblemError(404, "Không tìm thấy nhiệm vụ", "No such task in your unit's inbox.")


def no_such_dossier() -> ProblemError:
    """The same answer for a dossier that does not exist and one the caller's unit may
    not see (it never passed through it): neither its existence nor its owner leaks."""
    return ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for your unit.")


def _may_issue(who: Principal, action: type[authority.OperatorCommand]) -> None:
    """The role check comes first and reads nothing, so it tells nothing about the
    dossier either."""
    if not authority.may_issue(who.role, action):
        raise ProblemError(
            403,
            authority.refusal_title(action),
            f"{action.__name__} is signed by the unit head; forward the task to them.",
        )


async def _act_on_task(
    request: Request,
    who: Principal,
    task_id: str,
    action: type[authority.OperatorCommand],
    make: Any,
) -> dict[str, Any]:
    _may_issue(who, action)
    rt: Runtime = request.app.state.runtime
    routing: Routing = rt.state["routing"]
    async with rt.pool.acquire() as conn:
        # Read and save without a lock (two round trips); if someone changed the dossier
        # in between, once more holding its lock, so the action always gets an answer.
        state = await _try_on_task(conn, routing, who, task_id, make, locked=False)
        if state is None:
            async with conn.transaction():
                state = await _try_on_task(conn, routing, who, task_id, make, locked=True)
    assert state is not None
    return _result(state)


async def _try_on_task(
    conn: Any, routing: Routing, who: Principal, task_id: str, make: Any, *, locked: bool
) -> Any:
    loaded = await store.load_task(conn, task_id, for_update=locked)
    if loaded is None or not who.may_act_for(loaded[0]):
        raise no_such_task()
    unit_code, before, code = loaded
    command = make(cmd.Official(user_id=who.user_id, unit_code=unit_code))
    try:
        if locked:
            return await routing.apply(conn, before, code, command, Actor.of(who), task_id)
        return await routing.apply_if_current(conn, before, code, command, Actor.of(who), task_id)
    except Rejected as refused:
        raise ProblemError(409, "Thao tác không hợp lệ", str(refused)) from refused


async def _act_on_dossier(
    request: Request,
    who: Principal,
    dossier_id: UUID,
    action: type[authority.OperatorCommand],
    make: Any,
) -> dict[str, Any]:
    _may_issue(who, action)
    rt: Runtime = request.app.state.runtime
    routing: Routing = rt.state["routing"]
    async with rt.pool.acquire() as conn, conn.transaction():
        receiving = await _may_see(conn, who, dossier_id)
        unit = authority.acting_unit(who.role, who.unit_code, receiving)
        official = cmd.Official(user_id=who.user_id, unit_code=unit)
        state = await _handle(conn, routing, dossier_id, make(official), who, None)
    return _result(state)


async def _may_see(conn: Any, who: Principal, dossier_id: UUID) -> str:
    """Only the units a dossier passed through (and province supervisors) may see it or
    act on it; the core then decides which of them may do what. Answers the dossier's
    receiving unit."""
    row = await conn.fetchrow(
        "SELECT state->>'receiving_unit' AS receiving FROM instances WHERE dossier_id = $1",
        dossier_id,
    )
    if row is None:
        raise no_such_dossier()
    receiving: str = row["receiving"]
    if who.role == "province_supervisor" or receiving == who.unit_code:
        return receiving
    handled = await conn.fetchval(
        "SELECT true FROM inbox WHERE dossier_id = $1 AND unit_code = $2 LIMIT 1",
        dossier_id,
        who.unit_code,
    )
    if not handled:
        raise no_such_dossier()
    return receiving


async def _handle(
    conn: Any, routing: Routing, dossier_id: UUID, command: Any, who: Principal, task: str | None
) -> Any:
    try:
        return await routing.handle(conn, dossier_id, command, Actor.of(who), task_id=task)
    except Rejected as refused:
        raise ProblemError(409, "Thao tác không hợp lệ", str(refused)) from refused
    except UnknownDossier as missing:
        raise no_such_dossier() from missing


def _result(state: Any) -> dict[str, Any]:
    return {
        "dossier_id": UUID(state.dossier_id),
        "status": int(state.status),
        "version": state.version,
        "waiting_on": [w.model_dump() for w in waiting_on(state)],
    }


@router.post("/tasks/{task_id}/claim", response_model=ActionResult, responses=ERRORS)
async def claim(task_id: TaskPath, body: ClaimBody, request: Request, who: PrincipalDep) -> Any:
    """Take a task; one official at a time (optimistic concurrency on the version)."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.Claim,
        lambda o: cmd.Claim(task_id=task_id, official=o, expected_version=body.expected_version),
    )


@router.post("/tasks/{task_id}/complete", response_model=ActionResult, responses=ERRORS)
async def complete(
    task_id: TaskPath, body: CompleteBody, request: Request, who: PrincipalDep
) -> Any:
    """Finish the step; the dossier moves to the next unit(s) of the workflow."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.Complete,
        lambda o: cmd.Complete(task_id=task_id, official=o, note=body.note),
    )


@router.post("/tasks/{task_id}/forward", response_model=ActionResult, responses=ERRORS)
async def forward(task_id: TaskPath, body: ForwardBody, request: Request, who: PrincipalDep) -> Any:
    """Hand a claimed task to a colleague of the same unit (e.g. for the head's signature)."""
    rt: Runtime = request.app.state.runtime
    colleague = await rt.pool.fetchval(
        "SELECT unit_code FROM officials WHERE username = $1", body.to_user
    )
    if colleague is None or colleague != who.unit_code:
        raise ProblemError(
            422,
            "Người nhận không thuộc đơn vị",
            f"{body.to_user} is not an official of unit {who.unit_code}.",
        )
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.Forward,
        lambda o: cmd.Forward(
            task_id=task_id, official=o, to_official_id=body.to_user, note=body.note
        ),
    )


@router.post("/tasks/{task_id}/return", response_model=ActionResult, responses=ERRORS)
async def return_to(
    task_id: TaskPath, body: ReturnBody, request: Request, who: PrincipalDep
) -> Any:
    """Send the dossier back to an earlier step."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.ReturnTo,
        lambda o: cmd.ReturnTo(
            task_id=task_id, official=o, target_step=body.target_step, reason=body.reason
        ),
    )


@router.post("/tasks/{task_id}/supplement", response_model=ActionResult, responses=ERRORS)
async def supplement(
    task_id: TaskPath, body: SupplementBody, request: Request, who: PrincipalDep
) -> Any:
    """Ask the citizen for every missing paper at once (form 02); the clock pauses."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.RequestSupplement,
        lambda o: cmd.RequestSupplement(
            task_id=task_id,
            official=o,
            missing_documents=tuple(body.missing_documents),
            reason=body.reason,
        ),
    )


@router.post("/tasks/{task_id}/obligation", response_model=ActionResult, responses=ERRORS)
async def obligation(
    task_id: TaskPath, body: ObligationBody, request: Request, who: PrincipalDep
) -> Any:
    """Assess the financial obligation; the dossier waits for the citizen to pay."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.RequestObligation,
        lambda o: cmd.RequestObligation(task_id=task_id, official=o, amount_vnd=body.amount_vnd),
    )


@router.post("/tasks/{task_id}/result", response_model=ActionResult, responses=ERRORS)
async def result(task_id: TaskPath, body: ResultBody, request: Request, who: PrincipalDep) -> Any:
    """Record the result papers of the step."""
    return await _act_on_task(
        request,
        who,
        task_id,
        cmd.RecordResult,
        lambda o: cmd.RecordResult(task_id=task_id, official=o, papers=tuple(body.papers)),
    )


@router.post("/dossiers/{dossier_id}/refuse", response_model=ActionResult, responses=ERRORS)
async def refuse(dossier_id: UUID, body: RefuseBody, request: Request, who: PrincipalDep) -> Any:
    """Refuse the dossier with written reasons (form 03)."""
    return await _act_on_dossier(
        request,
        who,
        dossier_id,
        cmd.Refuse,
        lambda o: cmd.Refuse(official=o, reasons=tuple(body.reasons)),
    )


@router.post("/dossiers/{dossier_id}/stop", response_model=ActionResult, responses=ERRORS)
async def stop(dossier_id: UUID, body: ReasonBody, request: Request, who: PrincipalDep) -> Any:
    """Stop processing (form 05)."""
    return await _act_on_dossier(
        request, who, dossier_id, cmd.Stop, lambda o: cmd.Stop(official=o, reason=body.reason)
    )


@router.post("/dossiers/{dossier_id}/return-result", response_model=ActionResult, responses=ERRORS)
async def return_result(dossier_id: UUID, request: Request, who: PrincipalDep) -> Any:
    """Hand the result to the citizen (status 10)."""
    return await _act_on_dossier(
        request, who, dossier_id, cmd.ReturnResult, lambda o: cmd.ReturnResult(official=o)
    )


class AgencyAnswer(BaseModel):
    outcome: Literal["approved", "rejected"]
    note: Note = ""


@router.post("/external/{correlation_id}/answer", response_model=ActionResult, responses=ERRORS)
async def agency_answer(
    correlation_id: CorrelationPath,
    body: AgencyAnswer,
    rt: RuntimeDep,
    _caller: Annotated[str, Depends(service_caller("agency"))],
) -> Any:
    """An agency system (police, social insurance, ...) answers its step, with its own
    credential in ``X-Service-Token``."""
    routing: Routing = rt.state["routing"]
    try:
        dossier_id = UUID(correlation_id.split(":", 1)[0])
    except ValueError as bad:
        raise ProblemError(404, "Không tìm thấy yêu cầu", f"No request {correlation_id}.") from bad
    async with rt.pool.acquire() as conn, conn.transaction():
        command = cmd.ExternalAnswered(
            correlation_id=correlation_id, outcome=body.outcome, note=body.note
        )
        try:
            state = await routing.handle(
                conn, dossier_id, command, Actor.system("agency"), at=clock.now()
            )
        except Rejected as refused:
            raise ProblemError(409, "Thao tác không hợp lệ", str(refused)) from refused
        except UnknownDossier as missing:
            raise ProblemError(404, "Không tìm thấy hồ sơ", str(missing)) from missing
    return _result(state)


@router.get("/dossiers/{dossier_id}/workflow", responses=ERRORS)
async def workflow(dossier_id: UUID, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
    """The dossier's workflow state, who it waits on, and its audit trail (officials'
    notes and reasons, which may name the citizen): the read is recorded first."""
    async with rt.pool.acquire() as conn:
        await _may_see(conn, who, dossier_id)
        row = await conn.fetchrow("SELECT * FROM instances WHERE dossier_id = $1", dossier_id)
        assert row is not None
        await access_log.record_read(
            conn,
            actor=who.user_id,
            role=who.role,
            unit_code=who.unit_code,
            dossier_id=dossier_id,
            dossier_code=row["dossier_code"],
            what=access_log.OPERATOR_WORKFLOW,
            parts=("status", "steps", "waiting_on", "audit"),
        )
        audit = await conn.fetch(
            "SELECT actor, role, unit_code, action, at, task_id, details FROM audit"
            " WHERE dossier_id = $1 ORDER BY id",
            dossier_id,
        )
    from services.routing.domain.state import DossierState

    state = DossierState.model_validate_json(row["state"])
    return {
        "dossier_id": dossier_id,
        "dossier_code": row["dossier_code"],
        "status": int(state.status),
        "version": state.version,
        "steps": [r.model_dump(mode="json") for r in state.steps.values()],
        "waiting_on": [w.model_dump() for w in waiting_on(state)],
        "audit": [{**dict(a), "details": json.loads(a["details"])} for a in audit],
        "viewer": who.user_id,
    }


class ReadEntry(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="The operator's account.")
    role: str
    unit_code: str | None
    dossier_id: UUID | None
    dossier_code: str | None
    what: str = Field(
        description="Which read: operator.workflow, console.dossier or console.form.",
        examples=["console.dossier"],
    )
    parts: list[str] = Field(description="What it returned.", examples=[["intake", "messages"]])


class ReadTrail(BaseModel):
    reads: list[ReadEntry]


@router.get("/audit/reads", response_model=ReadTrail, responses=ERRORS)
async def reads(
    rt: RuntimeDep,
    who: PrincipalDep,
    dossier: Annotated[str | None, Query(max_length=64, description="Id or code.")] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Who read which dossier's personal data, when, and what (newest first); for the
    province supervisor."""
    if not authority.may_read_access_log(who.role):
        raise ProblemError(403, "Chỉ giám sát cấp tỉnh xem nhật ký truy cập dữ liệu cá nhân")
    async with rt.pool.acquire() as conn:
        rows = await access_log.reads(conn, dossier=dossier, actor=actor, limit=limit)
    return {"reads": rows}
