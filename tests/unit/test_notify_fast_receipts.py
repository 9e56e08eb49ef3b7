"""eSMS, Viettel and Zalo receipts are answered by a thin layer calling the route's own function
(which checks source and token or signature); refusals are the app's problem answers;
other requests go on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from services.notify.entrypoints import fast_receipts
from services.runtime.problems import ProblemError, install_problem_handlers


async def app_behind(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, str]]]:
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def esms_callback(message_id: str, token: str, request: Request) -> dict[str, Any]:
        seen.append((message_id, token, dict(request.query_params)))
        if token == "forged":
            raise ProblemError(401, "Biên nhận giao tin không được xác thực", "Bad token.")
        return {"ok": True, "status": "delivered"}

    async def zalo_callback(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen.append(
            ("zalo", request.headers.get("x-zevent-signature", ""), {"body": body.decode()})
        )
        if b"forged" in body:
            raise ProblemError(401, "Biên nhận giao tin không được xác thực", "Bad signature.")
        return {"ok": True, "status": "delivered"}

    async def viettel_callback(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen.append(("viettel", request.headers.get("authorization", ""), {"body": body.decode()}))
        if b"forged" in body:
            raise ProblemError(401, "Biên nhận giao tin không được xác thực", "Bad token.")
        return {"ok": True, "status": "delivered"}

    monkeypatch.setattr(fast_receipts, "esms_callback", esms_callback)
    monkeypatch.setattr(fast_receipts, "zalo_callback", zalo_callback)
    monkeypatch.setattr(fast_receipts, "viettel_callback", viettel_callback)
    return seen


async def get(path: str) -> tuple[httpx.Response, list[str | None]]:
    return await call("GET", path)


async def call(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[httpx.Response, list[str | None]]:
    owner = FastAPI()
    install_problem_handlers(owner)
    owner.state.runtime = SimpleNamespace(state={})
    layer = fast_receipts.FastReceipts(app_behind, owner=owner)
    routes: list[str | None] = []

    async def tracing(scope: Scope, receive: Receive, send: Send) -> None:
        await layer(scope, receive, send)
        routes.append(getattr(scope.get("route"), "path", None))

    transport = httpx.ASGITransport(app=tracing)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
        return await client.request(method, path, content=body, headers=headers), routes


async def test_a_receipt_is_answered_by_the_routes_own_function(
    calls: list[tuple[str, str, dict[str, str]]],
) -> None:
    answer, routes = await get("/v1/callbacks/esms/m-1/tok?SMSID=9&SendStatus=5")
    assert answer.status_code == 200 and answer.json() == {"ok": True, "status": "delivered"}
    assert calls == [("m-1", "tok", {"SMSID": "9", "SendStatus": "5"})]
    assert routes == [fast_receipts.ESMS]


async def test_a_refusal_is_the_apps_problem_answer(
    calls: list[tuple[str, str, dict[str, str]]],
) -> None:
    answer, _ = await get("/v1/callbacks/esms/m-1/forged")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Biên nhận giao tin không được xác thực"


@pytest.mark.parametrize(
    "path", ["/v1/callbacks/esms", "/v1/callbacks/esms/m-1", "/v1/callbacks/esms/a/b/c"]
)
async def test_other_paths_go_on_to_the_app(
    calls: list[tuple[str, str, dict[str, str]]], path: str
) -> None:
    answer, _ = await get(path)
    assert (answer.status_code, answer.text) == (299, "app") and calls == []


async def test_a_zalo_webhook_is_answered_by_the_routes_own_function_with_its_body(
    calls: list[tuple[str, str, dict[str, str]]],
) -> None:
    body = b'{"event_name": "user_received_message", "timestamp": "1"}'
    signature = {"X-ZEvent-Signature": "mac=abc"}
    answer, routes = await call("POST", "/v1/callbacks/zalo", body, signature)
    assert answer.status_code == 200 and answer.json() == {"ok": True, "status": "delivered"}
    assert calls == [("zalo", "mac=abc", {"body": body.decode()})]
    assert routes == [fast_receipts.ZALO]


async def test_a_forged_zalo_webhook_is_the_apps_problem_answer(
    calls: list[tuple[str, str, dict[str, str]]],
) -> None:
    answer, _ = await call("POST", "/v1/callbacks/zalo", b'{"forged": true}')
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/callbacks/zalo"), ("POST", "/v1/callbacks/zalo/x"), ("POST", "/v1/callbacks")],
)
async def test_other_zalo_requests_go_on_to_the_app(
    calls: list[tuple[str, str, dict[str, str]]], method: str, path: str
) -> None:
    answer, _ = await call(method, path, b"{}")
    assert (answer.status_code, answer.text) == (299, "app") and calls == []


async def test_a_viettel_receipt_is_answered_by_the_routes_own_function_with_its_body(
    calls: list[tuple[str, str, dict[str, str]]],
) -> None:
    body = b'{"REQUEST_ID": "m-1", "STATUS": "0"}'
    bearer = {"Authorization": "Bearer t"}
    answer, routes = await call("POST", "/v1/callbacks/viettel", body, bearer)
    assert answer.status_code == 200 and answer.json() == {"ok": True, "status": "delivered"}
    assert calls == [("viettel", "Bearer t", {"body": body.decode()})]
    assert routes == [fast_receipts.VIETTEL]
    forged, _ = await call("POST", "/v1/callbacks/viettel", b'{"forged": true}')
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    other, _ = await call("GET", "/v1/callbacks/viettel")
    assert (other.status_code, other.text) == (299, "app")
