"""Tail sampling that does not pay for what it drops: traces in the ratio are recorded in
full by the SDK; every other span is kept only if it failed or was slow."""

from __future__ import annotations

import time

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime.tail_sampling import (
    TailSpan,
    producer_span,
    set_deferred_attributes,
    start_child_span,
    trace_in_ratio,
)
from services.runtime.telemetry import _span_row
from tests.support.tracing import recording_tracer


def provider(ratio: float, slow_ms: float = 10_000) -> tuple[trace.Tracer, InMemorySpanExporter]:
    _, tracer, exported = recording_tracer("t", ratio, slow_ms)
    return tracer, exported


def root_and_child(tracer: trace.Tracer, count: int) -> None:
    for _ in range(count):
        with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
            pass


def by_trace(spans: tuple[ReadableSpan, ...]) -> dict[int, list[str]]:
    traces: dict[int, list[str]] = {}
    for span in spans:
        ctx = span.get_span_context()
        assert ctx is not None
        traces.setdefault(ctx.trace_id, []).append(span.name)
    return traces


def test_traces_in_the_ratio_are_recorded_whole_by_the_sdk_and_the_rest_cost_nothing() -> None:
    tracer, exported = provider(0.2)
    root_and_child(tracer, 2000)
    traces = by_trace(exported.get_finished_spans())
    assert 250 < len(traces) < 550  # ~400 expected; decided on the trace id
    assert all(sorted(names) == ["child", "root"] for names in traces.values())
    assert all(trace_in_ratio(t, 0.2) for t in traces)


def test_spans_outside_the_ratio_are_light_but_carry_a_real_context() -> None:
    tracer, _ = provider(0.0)
    with tracer.start_as_current_span("root", kind=trace.SpanKind.SERVER) as root:
        assert isinstance(root, TailSpan) and root.is_recording()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        with tracer.start_as_current_span("child") as child:
            assert isinstance(child, TailSpan)
    root_ctx, child_ctx = root.get_span_context(), child.get_span_context()
    assert root_ctx.is_valid and child_ctx.trace_id == root_ctx.trace_id
    assert child_ctx.span_id != root_ctx.span_id
    _version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{root_ctx.trace_id:032x}", f"{root_ctx.span_id:016x}")
    assert flags == "01"  # downstream SDKs go on recording; the ratio decides there too
    assert not root.is_recording()


def test_a_failed_span_outside_the_ratio_is_kept_with_its_exception_and_attributes() -> None:
    tracer, exported = provider(0.0)
    with (  # noqa: PT012 - the span must see the error
        pytest.raises(ValueError, match="hỏng"),
        tracer.start_as_current_span("root", attributes={"onestop.unit": "X"}) as root,
    ):
        root.set_attribute("http.route", "/v1/dossiers")
        with tracer.start_as_current_span("fine child"):
            pass
        raise ValueError("hỏng")
    [kept] = exported.get_finished_spans()
    assert kept.name == "root" and kept.status.status_code is trace.StatusCode.ERROR
    assert kept.attributes == {"onestop.unit": "X", "http.route": "/v1/dossiers"}
    assert [e.name for e in kept.events] == ["exception"]
    assert kept.events[0].attributes is not None
    assert kept.events[0].attributes["exception.message"] == "hỏng"
    assert kept.resource.attributes["service.name"] == "t"
    row = _span_row(kept, "routing")  # what the console's table receives
    assert row[3:6] == ("routing", "root", "internal") and row[8] == "error"


def test_a_slow_span_outside_the_ratio_is_kept_a_quick_one_is_not() -> None:
    tracer, exported = provider(0.0, slow_ms=20)
    with tracer.start_as_current_span("quick"):
        pass
    with tracer.start_as_current_span("slow") as slow:
        time.sleep(0.03)
    [kept] = exported.get_finished_spans()
    assert kept.name == "slow" and kept.parent is None
    assert kept.get_span_context() == slow.get_span_context()
    assert (kept.end_time or 0) - (kept.start_time or 0) >= 20_000_000


def test_every_service_decides_the_same_for_one_trace() -> None:
    """The child in another service (another provider, context from the header) is
    recorded in full exactly when the parent was."""
    for _ in range(200):
        upstream, _ = provider(0.5)
        downstream, _ = provider(0.5)
        with upstream.start_as_current_span("send") as parent:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        child = downstream.start_span("process", context=propagate.extract(carrier))
        assert isinstance(child, SdkSpan) == isinstance(parent, SdkSpan)
        assert child.get_span_context().trace_id == parent.get_span_context().trace_id
        child.end()


def test_with_the_full_ratio_every_span_is_the_sdks() -> None:
    tracer, exported = provider(1.0)
    root_and_child(tracer, 10)
    assert len(exported.get_finished_spans()) == 20


