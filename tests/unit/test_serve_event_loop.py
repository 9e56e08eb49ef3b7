"""The HTTP server runs on the event loop the settings name (uvloop unless told)."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from services.runtime.main import serve
from services.runtime.settings import ServiceSettings


@pytest.mark.parametrize(("env", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
def test_serve_runs_uvicorn_on_the_configured_loop(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: str
) -> None:
    if env is None:
        monkeypatch.delenv("EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("EVENT_LOOP", env)
    monkeypatch.setenv("ENVIRONMENT", "development")  # the dev secrets are refused otherwise
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    serve(FastAPI(), ServiceSettings(service_name="probe"))
    assert seen["loop"] == expected
    assert seen["http"] == "httptools"


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        ServiceSettings(service_name="probe")
