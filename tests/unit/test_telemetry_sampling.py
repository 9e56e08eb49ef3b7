"""Spans at load: a ratio of traces kept whole, failed and slow spans always kept."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from services.runtime.telemetry import BufferingSpanExporter


def spans(exporter: BufferingSpanExporter, count: int, *, error: bool = False) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(count):
        with tracer.start_as_current_span("root") as root:
            with tracer.start_as_current_span("child"):
                pass
            if error:
                root.set_status(trace.StatusCode.ERROR)


def by_trace(pending: list[ReadableSpan]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for span in pending:
        ctx = span.get_span_context()
        assert ctx is not None
        counts[ctx.trace_id] = counts.get(ctx.trace_id, 0) + 1
    return counts


def test_every_span_is_kept_by_default() -> None:
    exporter = BufferingSpanExporter()
    spans(exporter, 50)
    assert len(exporter.pending) == 100


def test_a_ratio_keeps_about_that_share_of_traces_and_each_kept_trace_whole() -> None:
    exporter = BufferingSpanExporter(sample_ratio=0.2, slow_ms=10_000)
    spans(exporter, 2000)
    traces = by_trace(list(exporter.pending))
    assert 250 < len(traces) < 550  # ~400 expected; the decision is by trace id
    assert set(traces.values()) == {2}  # root and child together, never half a trace


def test_failed_spans_are_kept_whatever_the_ratio() -> None:
    exporter = BufferingSpanExporter(sample_ratio=0.0, slow_ms=10_000)
    spans(exporter, 20)
    assert len(exporter.pending) == 0
    spans(exporter, 20, error=True)
    assert [s.name for s in exporter.pending] == ["root"] * 20


def test_slow_spans_are_kept_whatever_the_ratio() -> None:
    exporter = BufferingSpanExporter(sample_ratio=0.0, slow_ms=0.000001)
    spans(exporter, 5)
    assert len(exporter.pending) == 10
