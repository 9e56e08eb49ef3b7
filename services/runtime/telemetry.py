"""Tracing set-up and W3C trace-context propagation through Kafka headers.

Spans go where settings say: nowhere, the console, an OTLP collector, or this service's
own ``spans`` table, which the operator console reads to draw a trace waterfall.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from services.runtime.logs import mask_personal_data
from services.runtime.settings import ServiceSettings
from services.runtime.tail_sampling import TailSamplingTracerProvider, trace_in_ratio

log = logging.getLogger(__name__)
KafkaHeaders = list[tuple[str, bytes]]


def keep_span(span: ReadableSpan, sample_ratio: float, slow_ns: int) -> bool:
    """Tail sampling at load: a trace is kept whole when its id falls in the ratio (the
    same decision in every service, so kept traces stay complete); a span that failed or
    was slow is always kept."""
    if sample_ratio >= 1.0 or span.status.status_code is trace.StatusCode.ERROR:
        return True
    if (span.end_time or 0) - (span.start_time or 0) >= slow_ns:
        return True
    ctx = span.get_span_context()
    return ctx is not None and trace_in_ratio(ctx.trace_id, sample_ratio)


class BufferingSpanExporter(SpanExporter):
    """Keeps finished spans in memory until the async flusher writes them to PostgreSQL
    in batches, off the request's path; drops the oldest beyond ``limit``."""

    def __init__(
        self, limit: int = 50_000, sample_ratio: float = 1.0, slow_ms: float = 500.0
    ) -> None:
        self.pending: collections.deque[ReadableSpan] = collections.deque(maxlen=limit)
        self._ratio = sample_ratio
        self._slow_ns = int(slow_ms * 1_000_000)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.pending.extend(s for s in spans if keep_span(s, self._ratio, self._slow_ns))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


# Payload fields that name what a hop is about (never who): copied onto spans.
_PAYLOAD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("dossier_code", "onestop.dossier_code"),
    ("procedure_code", "onestop.procedure"),
    ("unit_code", "onestop.unit"),
    ("to_unit", "onestop.unit"),
    ("receiving_unit", "onestop.unit"),
    ("responsible_unit", "onestop.unit"),
    ("from_unit", "onestop.from_unit"),
    ("step_id", "onestop.step"),
    ("task_id", "onestop.task_id"),
    ("field_code", "onestop.field"),
    ("kind", "onestop.deadline_kind"),
    ("channel", "onestop.channel"),
    ("status", "onestop.status"),
)


def dossier_attributes(
    event_type: str, dossier_id: object, payload: Mapping[str, Any]
) -> dict[str, str | int]:
    """Span attributes for an event: dossier, procedure, unit, step, event type.

    Only the fields listed above are read, so personal data in a payload (there should
    be none; notify fetches contacts by reference) never reaches a span.
    """
    attributes: dict[str, str | int] = {
        "onestop.event_type": event_type,
        "onestop.dossier_id": str(dossier_id),
    }
    for field, name in _PAYLOAD_ATTRIBUTES:
        value = payload.get(field)
        if name in attributes or value is None or isinstance(value, dict | list):
            continue
        attributes[name] = value if isinstance(value, int) else str(value)[:200]
    return attributes


# Attributes whose values are our own codes (topics, event types, dossier, procedure,
# unit and step codes, routes), never free text: stored without the masking pass, which
# is most of a span's cost at load.
_STRUCTURAL = frozenset(
    {name for _, name in _PAYLOAD_ATTRIBUTES}
    | {
        "onestop.event_type",
        "onestop.service",
        "messaging.system",
        "messaging.consumer.group.name",
        "messaging.destination.name",
        "messaging.destination.partition.id",
        "http.request.method",
        "http.route",
        # Re-formatted from the parsed ids (hex only), never the raw header: masking it
        # would garble one traceparent in twenty and a client's report would not match.
        "onestop.untrusted_traceparent",
    }
)


def safe_attribute(key: str, value: object) -> str | int | float | bool:
    """Attribute as stored: scalars kept, free text masked (phones, e-mails, ID numbers)."""
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if key in _STRUCTURAL or key.endswith(("_id", ".id")):
        return text  # codes and identifiers (UUIDs, task ids) are not personal data
    return mask_personal_data(text)


def _ns_to_dt(ns: int | None) -> datetime:
    return datetime.fromtimestamp((ns or 0) / 1e9, tz=UTC)


def _span_row(span: ReadableSpan, service: str) -> tuple[Any, ...]:
    ctx = span.get_span_context()
    parent = span.parent.span_id if span.parent is not None else None
    assert ctx is not None
    attributes = {k: safe_attribute(k, v) for k, v in (span.attributes or {}).items()}
    return (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(parent, "016x") if parent is not None else None,
        service,
        span.name,
        span.kind.name.lower(),
        _ns_to_dt(span.start_time),
        _ns_to_dt(span.end_time),
        span.status.status_code.name.lower(),
        json.dumps(attributes),
    )


