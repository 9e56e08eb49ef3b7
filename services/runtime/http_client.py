"""An HTTP client for calls made per message (the SMS and Zalo gateways, receipts).

httpx spends about 1.7 ms of CPU per request on a pooled keep-alive connection (its pool
checks every connection's socket for each request); aiohttp spends about 0.12 ms on the
same exchange (measured side by side on the project's 2-core box). At one or two gateway
calls per message that was most of notify's CPU, so the per-message paths use this thin
wrapper over aiohttp, and the rest of the code keeps httpx.

Responses are read whole (gateway answers are small) and handed back as a plain value;
transport errors become one `TransportError` that says whether the request can have
reached the other side, which is what a sender must know before trying elsewhere.

A pooled connection the server closed while it idled (its keep-alive timeout: uvicorn's
is 5 s) fails the next request sent on it with "server disconnected" before any answer.
Such a failure tells nothing, so a request that is harmless to repeat (a GET, or a POST
the caller marks ``repeatable``: the gateways dedupe on the request id) is sent once more
on a new connection instead of reporting a doubtful send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

MAX_RESPONSE_BYTES = 1 << 20  # a gateway's answer is a few hundred bytes
STALE_CONNECTION = aiohttp.ServerDisconnectedError.__name__


class TransportError(Exception):
    """No HTTP answer. `never_arrived`: the request cannot have reached the server (the
    connection was never made, or no connection was free in time)."""

    def __init__(self, kind: str, never_arrived: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.never_arrived = never_arrived


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


class HttpClient:
    """Keep-alive connections to a few hosts, at most `max_connections` at once (callers
    wait for a free one inside `timeout`). Create it anywhere; the session is opened on
    the first request, inside the running loop."""

    def __init__(self, timeout: float = 10.0, max_connections: int = 16) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=timeout)
        self._limit = max(1, max_connections)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit),
                timeout=self._timeout,
                # Gateways are called with exactly the URL configured: no redirects, no
                # cookies, no proxy settings picked up from the environment.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        return await self._request("GET", url, True, params=params, headers=headers)

    async def post(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool = False,
    ) -> HttpResponse:
        return await self._request(
            "POST", url, repeatable, params=params, json=json, data=content, headers=headers
        )

    async def _request(
        self, method: str, url: str, repeatable: bool, **kwargs: Any
    ) -> HttpResponse:
        if repeatable:
            try:
                return await self._exchange(method, url, **kwargs)
            except TransportError as exc:
                if exc.kind != STALE_CONNECTION:
                    raise
        return await self._exchange(method, url, **kwargs)

    async def _exchange(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        session = self._open()
        try:
            async with session.request(method, url, allow_redirects=False, **kwargs) as response:
                body = await response.content.read(MAX_RESPONSE_BYTES)
                # Header names stay case-insensitive, as HTTP has them.
                return HttpResponse(response.status, body, CIMultiDict(response.headers))
        except aiohttp.ConnectionTimeoutError as exc:
            # Waiting for a connection (from the pool or the TCP handshake) timed out.
            raise TransportError("ConnectTimeout", never_arrived=True) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError("ConnectError", never_arrived=True) from exc
        except aiohttp.InvalidURL as exc:
            raise TransportError("InvalidURL", never_arrived=True) from exc
        except TimeoutError as exc:
            raise TransportError("ReadTimeout", never_arrived=False) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(type(exc).__name__, never_arrived=False) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
