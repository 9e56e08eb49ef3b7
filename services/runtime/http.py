"""HTTP edge shared by the services: tracing + latency middleware and ops routes."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.auth import Principal, service_caller
from services.runtime.deadletters import ReplayError, list_dead_letters, replay
from services.runtime.metrics import HTTP_LATENCY
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.telemetry import (
    context_from_carrier,
    load_trace,
    submission_span,
    tracer,
    traces_of_dossier,
)

# Dead letters are the operators' (and the console's, for the province supervisor).
OPERATORS = ("ops", "routing")
# Spans name dossiers: the console (routing's credential, after checking the operator may
# see the dossier), the province's operators, or a province supervisor may read them.
TRACE_READERS = ("routing", "ops")
# A service may put here (``rt.state[TRACE_TRUST_HOOK]``) an async callable that tells,
# from a request's headers (lower-case names), whether its caller is authenticated well
# enough for its ``traceparent`` to be continued (intake: a valid portal key).
TRACE_TRUST_HOOK = "trace_trust"
TraceTrust = Callable[[Mapping[str, str]], Awaitable[bool]]
UNTRUSTED_PARENT = "onestop.untrusted_traceparent"
log = logging.getLogger(__name__)
ReadinessCheck = Callable[[], Awaitable[None]]
# Not traced: probes, scrapes, the trace reader itself and the console's static files.
UNTRACED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/v1/traces", "/console/static")
_TASK_ID = re.compile(r"^(?P<dossier>[0-9a-fA-F-]{36}):(?P<step>[^:]+):\d+$")
# Metric labels and span names come from route templates only: a raw path or method
# chosen by the client would make one time series (and one span name) per request.
UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "_OTHER"  # OpenTelemetry's name for a method outside the known set


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/dossiers/{ref}``), or a fixed label."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


# A dossier's submission span never changes once recorded: found once, kept (bounded).
# Most dossiers have none (their traces were sampled out): that answer is kept for a
# while too, so that an official's claim, complete and forward a few seconds apart ask
# once. Short, because a span recorded late (flushed after the action) would be missed.
_SUBMISSION_SPANS: OrderedDict[tuple[str, str], tuple[str, str] | float] = OrderedDict()
_SUBMISSION_SPANS_MAX = 10_000
_NO_SUBMISSION_SPAN_SECONDS = 30.0


async def _submission_span(runtime: Any, dossier_id: str) -> tuple[str, str] | None:
    key = (str(runtime.schema), dossier_id)
    now = time.monotonic()
    cached = _SUBMISSION_SPANS.get(key)
    if isinstance(cached, tuple):
        _SUBMISSION_SPANS.move_to_end(key)
        return cached
    if cached is not None and now < cached:
        return None
    first = await submission_span(runtime.pool, dossier_id)
    _SUBMISSION_SPANS[key] = first if first is not None else now + _NO_SUBMISSION_SPAN_SECONDS
    _SUBMISSION_SPANS.move_to_end(key)
    if len(_SUBMISSION_SPANS) > _SUBMISSION_SPANS_MAX:
        _SUBMISSION_SPANS.popitem(last=False)
    return first


async def _link_to_submission(app: Any, span: trace.Span, dossier_id: str) -> None:
    """An operator's action on a dossier links to the trace its submission started."""
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        return
    try:
        first = await _submission_span(runtime, dossier_id)
    except Exception:  # a missing link must never fail the request
        return
    if first is None or first[0] == format(span.get_span_context().trace_id, "032x"):
        return
    span.set_attribute("onestop.submission_trace_id", first[0])
    span.add_link(
        trace.SpanContext(
            trace_id=int(first[0], 16),
            span_id=int(first[1], 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        ),
        {"onestop.link": "submission"},
    )


def path_attributes(path_params: dict[str, Any]) -> dict[str, str]:
    """What a request is about, from its path: a dossier, a task (dossier + step)."""
    attributes: dict[str, str] = {}
    task_id = str(path_params.get("task_id", ""))
    if match := _TASK_ID.match(task_id):
        attributes["onestop.task_id"] = task_id
        attributes["onestop.dossier_id"] = match["dossier"].lower()
        attributes["onestop.step"] = match["step"]
    for name in ("dossier_id", "ref", "code"):
        value = str(path_params.get(name, ""))
        if not value:
            continue
        key = "onestop.dossier_id" if len(value) == 36 and value.count("-") == 4 else None
        attributes[key or "onestop.dossier_code"] = value
    return attributes


class TracingMiddleware:
    """One server span and one latency observation per request.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    costs a task and a memory stream per request, which shows at portal load.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(UNTRACED_PREFIXES):
            await self.app(scope, receive, send)
            return
        method = method_label(scope["method"])
        carrier: dict[str, str] = {}
        for key, value in scope["headers"]:  # the first of repeated headers, as Starlette
            carrier.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        parent, untrusted = await trace_parent(scope.get("app"), carrier)
        status = 500  # unless the app starts a response

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        template = UNMATCHED_ROUTE
        attributes = {"http.request.method": method, "onestop.service": self.service}
        if untrusted is not None:
            attributes[UNTRUSTED_PARENT] = untrusted
        with tracer().start_as_current_span(
            f"HTTP {method}", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, record_status)
            finally:
                template = route_template(scope)
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                about = path_attributes(scope.get("path_params") or {})
                for name, value in about.items():
                    span.set_attribute(name, value)
                if method != "GET" and "onestop.dossier_id" in about:
                    await _link_to_submission(scope["app"], span, about["onestop.dossier_id"])
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
        HTTP_LATENCY.labels(method, template, str(status)).observe(time.perf_counter() - started)


async def trusted_caller(app: Any, headers: Mapping[str, str]) -> bool:
    """Whether the request comes from a caller whose trace context we may continue: a valid
    service credential, or what the service's own hook recognises (intake: a portal key)."""
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    if runtime is None:
        return False
    token = headers.get("x-service-token")
    if token and runtime.credentials.identify(token) is not None:
        return True
    hook: TraceTrust | None = runtime.state.get(TRACE_TRUST_HOOK)
    if hook is None:
        return False
    try:
        return bool(await hook(headers))
    except Exception:  # an unanswerable question is a no, never a failed request
        log.warning("trace trust hook failed", exc_info=True)
        return False


async def trace_parent(
    app: Any, headers: Mapping[str, str]
) -> tuple[otel_context.Context, str | None]:
    """The context a request's server span starts in, and the untrusted parent it ignored.

    A ``traceparent`` is continued only from trusted callers: from anyone else it would let
    them graft their spans (naming their own dossiers) onto another dossier's trace. Their
    parent is kept as an attribute (re-formatted from the parsed ids, never the raw text),
    so a support engineer can still match a client's report; it is never the parent.
    """
    fresh = otel_context.Context()
    if "traceparent" not in headers:
        return fresh, None
    extracted = context_from_carrier(dict(headers))
    if await trusted_caller(app, headers):
        return extracted, None
    claimed = trace.get_current_span(extracted).get_span_context()
    if not claimed.is_valid:
        return fresh, None
    return fresh, f"00-{claimed.trace_id:032x}-{claimed.span_id:016x}-{claimed.trace_flags:02x}"


def install_tracing_middleware(app: FastAPI, service: str) -> None:
    app.add_middleware(TracingMiddleware, service=service)


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


TraceId = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{32}$", description="W3C trace id (hex).")]


async def trace_reader(
    request: Request,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
    x_service_token: Annotated[str | None, Header(max_length=512)] = None,
) -> str:
    """Who may read spans: the console (which checks the operator may see a dossier the
    trace names), the province's operators, or a province supervisor. Any other official
    reads a trace through the console, never here by a trace id or dossier code."""
    rt = request.app.state.runtime
    if x_service_token is not None:
        return str(rt.credentials.require(x_service_token, TRACE_READERS))
    who: Principal = await rt.auth.principal(authorization)
    if who.role != "province_supervisor":
        raise ProblemError(
            403,
            "Không có quyền xem trace",
            "Traces are read through the operator console, which checks the dossier.",
        )
    return who.user_id


TraceReader = Annotated[str, Depends(trace_reader)]


def traces_router() -> APIRouter:
    """This service's recorded spans (``spans`` table): the console merges the four."""
    router = APIRouter(prefix="/v1", tags=["ops"])

    @router.get("/traces", summary="Traces whose spans name a dossier (id or code).")
    async def traces(
        request: Request,
        dossier: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.-]+$")],
        _reader: TraceReader,
    ) -> dict[str, Any]:
        rt = request.app.state.runtime
        return {
            "service": rt.settings.service_name,
            "traces": await traces_of_dossier(rt.pool, dossier),
        }

    @router.get("/traces/{trace_id}", summary="Every span this service recorded in a trace.")
    async def one_trace(
        request: Request, trace_id: TraceId, _reader: TraceReader
    ) -> dict[str, Any]:
        rt = request.app.state.runtime
        spans = await load_trace(rt.pool, trace_id)
        return {"service": rt.settings.service_name, "trace_id": trace_id.lower(), "spans": spans}

    @router.get(
        "/dead-letters",
        summary="Records this service's consumers dead-lettered.",
        responses=problem_responses(403),
    )
    async def dead_letters(
        request: Request, _caller: Annotated[str, Depends(service_caller(*OPERATORS))]
    ) -> dict[str, Any]:
        rt = request.app.state.runtime
        letters = await list_dead_letters(rt.pool)
        return {"service": rt.settings.service_name, "dead_letters": letters}

    @router.post(
        "/dead-letters/{letter_id}/replay",
        summary="Hand a dead letter back to its consumer.",
        responses=problem_responses(403, 404, 409),
    )
    async def replay_dead_letter(
        request: Request,
        letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        _caller: Annotated[str, Depends(service_caller(*OPERATORS))],
    ) -> dict[str, Any]:
        rt = request.app.state.runtime
        try:
            return await replay(
                rt.pool,
                rt.schema,
                rt.settings.kafka_bootstrap_servers,
                letter_id,
                client_options=rt.settings.kafka_client_options(),
            )
        except LookupError as exc:
            raise ProblemError(404, "Không tìm thấy bản ghi lỗi") from exc
        except ReplayError as exc:
            raise ProblemError(409, "Không thể phát lại", str(exc)) from exc

    return router