async def flush_spans(
    exporter: BufferingSpanExporter, pool: asyncpg.Pool, service: str, batch: int = 5000
) -> int:
    """Write buffered spans with one set-based statement per ``batch`` spans."""
    total = 0
    while exporter.pending:
        rows = [
            _span_row(exporter.pending.popleft(), service)
            for _ in range(min(batch, len(exporter.pending)))
        ]
        columns = list(zip(*rows, strict=True))
        await pool.execute(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, service, name, kind,"
            " start_time, end_time, status, attributes)"
            " SELECT t, s, p, sv, n, k, st, et, ss, a::jsonb FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],"
            " $8::timestamptz[], $9::text[], $10::text[]) AS u(t, s, p, sv, n, k, st, et, ss, a)"
            " ON CONFLICT DO NOTHING",
            *[list(c) for c in columns],
        )
        total += len(rows)
    return total


async def delete_old_spans(pool: asyncpg.Pool, older_than_days: int = 7) -> None:
    await pool.execute(
        "DELETE FROM spans WHERE start_time < now() - make_interval(days => $1)", older_than_days
    )


async def run_span_flusher(
    exporter: BufferingSpanExporter, pool: asyncpg.Pool, service: str, interval: float = 0.3
) -> None:
    while True:
        try:
            await flush_spans(exporter, pool, service)
        except (OSError, asyncpg.PostgresError):
            log.warning("span flush failed; will retry", exc_info=True)
        await asyncio.sleep(interval)


def setup_tracing(settings: ServiceSettings) -> BufferingSpanExporter | None:
    """Install the process-wide tracer provider; returns the buffer when spans go to PG.

    Spans outside the sampling ratio are recorded cheaply and reach the exporters only if
    they failed or were slow (:mod:`services.runtime.tail_sampling`); with no exporter at
    all, none are recorded in full."""
    ratio = settings.otel_sample_ratio if settings.otel_exporter != "none" else 0.0
    provider = TailSamplingTracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sample_ratio=ratio,
        slow_ms=settings.otel_slow_span_ms,
    )
    buffer: BufferingSpanExporter | None = None
    if settings.otel_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if settings.otel_exporter in ("postgres", "otlp"):
        # Kept in the service's own table as well, so the operator console's waterfall
        # works with or without a collector.
        buffer = BufferingSpanExporter(sample_ratio=ratio, slow_ms=settings.otel_slow_span_ms)
        provider.add_span_processor(SimpleSpanProcessor(buffer))
    trace.set_tracer_provider(provider)
    return buffer


@functools.cache
def tracer() -> trace.Tracer:
    # Looked up once: a proxy until the provider is installed, then the provider's.
    return trace.get_tracer("onestop")


def current_trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def to_kafka_headers(carrier: dict[str, str]) -> KafkaHeaders:
    return [(k, v.encode()) for k, v in carrier.items()]


def context_from_carrier(carrier: dict[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, service, name, kind, start_time, end_time, status,"
    " attributes"
)


def _span_dict(row: asyncpg.Record) -> dict[str, Any]:
    span = dict(row)
    attributes = span["attributes"]
    span["attributes"] = json.loads(attributes) if isinstance(attributes, str) else attributes
    span["duration_ms"] = (span["end_time"] - span["start_time"]).total_seconds() * 1000
    return span


async def load_trace(pool: asyncpg.Pool, trace_id: str, limit: int = 2000) -> list[dict[str, Any]]:
    """The spans this service recorded for one trace, oldest first."""
    rows = await pool.fetch(
        f"SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = $1 ORDER BY start_time LIMIT $2",
        trace_id.lower(),
        limit,
    )
    return [_span_dict(r) for r in rows]


async def traces_of_dossier(pool: asyncpg.Pool, dossier: str) -> list[dict[str, Any]]:
    """Traces whose spans name this dossier (by id or code): submission, then actions.

    Read-only requests (GET) that merely looked at the dossier are left out.
    """
    rows = await pool.fetch(
        "SELECT trace_id, min(start_time) AS started_at, count(*) AS spans FROM spans"
        " WHERE (attributes ->> 'onestop.dossier_id' = $1"
        " OR attributes ->> 'onestop.dossier_code' = $1)"
        " AND (kind <> 'server' OR attributes ->> 'http.request.method' <> 'GET')"
        " GROUP BY trace_id ORDER BY min(start_time) LIMIT 200",
        dossier,
    )
    return [dict(r) for r in rows]


async def submission_span(pool: asyncpg.Pool, dossier_id: str) -> tuple[str, str] | None:
    """(trace id, span id) of the earliest span this service recorded for a dossier."""
    row = await pool.fetchrow(
        "SELECT trace_id, span_id FROM spans WHERE attributes ->> 'onestop.dossier_id' = $1"
        " ORDER BY start_time LIMIT 1",
        dossier_id,
    )
    return None if row is None else (row["trace_id"], row["span_id"])
