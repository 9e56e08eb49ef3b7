"""Tail sampling without paying for the spans it drops.

A trace is kept whole when its id falls in the sampling ratio (the same decision in
every service, so kept traces stay complete); outside the ratio a span is kept only if it
failed or was slow. The SDK's spans cost tens of microseconds each (attribute cleaning,
processors, locks), and at load most are dropped at their end. So outside the ratio the
tracer hands out a :class:`TailSpan`: a plain record of the span with a real span context
(children and Kafka headers carry it as usual) that becomes a ``ReadableSpan`` for the
span processors only when it ends failed or slow.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util import types

_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
# Attributes worth computing only for a span that is kept (they parse a payload, say).
DeferredAttributes = Callable[[], Mapping[str, types.AnyValue]]
_SCOPE = InstrumentationScope("onestop")


def trace_in_ratio(trace_id: int, ratio: float) -> bool:
    """Whether a trace is kept whole: decided on the id's low 64 bits, in every service."""
    return ratio >= 1.0 or (trace_id & 0xFFFFFFFFFFFFFFFF) < ratio * 2**64


class _ChosenTraceIds(RandomIdGenerator):
    """Random ids, except that a root span's trace id can be chosen beforehand (the one
    the ratio was decided on). Start-up of a span is synchronous, so nothing interleaves."""

    def __init__(self) -> None:
        self.chosen: int | None = None

    def generate_trace_id(self) -> int:
        chosen, self.chosen = self.chosen, None
        return chosen if chosen is not None else super().generate_trace_id()


class TailSamplingTracerProvider(TracerProvider):
    """A tracer provider whose tracers record in full only the traces in the ratio."""

    def __init__(self, resource: Resource, sample_ratio: float, slow_ms: float) -> None:
        self.ids = _ChosenTraceIds()
        super().__init__(resource=resource, id_generator=self.ids)
        self.sample_ratio = sample_ratio
        self.slow_ns = int(slow_ms * 1_000_000)
        self.processors: list[SpanProcessor] = []

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.processors.append(span_processor)

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return TailTracer(super().get_tracer(*args, **kwargs), self)

    def light_span(
        self,
        name: str,
        trace_id: int,
        parent: trace.SpanContext | None,
        kind: trace.SpanKind,
        attributes: types.Attributes,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
    ) -> TailSpan:
        """A span of a trace outside the ratio: a span id of its own in ``trace_id``."""
        own = trace.SpanContext(
            trace_id, self.ids.generate_span_id(), is_remote=False, trace_flags=_SAMPLED
        )
        return TailSpan(
            self,
            name,
            own,
            parent,
            kind,
            dict(attributes or {}),
            list(links or ()),
            start_time or time.time_ns(),
        )

    def keep(self, span: ReadableSpan) -> None:
        for processor in self.processors:
            processor.on_end(span)


class TailTracer(trace.Tracer):
    """The SDK's tracer for traces in the ratio; a :class:`TailSpan` for every other."""

    def __init__(self, inner: trace.Tracer, provider: TailSamplingTracerProvider) -> None:
        self._inner = inner
        self._provider = provider

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        provider = self._provider
        parent = trace.get_current_span(context).get_span_context()
        trace_id = parent.trace_id if parent.is_valid else provider.ids.generate_trace_id()
        if trace_in_ratio(trace_id, provider.sample_ratio):
            if not parent.is_valid:
                provider.ids.chosen = trace_id
            return self._inner.start_span(
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            )
        return provider.light_span(
            name, trace_id, parent if parent.is_valid else None, kind, attributes, links, start_time
        )

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # the API's decorator is private
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


def set_deferred_attributes(span: trace.Span, compute: DeferredAttributes) -> None:
    """Attributes that cost something to compute: at once on a span the SDK records; on
    a :class:`TailSpan` only when it is kept (most are dropped at their end). Where a key
    clashes, the attribute set explicitly wins, before or after."""
    if isinstance(span, TailSpan):
        span.defer_attributes(compute)
    elif span.is_recording():
        explicit: Mapping[str, types.AnyValue] = getattr(span, "attributes", None) or {}
        span.set_attributes({k: v for k, v in compute().items() if k not in explicit})