def test_deferred_attributes_are_computed_only_for_spans_that_are_kept() -> None:
    computed: list[str] = []

    def expensive(name: str) -> dict[str, str]:
        computed.append(name)
        return {"onestop.unit": name, "messaging.system": "deferred"}

    tracer, exported = provider(0.0)
    with tracer.start_as_current_span("dropped", attributes={"messaging.system": "kafka"}) as s:
        set_deferred_attributes(s, lambda: expensive("dropped"))
    with tracer.start_as_current_span("failed", attributes={"messaging.system": "kafka"}) as s:
        set_deferred_attributes(s, lambda: expensive("failed"))
        s.set_status(trace.StatusCode.ERROR, "broker refused")
    assert computed == ["failed"]  # the dropped span never paid for its attributes
    (kept,) = exported.get_finished_spans()
    # Explicit attributes win over deferred ones on a clash.
    assert kept.attributes == {"messaging.system": "kafka", "onestop.unit": "failed"}

    recorded, exported = provider(1.0)
    with recorded.start_as_current_span("in ratio", attributes={"messaging.system": "kafka"}) as s:
        assert isinstance(s, SdkSpan)
        set_deferred_attributes(s, lambda: expensive("in ratio"))
        assert computed == ["failed", "in ratio"]  # at once: the SDK records it anyway
    (whole,) = exported.get_finished_spans()
    assert whole.attributes == {"messaging.system": "kafka", "onestop.unit": "in ratio"}


PARENT_SPAN = "b7ad6b7169203331"
# Trace ids outside and inside a ratio of one half (decided on the id's low 64 bits).
OUTSIDE, INSIDE = "f" * 32, "0" * 31 + "1"


@pytest.fixture
def relay_tracing(monkeypatch: pytest.MonkeyPatch) -> tuple[trace.Tracer, InMemorySpanExporter]:
    p, tracer, exported = recording_tracer("relay", 0.5)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: p)
    return tracer, exported


def test_a_producer_span_outside_the_ratio_is_made_from_the_records_traceparent(
    relay_tracing: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exported = relay_tracing
    outside = OUTSIDE
    carrier = {
        "traceparent": f"00-{outside}-{PARENT_SPAN}-01",
        "tracestate": "vendor=1",
        "baggage": "onestop.unit=X",
    }
    with producer_span(tracer, "t send", carrier, {"messaging.system": "kafka"}) as (span, out):
        assert isinstance(span, TailSpan)
    ctx = span.get_span_context()
    assert f"{ctx.trace_id:032x}" == outside and ctx.span_id != int(PARENT_SPAN, 16)
    assert out["traceparent"] == f"00-{outside}-{ctx.span_id:016x}-01"
    assert {k: out[k] for k in ("tracestate", "baggage")} == {
        "tracestate": "vendor=1",
        "baggage": "onestop.unit=X",
    }
    # What a consumer extracts is this span, exactly as if the SDK had injected it.
    heard = trace.get_current_span(propagate.extract(out)).get_span_context()
    assert (heard.trace_id, heard.span_id) == (ctx.trace_id, ctx.span_id)
    assert exported.get_finished_spans() == ()  # dropped at its end: fast and fine

    with (
        pytest.raises(ValueError, match="too large"),
        producer_span(tracer, "t send", carrier, {"messaging.system": "kafka"}),
    ):
        raise ValueError("record too large")
    (kept,) = exported.get_finished_spans()
    assert kept.status.status_code is trace.StatusCode.ERROR
    assert kept.kind is trace.SpanKind.PRODUCER
    assert kept.parent is not None and kept.parent.span_id == int(PARENT_SPAN, 16)
    assert kept.events[0].name == "exception"
    assert kept.attributes == {"messaging.system": "kafka"}


@pytest.mark.parametrize("case", ["inside the ratio", "no traceparent", "malformed"])
def test_other_producer_spans_take_the_sdks_way(
    relay_tracing: tuple[trace.Tracer, InMemorySpanExporter], case: str
) -> None:
    tracer, exported = relay_tracing
    inside = INSIDE
    carrier = {
        "inside the ratio": {"traceparent": f"00-{inside}-{PARENT_SPAN}-01"},
        "no traceparent": {},
        "malformed": {"traceparent": f"00-{'0' * 32}-{PARENT_SPAN}-01"},
    }[case]
    with producer_span(tracer, "t send", carrier, {"messaging.system": "kafka"}) as (span, out):
        ctx = span.get_span_context()
        assert out["traceparent"].split("-")[1:3] == [f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"]
    if case == "inside the ratio":
        assert isinstance(span, SdkSpan) and f"{ctx.trace_id:032x}" == inside
        (whole,) = exported.get_finished_spans()
        assert whole.parent is not None and whole.parent.span_id == int(PARENT_SPAN, 16)
    else:  # a new trace of its own, decided by the ratio as any root
        assert f"{ctx.trace_id:032x}" != "0" * 32


def test_a_consumer_span_is_started_not_made_current_and_hands_on_its_carrier(
    relay_tracing: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exported = relay_tracing
    for trace_id, light in ((OUTSIDE, True), (INSIDE, False)):
        carrier = {"traceparent": f"00-{trace_id}-{PARENT_SPAN}-01"}
        span, out = start_child_span(tracer, "t process", carrier, trace.SpanKind.CONSUMER, {})
        assert isinstance(span, TailSpan) is light
        assert trace.get_current_span() is not span  # a batch holds many: none is current
        ctx = span.get_span_context()
        assert out["traceparent"] == f"00-{trace_id}-{ctx.span_id:016x}-01"
        span.end()
    (recorded,) = exported.get_finished_spans()  # the one inside the ratio
    assert recorded.kind is trace.SpanKind.CONSUMER
    assert recorded.parent is not None and recorded.parent.span_id == int(PARENT_SPAN, 16)
