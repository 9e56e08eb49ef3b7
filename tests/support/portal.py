"""A portal's side of a submission, as the contract asks portals to behave."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def submit_as_portal(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    attempts: int = 10,
) -> httpx.Response:
    """POST a submission; a 503 (nothing was stored) is sent again after its
    ``Retry-After``, and so is a dropped connection when the request carries an
    ``Idempotency-Key`` (intake answers the same receipt). The last answer is returned."""
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = await client.post(url, json=body, headers=headers)
        except httpx.TransportError:
            if last or "Idempotency-Key" not in headers:
                raise
            continue
        if response.status_code != 503 or last:
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    raise AssertionError("unreachable")
