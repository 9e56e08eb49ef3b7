"""Notify's contact look-ups at intake: a connection intake closed while it sat idle in
the pool costs one more request, not a failed batch of messages."""

from __future__ import annotations

import json

import httpx

from services.notify.adapters.contacts import ContactDirectory, ContactNotFound

INTAKE = "http://intake.test"
ANNA = {"full_name": "Nguyễn Thị An", "phone": "0912345678", "email": "an@example.vn"}


def _directory(handler: httpx.MockTransport) -> ContactDirectory:
    return ContactDirectory(httpx.AsyncClient(transport=handler), INTAKE, "token")


class _Intake:
    """Intake's batch look-up; the first ``drop`` requests meet a closed connection."""

    def __init__(self, drop: int) -> None:
        self.drop = drop
        self.requests: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        refs = json.loads(request.content)["refs"]
        self.requests.append(refs)
        if len(self.requests) <= self.drop:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"contacts": {"ref-an": ANNA}})


async def test_a_batch_that_met_a_closed_connection_is_asked_once_more() -> None:
    intake = _Intake(drop=1)
    found = await _directory(httpx.MockTransport(intake)).fetch_many(["ref-an", "ref-gone"])
    assert len(intake.requests) == 2
    assert found["ref-an"].phone == "0912345678"  # type: ignore[union-attr]
    assert isinstance(found["ref-gone"], ContactNotFound)


async def test_an_intake_that_keeps_dropping_fails_the_batch_after_one_retry() -> None:
    intake = _Intake(drop=5)
    found = await _directory(httpx.MockTransport(intake)).fetch_many(["ref-an"])
    assert len(intake.requests) == 2  # one retry, not a loop
    assert isinstance(found["ref-an"], httpx.RemoteProtocolError)


async def test_a_refusal_is_not_retried() -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    found = await _directory(httpx.MockTransport(refuse)).fetch_many(["ref-an"])
    assert len(calls) == 1
    assert isinstance(found["ref-an"], httpx.HTTPStatusError)
