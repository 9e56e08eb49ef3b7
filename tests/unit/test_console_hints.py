"""The sign-in page's hint about development accounts: served in development, never in
production (the page shows only what this endpoint gives)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from services.routing.app import RoutingSettings
from services.routing.console.router import router

SECRET_FREE = {"database_url": "postgresql://x:y@127.0.0.1:1/x", "seed_demo_officials": True}


def app_in(environment: str) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    settings = RoutingSettings(environment=environment, **SECRET_FREE)  # type: ignore[arg-type]
    app.state.runtime = SimpleNamespace(settings=settings, state={})
    return app


async def hint_of(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        return await client.get("/console/api/login-hint")


async def test_development_serves_the_accounts_hint_without_signing_in() -> None:
    answer = await hint_of(app_in("development"))
    assert answer.status_code == 200
    hint = answer.json()["development_accounts"]
    assert [a["username"] for a in hint["accounts"]] == [
        "canbo@<mã đơn vị>",
        "lanhdao@<mã đơn vị>",
        "giamsat",
    ]
    assert hint["password"] == "demo"


@pytest.mark.parametrize("seeded", [True, False])
async def test_production_names_no_account_and_no_password(seeded: bool) -> None:
    app = app_in("production")
    app.state.runtime.settings = app.state.runtime.settings.model_copy(
        update={"seed_demo_officials": seeded}
    )
    answer = await hint_of(app)
    assert answer.status_code == 200
    assert answer.json() == {"development_accounts": None}
    assert "demo" not in answer.text and "giamsat" not in answer.text
