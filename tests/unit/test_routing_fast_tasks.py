"""Claim and complete's fast layer answers the usual request itself: the official
authenticated by the same ``OperatorAuth`` first, the route's own function called, errors
answered by the app's own handlers; every other request goes to the FastAPI route with
its body byte for byte."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from services.routing.entrypoints import fast_tasks
from services.routing.entrypoints.http import ClaimBody, CompleteBody
from services.runtime.principal import Principal
from services.runtime.problems import ProblemError, install_problem_handlers
from tests.support.asgi import Route

OFFICIAL = Principal("canbo@000.01.01.H99", "000.01.01.H99", "official")
TASK = "6f1c3a52-8d7e-4c1b-9a5e-2b7d9c0e1f23:tiep_nhan:1"
DOSSIER = UUID("6f1c3a52-8d7e-4c1b-9a5e-2b7d9c0e1f23")
GOOD = "Bearer good-token"


class Auth:
    """``OperatorAuth``'s answer: the official for the good token, else its 401."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    async def principal(self, authorization: str | None) -> Principal:
        self.asked.append(authorization)
        if authorization != GOOD:
            raise ProblemError(401, "Phiên đăng nhập không hợp lệ", "Bad token.")
        return OFFICIAL


@pytest.fixture
def auth() -> Auth:
    return Auth()


@pytest.fixture
def owner(auth: Auth) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = SimpleNamespace(auth=auth)
    return app


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []

    async def endpoint(task_id: str, body: Any, request: Any, who: Principal) -> dict[str, Any]:
        seen.append((task_id, body, who))
        if isinstance(body, CompleteBody) and body.note == "conflict":
            raise ProblemError(409, "Thao tác không hợp lệ", "Already done.")
        return {"dossier_id": DOSSIER, "status": 2, "version": 7, "waiting_on": []}

    monkeypatch.setattr(fast_tasks, "claim", endpoint)
    monkeypatch.setattr(fast_tasks, "complete", endpoint)
    return seen


ROUTES_SEEN: list[tuple[str | None, Any]] = []


async def post(
    owner: FastAPI,
    route: Route,
    path: str,
    body: bytes,
    method: str = "POST",
    **headers: str,
) -> httpx.Response:
    layer = fast_tasks.FastTaskActions(route, owner=owner)

    async def tracing(scope: Scope, receive: Receive, send: Send) -> None:
        await layer(scope, receive, send)
        # The span's and the metrics' labels.
        ROUTES_SEEN.append((getattr(scope.get("route"), "path", None), scope.get("path_params")))

    sent = {"content-type": "application/json", "authorization": GOOD, **headers}
    transport = httpx.ASGITransport(app=tracing)
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
        return await client.request(method, path, content=body, headers=sent)


async def test_a_usual_claim_is_answered_by_the_layer_with_the_routes_function(
    owner: FastAPI, auth: Auth, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    answer = await post(owner, route, f"/v1/tasks/{TASK}/claim", b'{"expected_version": 6}')
    assert answer.status_code == 200
    assert answer.json() == {
        "dossier_id": str(DOSSIER),
        "status": 2,
        "version": 7,
        "waiting_on": [],
    }
    assert route.bodies == [] and auth.asked == [GOOD]
    assert calls == [(TASK, ClaimBody(expected_version=6), OFFICIAL)]
    assert ROUTES_SEEN[-1] == ("/v1/tasks/{task_id}/claim", {"task_id": TASK})


async def test_a_usual_completion_too(owner: FastAPI, calls: list[tuple[Any, ...]]) -> None:
    route = Route()
    note = "Đã kiểm tra hồ sơ"
    body = json.dumps({"note": note}, ensure_ascii=False).encode()
    answer = await post(owner, route, f"/v1/tasks/{TASK}/complete", body)
    assert answer.status_code == 200 and answer.json()["version"] == 7
    assert calls == [(TASK, CompleteBody(note=note), OFFICIAL)] and route.bodies == []
    assert ROUTES_SEEN[-1] == ("/v1/tasks/{task_id}/complete", {"task_id": TASK})


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        (f"/v1/tasks/{TASK}/claim", {"authorization": ""}, b'{"expected_version": 1}'),
        (f"/v1/tasks/{TASK}/claim", {"authorization": "Basic eDp5"}, b'{"expected_version": 1}'),
        (f"/v1/tasks/{TASK}/claim", {"authorization": GOOD + "x" * 8192}, b"{}"),
        (f"/v1/tasks/{TASK}/claim", {"content-type": "text/plain"}, b'{"expected_version": 1}'),
        (f"/v1/tasks/{TASK}/claim", {}, b'{"expected_version": '),  # not JSON
        (f"/v1/tasks/{TASK}/claim", {}, b'{"expected_version": -1}'),  # fails the model
        (f"/v1/tasks/{TASK}/complete", {}, b""),  # the body is required
        (f"/v1/tasks/{TASK}/complete", {}, b'{"note": 5}'),
        ("/v1/tasks/a%20b/claim", {}, b'{"expected_version": 1}'),  # outside the pattern
        ("/v1/tasks/đ/claim", {}, b'{"expected_version": 1}'),
        (f"/v1/tasks/{'t' * 201}/claim", {}, b'{"expected_version": 1}'),
    ],
)
async def test_anything_unusual_goes_to_the_route_with_its_body_unchanged(
    owner: FastAPI,
    auth: Auth,
    calls: list[tuple[Any, ...]],
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    route = Route()
    answer = await post(owner, route, path, body, **headers)
    assert (answer.status_code, answer.text) == (299, "route")
    assert route.bodies == [body]
    assert calls == [] and auth.asked == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/tasks/{TASK}/claim"),
        ("POST", f"/v1/tasks/{TASK}/forward"),
        ("POST", f"/v1/tasks/{TASK}/claim/x"),
        ("POST", "/v1/dossiers/x/claim"),
    ],
)
async def test_other_paths_and_methods_are_not_touched(
    owner: FastAPI, auth: Auth, calls: list[tuple[Any, ...]], method: str, path: str
) -> None:
    route = Route()
    body = b'{"expected_version": 1}'
    answer = await post(owner, route, path, body, method=method)
    assert answer.status_code == 299 and route.bodies == [body]
    assert calls == [] and auth.asked == []


async def test_a_bad_token_is_refused_before_the_task_is_touched(
    owner: FastAPI, auth: Auth, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    answer = await post(
        owner,
        route,
        f"/v1/tasks/{TASK}/claim",
        b'{"expected_version": 1}',
        authorization="Bearer forged",
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Phiên đăng nhập không hợp lệ"
    assert auth.asked == ["Bearer forged"] and calls == [] and route.bodies == []


async def test_a_refused_action_is_the_apps_own_problem_answer(
    owner: FastAPI, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    answer = await post(owner, route, f"/v1/tasks/{TASK}/complete", b'{"note": "conflict"}')
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Thao tác không hợp lệ"
    assert len(calls) == 1 and route.bodies == []


async def test_before_the_service_has_started_the_route_answers(
    calls: list[tuple[Any, ...]],
) -> None:
    bare = FastAPI()  # no runtime yet: nothing to authenticate with
    route = Route()
    answer = await post(bare, route, f"/v1/tasks/{TASK}/claim", b'{"expected_version": 1}')
    assert answer.status_code == 299 and calls == []
