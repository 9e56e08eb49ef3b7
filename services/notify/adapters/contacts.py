"""Contact details fetched from intake by reference, only at the moment of sending.

A batch of messages asks once: ``POST /internal/v1/contacts:batch`` with every reference
of the batch (in chunks of `BATCH_LIMIT`). An intake without that endpoint (404/405,
e.g. during a rolling upgrade) is asked one reference at a time as before. The answers
live in memory for the batch only and are never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from services.notify.domain.model import Contact

__all__ = ["BATCH_LIMIT", "Contact", "ContactDirectory", "ContactNotFound", "LookupResult"]

BATCH_LIMIT = 500  # references per request (intake refuses more)
LookupResult = Contact | Exception


class ContactNotFound(Exception):
    """Intake knows no such reference: the message can never be sent."""


def _contact(body: dict[str, Any]) -> Contact:
    return Contact(
        full_name=body["full_name"],
        phone=body["phone"],
        email=body.get("email"),
        procedure_code=body.get("procedure_code"),
    )


class ContactDirectory:
    def __init__(
        self, client: httpx.AsyncClient, intake_url: str, token: str, concurrency: int = 16
    ) -> None:
        self._client = client
        self._url = intake_url.rstrip("/")
        self._token = token
        self._concurrency = concurrency
        self._batch_supported = True

    async def fetch(self, contact_ref: str) -> Contact:
        response = await _once_more_if_stale(
            lambda: self._client.get(
                f"{self._url}/internal/v1/contacts/{contact_ref}",
                headers={"X-Service-Token": self._token},
                timeout=5.0,
            )
        )
        if response.status_code == httpx.codes.NOT_FOUND:
            raise ContactNotFound(contact_ref)
        response.raise_for_status()
        return _contact(response.json())

    async def fetch_many(self, refs: Iterable[str]) -> dict[str, LookupResult]:
        """Every reference's contact, `ContactNotFound`, or the error that prevented the
        look-up (retried with the message later)."""
        wanted = sorted(set(refs))
        found: dict[str, LookupResult] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            chunk = wanted[start : start + BATCH_LIMIT]
            if self._batch_supported:
                try:
                    found.update(await self._batch(chunk))
                    continue
                except _NoBatchEndpoint:
                    self._batch_supported = False
                except (httpx.HTTPError, OSError, KeyError, ValueError, TypeError) as exc:
                    found.update(dict.fromkeys(chunk, exc))
                    continue
            found.update(await self._one_by_one(chunk))
        return found

    async def _batch(self, refs: list[str]) -> dict[str, LookupResult]:
        response = await _once_more_if_stale(
            lambda: self._client.post(
                f"{self._url}/internal/v1/contacts:batch",
                json={"refs": refs},
                headers={"X-Service-Token": self._token},
                timeout=10.0,
            )
        )
        if response.status_code in (httpx.codes.NOT_FOUND, httpx.codes.METHOD_NOT_ALLOWED):
            raise _NoBatchEndpoint
        response.raise_for_status()
        body = response.json()
        contacts = body["contacts"]
        result: dict[str, LookupResult] = {}
        for ref in refs:
            entry = contacts.get(ref)
            result[ref] = _contact(entry) if entry is not None else ContactNotFound(ref)
        return result

    async def _one_by_one(self, refs: list[str]) -> dict[str, LookupResult]:
        gate = asyncio.Semaphore(self._concurrency)

        async def one(ref: str) -> tuple[str, LookupResult]:
            async with gate:
                try:
                    return ref, await self.fetch(ref)
                except (ContactNotFound, httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                    return ref, exc

        return dict(await asyncio.gather(*(one(r) for r in refs)))


async def _once_more_if_stale(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """A look-up only reads, so one that met a kept-alive connection intake had just
    closed (the server went away without any answer) is sent once more, on a fresh
    connection, rather than failing every message of the batch until their retry."""
    try:
        return await send()
    except httpx.RemoteProtocolError:
        return await send()


class _NoBatchEndpoint(Exception):
    """This intake has no batch look-up."""
