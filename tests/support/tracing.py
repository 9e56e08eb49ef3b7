"""A tail-sampling tracer whose spans a test can read back (in memory, nothing exported)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime.tail_sampling import TailSamplingTracerProvider


def recording_tracer(
    service: str = "t", ratio: float = 1.0, slow_ms: float = 10_000
) -> tuple[TailSamplingTracerProvider, trace.Tracer, InMemorySpanExporter]:
    """A provider as the services install it (every trace in ``ratio`` recorded whole),
    its tracer, and the spans it kept."""
    provider = TailSamplingTracerProvider(
        Resource.create({"service.name": service}), ratio, slow_ms
    )
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider, provider.get_tracer("test"), exported
