"""The submission route's fast layer answers the usual request itself, with the same
handler and the app's own error answers, and hands every other request to the FastAPI
route with its body byte for byte."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from contracts.intake_api import SubmitDossier
from services.intake.adapters.portals import Portal
from services.intake.entrypoints import fast_submit
from services.intake.entrypoints.unavailable import install_unavailable_handlers
from services.intake.groupcommit import overloaded
from services.runtime.problems import ProblemError, install_problem_handlers
from tests.support.asgi import Route
from tests.support.story import birth_registration

PORTAL = Portal(id="p1", units=frozenset({"*"}))
BODY = json.dumps(birth_registration(), ensure_ascii=False).encode()


@pytest.fixture
def owner() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_unavailable_handlers(app)

    app.state.runtime = SimpleNamespace(state={"intake": object()})
    return app


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []

    async def portal_of_key(_ctx: object, key: str) -> Portal | None:
        return PORTAL if key == "good-key" else None

    async def submit_for_portal(
        _ctx: object, portal: Portal, body: SubmitDossier, key: str | None
    ) -> tuple[int, dict[str, Any]]:
        seen.append((portal, body, key))
        if body.summary == "forbidden":
            raise ProblemError(403, "Cổng không được phép nộp hồ sơ cho đơn vị này", "No.")
        if body.summary == "busy":
            raise overloaded(7)
        return 201, {"code": "000.01.01.H99-261202-0001"}

    monkeypatch.setattr(fast_submit, "portal_of_key", portal_of_key)
    monkeypatch.setattr(fast_submit, "submit_for_portal", submit_for_portal)
    return seen


ROUTES_SEEN: list[str | None] = []


async def post(
    owner: FastAPI, route: Route, body: bytes = BODY, path: str = "/v1/dossiers", **headers: str
) -> httpx.Response:
    layer = fast_submit.FastSubmission(route, owner=owner)

    async def tracing(scope: Scope, receive: Receive, send: Send) -> None:
        await layer(scope, receive, send)
        ROUTES_SEEN.append(getattr(scope.get("route"), "path", None))  # the span's label

    sent = {"content-type": "application/json", "x-api-key": "good-key", **headers}
    transport = httpx.ASGITransport(app=tracing)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        return await client.post(path, content=body, headers=sent)


async def test_a_usual_submission_is_answered_by_the_layer_with_the_routes_handler(
    owner: FastAPI, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    answer = await post(owner, route, BODY, "/v1/dossiers", **{"idempotency-key": "igate-1"})
    assert answer.status_code == 201
    assert answer.json() == {"code": "000.01.01.H99-261202-0001"}
    assert route.bodies == []
    [(portal, body, key)] = calls
    assert portal is PORTAL and key == "igate-1"
    assert body == SubmitDossier.model_validate(birth_registration())
    assert ROUTES_SEEN[-1] == "/v1/dossiers"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"x-api-key": ""}, BODY),  # no key: the route answers 401
        ({"x-api-key": "unknown"}, BODY),  # unknown key: 401 from the route
        ({"idempotency-key": ""}, BODY),  # the route's header validation answers
        ({"idempotency-key": "k" * 129}, BODY),
        ({"x-service-token": "t"}, BODY),
        ({"content-type": "text/plain"}, BODY),
        ({}, b'{"procedure_code": '),  # not JSON
        ({}, b""),
        ({}, json.dumps({**birth_registration(), "extra": 1}).encode()),  # fails the model
    ],
)
async def test_anything_unusual_goes_to_the_route_with_its_body_unchanged(
    owner: FastAPI, calls: list[tuple[Any, ...]], headers: dict[str, str], body: bytes
) -> None:
    route = Route()
    answer = await post(owner, route, body, **headers)
    assert (answer.status_code, answer.text) == (299, "route")
    assert route.bodies == [body]
    assert calls == []


async def test_other_paths_and_methods_are_not_touched(
    owner: FastAPI, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    answer = await post(owner, route, path="/v1/dossiers/x/withdraw")
    assert answer.status_code == 299 and route.bodies == [BODY] and calls == []


async def test_refusals_are_the_apps_own_problem_answers(
    owner: FastAPI, calls: list[tuple[Any, ...]]
) -> None:
    route = Route()
    forbidden = await post(
        owner, route, json.dumps(birth_registration(summary="forbidden")).encode()
    )
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    assert forbidden.json()["title"] == "Cổng không được phép nộp hồ sơ cho đơn vị này"
    busy = await post(owner, route, json.dumps(birth_registration(summary="busy")).encode())
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    assert busy.json()["title"] == "Hệ thống đang quá tải, vui lòng gửi lại sau"
    assert route.bodies == [] and len(calls) == 2
