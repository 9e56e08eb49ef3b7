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

    # eSMS receipt URLs carry the message id and token in the path: /receipts/{id}/{token}.
    @app.api_route("/receipts", methods=["GET", "POST"])
    @app.api_route("/receipts/{rest:path}", methods=["GET", "POST"])
    async def receive(request: Request) -> dict[str, bool]:
        raw = await request.body()
        body = await request.json() if raw else None
        state.received.append(
            {
                "method": request.method,
                "path": request.url.path,
                "params": dict(request.query_params),
                "json": body,
                "raw": raw.decode(errors="replace"),
                "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")}
                | {"authorization": request.headers.get("authorization", "")},
            }
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
