"""A client cannot mint metric series or span names: labels come from route templates.

The attacker requests many paths no route matches (and methods nobody uses), hoping each
becomes its own ``http_request_duration_seconds`` series and span name, until Prometheus
and the span store run out of memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime import http
from services.runtime.metrics import HTTP_LATENCY


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(http, "tracer", lambda: provider.get_tracer("test"))
    return exporter


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    http.install_tracing_middleware(app, "labels-test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def route_labels() -> set[str]:
    return {
        sample.labels["route"]
        for metric in HTTP_LATENCY.collect()
        for sample in metric.samples
        if "route" in sample.labels
    }


def method_labels() -> set[str]:
    return {
        sample.labels["method"]
        for metric in HTTP_LATENCY.collect()
        for sample in metric.samples
        if "method" in sample.labels
    }


async def test_unknown_paths_share_one_label_and_one_span_name(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    paths = [f"/probe/{uuid.uuid4().hex}/{n}" for n in range(50)]
    for path in paths:
        assert (await client.get(path)).status_code == 404
    assert (await client.get("/v1/things/abc")).status_code == 200

    labels = route_labels()
    assert not any(path in label for path in paths for label in labels)
    assert http.UNMATCHED_ROUTE in labels
    assert "/v1/things/{thing_id}" in labels
    names = [span.name for span in spans.get_finished_spans()]
    assert len(names) == 51
    assert set(names) == {f"GET {http.UNMATCHED_ROUTE}", "GET /v1/things/{thing_id}"}
    routes = {(span.attributes or {}).get("http.route") for span in spans.get_finished_spans()}
    assert routes == {http.UNMATCHED_ROUTE, "/v1/things/{thing_id}"}


async def test_made_up_methods_share_one_label(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    methods = [f"X{uuid.uuid4().hex[:8].upper()}" for _ in range(10)]
    for method in methods:
        assert (await client.request(method, "/v1/things/abc")).status_code == 405
    assert not set(methods) & method_labels()
    assert http.OTHER_METHOD in method_labels()
    names = {span.name for span in spans.get_finished_spans()}
    assert names == {f"{http.OTHER_METHOD} /v1/things/{{thing_id}}"}
