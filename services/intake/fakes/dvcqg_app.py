"""A stand-in national portal (DVCQG) for intake's outbound sync, in tests and `make run`.

Run: `python -m services.intake.fakes --port 8110` (credentials from
$FAKE_DVCQG_USERNAME / $FAKE_DVCQG_PASSWORD when set). It speaks the shape of
`../shared/reference/dvcqg-sync.md`: `POST /login` answers a session; `POST /service`
takes `DongBoHoSoMC` (a known MaHoSo sent as new answers "Hồ sơ đã tồn tại"),
`CapNhatTienDoHoSoMC` (a step of an unknown dossier is refused; the same step twice is
one step) and `TraCuuHoSo`. `POST /_control` makes it refuse the next calls, answer them
only after a delay (the caller times out; what the call did stays done), or forget its
sessions; `GET /_calls` is every call as received, `GET /_dossiers/{MaHoSo}` what it
holds of one dossier, `POST /_reset` forgets everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

STAMP = re.compile(r"^\d{14}$")
DATE_FIELDS = ("NgayTiepNhan", "NgayHenTra", "ThoiDiemXuLy", "NgayBatDau")
BUSY = {"error_code": "-1", "message": "Hệ thống đang bận, vui lòng thử lại sau"}


class Control(BaseModel):
    refuse_next: int = Field(default=0, ge=0, le=1000)  # answer these calls BUSY
    slow_next: int = Field(default=0, ge=0, le=1000)  # do them, answer after delay_ms
    delay_ms: int = Field(default=0, ge=0, le=120_000)
    forget_sessions: bool = False
    known: list[str] = Field(default_factory=list)  # MaHoSo it already holds


@dataclass
class PortalState:
    username: str | None = None
    password: str | None = None
    sessions: set[str] = field(default_factory=set)
    logins: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refuse_next: int = 0
    slow_next: int = 0
    delay_ms: int = 0

    def reset(self) -> None:
        self.sessions.clear()
        self.logins.clear()
        self.calls.clear()
        self.dossiers.clear()
        self.steps.clear()
        self.refuse_next = self.slow_next = self.delay_ms = 0


def shape_problems(item: Any, where: str = "") -> list[str]:
    """What breaks the portal's rules: every value a string, dates yyyyMMddHHmmss."""
    if isinstance(item, list):
        return [p for i, x in enumerate(item) for p in shape_problems(x, f"{where}[{i}]")]
    if isinstance(item, dict):
        found = [p for k, v in item.items() for p in shape_problems(v, f"{where}.{k}")]
        for name in DATE_FIELDS:
            if name in item and not STAMP.match(str(item[name])):
                found.append(f"{where}.{name}: {item[name]!r} is not yyyyMMddHHmmss")
        return found
    return [] if isinstance(item, str) else [f"{where}: {item!r} is not a string"]


def create_app(username: str | None = None, password: str | None = None) -> FastAPI:
    app = FastAPI(title="stand-in national portal (DVCQG)")
    state = PortalState(username=username, password=password)
    app.state.portal = state

    @app.post("/login")
    async def login(request: Request) -> JSONResponse:
        body = await request.json()
        state.logins.append({"body": body, "dstcode": request.headers.get("dstcode")})
        if (state.username and body.get("username") != state.username) or (
            state.password and body.get("password") != state.password
        ):
            return JSONResponse({"error_code": "-1", "message": "Sai tài khoản hoặc mật khẩu"})
        session = uuid.uuid4().hex
        state.sessions.add(session)
        return JSONResponse({"error_code": 0, "session": session})

    @app.post("/service")
    async def service(request: Request) -> JSONResponse:
        raw = await request.body()
        body = json.loads(raw)
        call: dict[str, Any] = {"received_at": time.time(), "body": body}
        state.calls.append(call)
        if body.get("session") not in state.sessions:
            call["answer"] = {"error_code": "-2", "message": "Phiên làm việc không hợp lệ"}
        elif state.refuse_next > 0:
            state.refuse_next -= 1
            call["answer"] = BUSY
        else:
            call["problems"] = shape_problems(body.get("data", []))
            call["answer"] = handle(state, body)
            if state.slow_next > 0:  # done, but the answer comes too late for the caller
                state.slow_next -= 1
                call["slow"] = True
                await asyncio.sleep(state.delay_ms / 1000)
        return JSONResponse(call["answer"])

    @app.post("/_control")
    async def control(c: Control) -> dict[str, Any]:
        state.refuse_next, state.slow_next, state.delay_ms = c.refuse_next, c.slow_next, c.delay_ms
        if c.forget_sessions:
            state.sessions.clear()
        for code in c.known:
            state.dossiers.setdefault(code, {"MaHoSo": code})
        return {"refuse_next": state.refuse_next, "slow_next": state.slow_next}

    @app.get("/_calls")
    async def calls() -> list[dict[str, Any]]:
        return state.calls

    @app.get("/_logins")
    async def logins() -> list[dict[str, Any]]:
        return state.logins

    @app.get("/_dossiers/{ma_ho_so}")
    async def dossier(ma_ho_so: str) -> dict[str, Any]:
        return {"dossier": state.dossiers.get(ma_ho_so), "steps": state.steps.get(ma_ho_so, [])}

    @app.post("/_reset")
    async def reset() -> dict[str, str]:
        state.reset()
        return {"state": "reset"}

    return app


def handle(state: PortalState, body: dict[str, Any]) -> dict[str, Any]:
    service = body.get("service")
    data = body.get("data") or []
    if service == "DongBoHoSoMC":
        updating = body.get("isUpdating") == "True"
        for item in data:
            code = item.get("MaHoSo")
            if code in state.dossiers and not updating:
                return {"error_code": "-1", "message": "Hồ sơ đã tồn tại"}
            state.dossiers[code] = item
        return {"error_code": "0", "message": "Đồng bộ thành công"}
    if service == "CapNhatTienDoHoSoMC":
        for step in data:
            code = step.get("MaHoSo")
            if code not in state.dossiers:
                return {"error_code": "-1", "message": f"Không tìm thấy hồ sơ {code}"}
            kept = state.steps.setdefault(code, [])
            if step not in kept:  # the same step again is the same step
                kept.append(step)
        return {"error_code": "0", "message": "Cập nhật tiến độ thành công"}
    if service == "TraCuuHoSo":
        found = state.dossiers.get(str(body.get("mahoso")))
        return {"error_code": "0", "message": "", "result": [found] if found else []}
    return {"error_code": "-1", "message": f"Dịch vụ không hỗ trợ: {service}"}


app = create_app(os.environ.get("FAKE_DVCQG_USERNAME"), os.environ.get("FAKE_DVCQG_PASSWORD"))
