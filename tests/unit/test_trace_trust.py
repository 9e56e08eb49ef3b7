"""A client's ``traceparent`` is not authority: only trusted callers continue a trace.

The attacker knows (or guesses) the trace id of another dossier's submission and sends it
as ``traceparent`` on their own requests, hoping their spans (naming a dossier of theirs)
join that trace, so that whoever may see their dossier may see the victim's trace.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime import http
from services.runtime.credentials import ServiceCredentials, dev_service_token, dev_trusted_tokens

PORTAL_KEY = "ok_portal-key-of-a-real-portal"
VICTIM_TRACE = secrets.token_hex(16)
VICTIM_PARENT = f"00-{VICTIM_TRACE}-{secrets.token_hex(8)}-01"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(http, "tracer", lambda: provider.get_tracer("test"))
    return exporter


async def portal_hook(headers: Mapping[str, str]) -> bool:
    return headers.get("x-api-key") == PORTAL_KEY


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/v1/dossiers/{ref}")
    async def dossier(ref: str) -> dict[str, str]:
        return {"ref": ref}

    app.state.runtime = SimpleNamespace(
        credentials=ServiceCredentials(dev_trusted_tokens()),
        state={http.TRACE_TRUST_HOOK: portal_hook},
        pool=None,
    )
    http.install_tracing_middleware(app, "trust-test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def server_span_trace(spans: InMemorySpanExporter) -> tuple[str, ReadableSpan]:
    (span,) = spans.get_finished_spans()
    spans.clear()
    assert span.context is not None
    return format(span.context.trace_id, "032x"), span


async def test_an_anonymous_traceparent_starts_a_new_trace(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    answer = await client.get("/v1/dossiers/mine", headers={"traceparent": VICTIM_PARENT})
    assert answer.status_code == 200
    trace_id, span = server_span_trace(spans)
    assert trace_id != VICTIM_TRACE
    assert span.parent is None
    # Kept for support as an attribute, re-formatted from the parsed ids only.
    assert (span.attributes or {})[http.UNTRUSTED_PARENT] == VICTIM_PARENT


async def test_wrong_credentials_and_keys_do_not_make_a_caller_trusted(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    for headers in (
        {"X-Service-Token": "dev-nobody-token-change-me"},
        {"X-API-Key": "ok_guessed"},
        {"Authorization": "Bearer whatever"},  # an operator token is not trace authority
    ):
        await client.get("/v1/dossiers/mine", headers={**headers, "traceparent": VICTIM_PARENT})
        trace_id, span = server_span_trace(spans)
        assert trace_id != VICTIM_TRACE, headers
        assert span.parent is None


async def test_a_malformed_traceparent_is_dropped_without_a_trace_of_it(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await client.get("/v1/dossiers/mine", headers={"traceparent": "00-<script>-xx-01"})
    _, span = server_span_trace(spans)
    assert http.UNTRUSTED_PARENT not in (span.attributes or {})


async def test_a_service_credential_or_a_portal_key_continues_the_trace(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    for headers in (
        {"X-Service-Token": dev_service_token("routing")},
        {"X-API-Key": PORTAL_KEY},
    ):
        await client.get("/v1/dossiers/mine", headers={**headers, "traceparent": VICTIM_PARENT})
        trace_id, span = server_span_trace(spans)
        assert trace_id == VICTIM_TRACE, headers
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") == VICTIM_PARENT.split("-")[2]
        assert http.UNTRUSTED_PARENT not in (span.attributes or {})