class TailSpan(trace.Span):
    """A span outside the ratio: kept (handed to the processors) only if it ends failed
    or slower than the provider's threshold."""

    __slots__ = (
        "_attributes",
        "_context",
        "_deferred",
        "_ended",
        "_events",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_provider",
        "_start",
        "_status",
    )

    def __init__(
        self,
        provider: TailSamplingTracerProvider,
        name: str,
        context: trace.SpanContext,
        parent: trace.SpanContext | None,
        kind: trace.SpanKind,
        attributes: dict[str, types.AnyValue],
        links: list[trace.Link],
        start: int,
    ) -> None:
        self._provider = provider
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._links = links
        self._events: list[Event] = []
        self._deferred: list[DeferredAttributes] = []
        self._start = start
        self._status = trace.Status(trace.StatusCode.UNSET)
        self._ended = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def attributes(self) -> Mapping[str, types.AnyValue]:
        self._resolve_deferred()
        return self._attributes

    def defer_attributes(self, compute: DeferredAttributes) -> None:
        """Attributes computed only if the span is kept (or read)."""
        if not self._ended:
            self._deferred.append(compute)

    def _resolve_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for compute in deferred:
            # Set before: what the span was given explicitly wins, as if set after.
            self._attributes = {**compute(), **self._attributes}

    def get_span_context(self) -> trace.SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if not self._ended:
            self._attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if not self._ended:
            self._attributes[key] = value

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if not self._ended:
            self._events.append(Event(name, attributes, timestamp))

    def add_link(self, context: trace.SpanContext, attributes: types.Attributes = None) -> None:
        if not self._ended:
            self._links.append(trace.Link(context, attributes))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(
        self, status: trace.Status | trace.StatusCode, description: str | None = None
    ) -> None:
        # As the SDK's spans: an OK status is final.
        if self._ended or self._status.status_code is trace.StatusCode.OK:
            return
        if isinstance(status, trace.Status):
            self._status = status
        else:
            self._status = trace.Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        event: dict[str, types.AnyValue] = {
            "exception.type": f"{module}.{qualname}" if module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        end = end_time or time.time_ns()
        provider = self._provider
        failed = self._status.status_code is trace.StatusCode.ERROR
        if failed or end - self._start >= provider.slow_ns:
            self._resolve_deferred()
            provider.keep(
                ReadableSpan(
                    name=self._name,
                    context=self._context,
                    parent=self._parent,
                    resource=provider.resource,
                    attributes=self._attributes,
                    events=self._events,
                    links=self._links,
                    kind=self._kind,
                    status=self._status,
                    start_time=self._start,
                    end_time=end,
                    instrumentation_scope=_SCOPE,
                )
            )


# What the relay may rewrite by itself: W3C trace context and baggage, nothing else.
_W3C_FIELDS = frozenset({"traceparent", "tracestate", "baggage"})
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _remote_parent(carrier: Mapping[str, str]) -> trace.SpanContext | None:
    """The span context of a W3C ``traceparent`` of version 00, as the propagator reads it."""
    found = _TRACEPARENT.fullmatch(carrier.get("traceparent", "").strip())
    if found is None:
        return None
    trace_id, span_id = int(found[1], 16), int(found[2], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(int(found[3], 16))
    )


def start_child_span(
    tracer: trace.Tracer,
    name: str,
    carrier: Mapping[str, str],
    kind: trace.SpanKind,
    attributes: types.Attributes,
) -> tuple[trace.Span, dict[str, str]]:
    """A span under the trace context in ``carrier`` (a Kafka record's headers, an outbox
    row's), not made current, and the carrier of what follows it (``carrier`` with this
    span as the parent). The caller ends the span.

    The relay and the consumers make thousands of these a second and keep almost none.
    Outside the ratio the span is a :class:`TailSpan` made straight from the carrier's
    ``traceparent`` and the new carrier gets its ``traceparent`` by formatting, instead
    of extracting a context and injecting it again. Inside the ratio, without a valid
    ``traceparent``, or with propagators other than W3C's: the SDK's way."""
    provider = trace.get_tracer_provider()
    parent = _remote_parent(carrier)
    if (
        isinstance(provider, TailSamplingTracerProvider)
        and parent is not None
        and propagate.get_global_textmap().fields <= _W3C_FIELDS
        and not trace_in_ratio(parent.trace_id, provider.sample_ratio)
    ):
        span = provider.light_span(name, parent.trace_id, parent, kind, attributes)
        own = span.get_span_context()
        return span, {**carrier, "traceparent": f"00-{own.trace_id:032x}-{own.span_id:016x}-01"}
    started = tracer.start_span(
        name, context=propagate.extract(carrier), kind=kind, attributes=attributes
    )
    injected: dict[str, str] = {}
    propagate.inject(injected, context=trace.set_span_in_context(started))
    return started, {**carrier, **injected}


@contextmanager
def producer_span(
    tracer: trace.Tracer, name: str, carrier: Mapping[str, str], attributes: types.Attributes
) -> Iterator[tuple[trace.Span, dict[str, str]]]:
    """A PRODUCER span under the trace context a record was written with, and the carrier
    its consumers get (see :func:`start_child_span`); failures recorded as
    ``trace.use_span`` records them."""
    span, outgoing = start_child_span(tracer, name, carrier, trace.SpanKind.PRODUCER, attributes)
    try:
        yield span, outgoing
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        span.end()
