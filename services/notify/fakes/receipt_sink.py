"""A callback receiver that records every delivery receipt it is sent.

Run: `uvicorn services.notify.fakes.receipt_sink:app --port 8100` and point the fakes'
callback URL at `http://127.0.0.1:8100/receipts`; `GET /_received` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request


@dataclass(slots=True)
class SinkState:
    received: list[dict[str, Any]] = field(default_factory=list)


def create_app() -> FastAPI:
    app = FastAPI(title="receipt sink")
    state = SinkState()
    app.state.sink = state

    @app.api_route("/receipts", methods=["GET", "POST"])
    async def receive(request: Request) -> dict[str, bool]:
        raw = await request.body()
        body = await request.json() if raw else None
        state.received.append(
            {"method": request.method, "params": dict(request.query_params), "json": body}
        )
        return {"ok": True}

    @app.get("/_received")
    async def received() -> list[dict[str, Any]]:
        return state.received

    @app.post("/_reset")
    async def reset() -> dict[str, bool]:
        state.received.clear()
        return {"ok": True}

    return app


app = create_app()
