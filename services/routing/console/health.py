"""Console: system health and dead-letter replay (province supervisors)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from contracts.bounds import PG_BIGINT_MAX
from services.routing.console.access import is_supervisor
from services.routing.console.common import (
    SERVICES,
    PrincipalDep,
    service_headers,
    settings_of,
)
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)


api = APIRouter()

# --- system health -------------------------------------------------------------------------

HEALTH_METRICS = {
    "consumer_lag",
    "outbox_backlog",
    "outbox_oldest_age_seconds",
    "dead_letters_pending",
    "inbox_size",
    "deadlines",
    "notifications",
}


def metric_samples(text: str) -> list[dict[str, Any]]:
    """The samples of the gauges the console shows, from Prometheus text."""
    samples: list[dict[str, Any]] = []
    for family in text_string_to_metric_families(text):
        if family.name not in HEALTH_METRICS:
            continue
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
    return samples


async def _service_health(request: Request, service: str) -> dict[str, Any]:
    cfg = settings_of(request)
    # Never an address from the request (its Host header is the caller's to choose).
    base = cfg.url(service)
    out: dict[str, Any] = {"service": service, "url": base}
    try:
        async with httpx.AsyncClient(timeout=cfg.console_http_timeout) as client:
            ready = await client.get(base + "/readyz")
            out["ready"] = ready.json()
            metrics = await client.get(base + "/metrics")
            out["metrics"] = metric_samples(metrics.text)
            letters = await client.get(
                base + "/v1/dead-letters",
                headers=service_headers(request),
            )
            body = letters.json() if letters.status_code == 200 else {}
            out["dead_letters"] = body.get("dead_letters", [])
    except (httpx.HTTPError, ValueError) as exc:
        out["error"] = f"{service} không phản hồi ({type(exc).__name__})"
    return out


@api.get("/health")
async def health(request: Request, who: PrincipalDep) -> dict[str, Any]:
    if not is_supervisor(who):
        raise ProblemError(403, "Chỉ giám sát cấp tỉnh xem tình trạng hệ thống")
    services = await asyncio.gather(*(_service_health(request, s) for s in SERVICES))
    return {"services": list(services), "at": datetime.now(UTC).isoformat()}


@api.post("/dead-letters/{service}/{letter_id}/replay")
async def replay_dead_letter(
    request: Request,
    service: Literal["intake", "routing", "sla", "notify"],
    letter_id: Annotated[int, PathParam(ge=1, le=PG_BIGINT_MAX)],
    who: PrincipalDep,
) -> Response:
    if not is_supervisor(who):
        raise ProblemError(403, "Chỉ giám sát cấp tỉnh được phát lại")
    cfg = settings_of(request)
    # Never an address from the request (its Host header is the caller's to choose).
    base = cfg.url(service)
    async with httpx.AsyncClient(timeout=30.0) as client:
        answer = await client.post(
            f"{base}/v1/dead-letters/{letter_id}/replay",
            headers=service_headers(request),
        )
    log.info(
        "dead letter %s/%s replay by %s: %s", service, letter_id, who.user_id, answer.status_code
    )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type"),
    )
