"""Run a service's app with uvicorn (one process, one event loop)."""

from __future__ import annotations

from fastapi import FastAPI

from services.runtime.settings import ServiceSettings, refuse_insecure


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    refuse_insecure(settings)

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop=settings.event_loop,
        http="httptools",
        timeout_graceful_shutdown=10,
    )
