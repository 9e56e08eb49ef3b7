"""HTTP edge shared by the services: tracing + latency middleware and ops routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.runtime.metrics import HTTP_LATENCY
from services.runtime.telemetry import context_from_carrier, tracer

ReadinessCheck = Callable[[], Awaitable[None]]
CallNext = Callable[[Request], Awaitable[Response]]


def install_tracing_middleware(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def _trace(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path in ("/healthz", "/readyz", "/metrics"):
            return await call_next(request)
        parent = context_from_carrier(dict(request.headers))
        started = time.perf_counter()
        with tracer().start_as_current_span(
            f"HTTP {request.method}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": request.method, "onestop.service": service},
        ) as span:
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", path)
            span.update_name(f"{request.method} {template}")
            span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(trace.StatusCode.ERROR)
        HTTP_LATENCY.labels(request.method, template, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


def ops_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: PostgreSQL and Kafka answer.")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # any failure means not ready
                results[name] = f"failed: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics.")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
