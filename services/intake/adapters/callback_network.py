"""The network edge of status callbacks: resolve a callback host, vet it, connect to it.

The decision is :mod:`services.intake.domain.callback_targets`; this module does the DNS
look-up and the connection. :class:`VettingBackend` sits under httpx's connection pool:
for every new connection it resolves the host once, refuses the lot if any address is
not allowed, and connects to one of the addresses it vetted (never to a fresh look-up),
while the request keeps the URL's host in the ``Host`` header and in TLS SNI and
certificate checks.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from services.intake.domain.callback_targets import (
    NetworkPolicy,
    RefusedTarget,
    destination_refusal,
    parse_address,
    parse_callback_url,
)

Resolver = Callable[[str, int], Awaitable[list[str]]]
SocketOption = httpcore.SOCKET_OPTION


class DestinationRefused(httpx.TransportError):
    """The callback host resolves to an address callbacks may not reach; not retried."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection (system resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _addresses(host: str, port: int, resolver: Resolver, within: float) -> list[str]:
    async with asyncio.timeout(within):
        return await resolver(host, port)


async def registration_refusal(
    url: str, policy: NetworkPolicy, resolver: Resolver = resolve, resolve_seconds: float = 5.0
) -> str | None:
    """Why ``url`` may not be registered as a callback, or None if it may (for now)."""
    try:
        target = parse_callback_url(url)
    except RefusedTarget as refused:
        return refused.reason
    if target.literal is not None:
        return destination_refusal([target.literal], policy)
    try:
        addresses = await _addresses(target.host, target.port, resolver, resolve_seconds)
    except (OSError, TimeoutError, UnicodeError):
        return "the host does not resolve"
    refusal = destination_refusal(addresses, policy)
    # The portal learns that its name points somewhere it may not, not where.
    return None if refusal is None else "the host resolves to an address that is not public"


class VettingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = parse_address(host)
        try:
            addresses = (
                [str(literal)]
                if literal is not None
                else await _addresses(host, port, self.resolver, timeout or 30.0)
            )
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {type(exc).__name__}") from exc
        if refusal := destination_refusal(addresses, self.policy):
            raise DestinationRefused(f"{host}: {refusal}")
        failure: Exception = httpcore.ConnectError(f"cannot connect to {host}")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("callbacks never go to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class VettingTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a :class:`VettingBackend`; no proxy from the environment
    (a proxy would connect for us, to addresses we never vetted)."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolver: Resolver = resolve,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=VettingBackend(policy, resolver),
        )


def callback_client(
    policy: NetworkPolicy, timeout: float, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The client deliveries go through: vetted connections, redirects never followed."""
    return httpx.AsyncClient(
        transport=VettingTransport(policy, resolver),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
