"""Tracing set-up and W3C trace-context propagation through Kafka headers.

Spans go where settings say: nowhere, the console, an OTLP collector, or this service's
own ``spans`` table, which the operator console reads to draw a trace waterfall.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
KafkaHeaders = list[tuple[str, bytes]]


class BufferingSpanExporter(SpanExporter):
    """Keeps finished spans in memory until the async flusher writes them to PostgreSQL."""

    def __init__(self, limit: int = 50_000) -> None:
        self.pending: collections.deque[ReadableSpan] = collections.deque(maxlen=limit)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.pending.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _ns_to_dt(ns: int | None) -> datetime:
    return datetime.fromtimestamp((ns or 0) / 1e9, tz=UTC)


def _span_row(span: ReadableSpan, service: str) -> tuple[Any, ...]:
    ctx = span.get_span_context()
    parent = span.parent.span_id if span.parent is not None else None
    assert ctx is not None
    attributes = {
        k: v if isinstance(v, str | int | float | bool) else str(v)
        for k, v in (span.attributes or {}).items()
    }
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


async def flush_spans(exporter: BufferingSpanExporter, pool: asyncpg.Pool, service: str) -> int:
    rows = []
    while exporter.pending:
        rows.append(_span_row(exporter.pending.popleft(), service))
    if rows:
        await pool.executemany(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, service, name, kind,"
            " start_time, end_time, status, attributes)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb) ON CONFLICT DO NOTHING",
            rows,
        )
    return len(rows)


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
    """Install the process-wide tracer provider; returns the buffer when spans go to PG."""
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    buffer: BufferingSpanExporter | None = None
    if settings.otel_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif settings.otel_exporter == "postgres":
        buffer = BufferingSpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(buffer))
    trace.set_tracer_provider(provider)
    return buffer


def tracer() -> trace.Tracer:
    return trace.get_tracer("onestop")


def current_trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def to_kafka_headers(carrier: dict[str, str]) -> KafkaHeaders:
    return [(k, v.encode()) for k, v in carrier.items()]


def context_from_kafka_headers(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context:
    carrier = {k: v.decode(errors="replace") for k, v in (headers or [])}
    return propagate.extract(carrier)


def context_from_carrier(carrier: dict[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)
