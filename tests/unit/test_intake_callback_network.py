"""The callback sender's network edge, against local listeners on 127.0.0.1.

A portal tries to make intake call inside the network: with a name that resolves to
loopback, with DNS that changes its answer after registration (rebinding), with a
redirect to another internal listener. Each attempt is refused, and the listener it
aimed at never sees a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import pytest

from services.intake.adapters.callback_network import (
    VettingBackend,
    callback_client,
    registration_refusal,
)
from services.intake.adapters.webhook_sender import send_one
from services.intake.domain.callback_targets import NetworkPolicy, parse_networks

DEFAULT = NetworkPolicy()
LOOPBACK_ALLOWED = NetworkPolicy(allowed_networks=parse_networks("127.0.0.1/32"))
PUBLIC_ADDRESS = "203.113.131.1"


@dataclass
class Listener:
    """A bare HTTP/1.1 listener that records what reaches it."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            request = {"request-line": lines[0]}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    request[name.strip().lower()] = value.strip()
            await reader.readexactly(int(request.get("content-length", "0")))
            self.requests.append(request)
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            writer.write(
                f"HTTP/1.1 {self.status} X\r\n{extra}Content-Length: 0\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def listen() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(**kwargs: Any) -> Listener:
        listener = Listener(**kwargs)
        server = await asyncio.start_server(listener.handle, "127.0.0.1", 0)
        listener.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return listener

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


class FakeDns:
    """Answers from a table, in turn per name (the last answer repeats); counts look-ups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        turns = self.answers.get(host)
        if not turns:
            raise OSError(f"unknown host {host}")
        return turns.pop(0) if len(turns) > 1 else turns[0]


async def deliver(url: str, policy: NetworkPolicy, dns: FakeDns | None = None) -> Any:
    client = callback_client(policy, timeout=5.0, resolver=dns or FakeDns({}))
    async with client:
        return await send_one(client, url, "secret", 1, b'{"status": 2}')


# -- at registration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001/v1/admin/portals",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://0.0.0.0:5432/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
)
async def test_registration_refuses_urls_that_reach_inside(url: str) -> None:
    dns = FakeDns({})
    assert await registration_refusal(url, DEFAULT, resolver=dns) is not None
    assert dns.lookups == []  # literals and bad schemes need no look-up


async def test_registration_refuses_a_name_that_resolves_inside_without_saying_where() -> None:
    dns = FakeDns({"cb.portal.test": [["8.8.8.8", "10.1.2.3"]], "localhost": [["127.0.0.1"]]})
    refusal = await registration_refusal("https://cb.portal.test/cb", DEFAULT, resolver=dns)
    assert refusal == "the host resolves to an address that is not public"
    assert await registration_refusal("http://localhost:9/", DEFAULT, resolver=dns) is not None
    unknown = await registration_refusal("https://nowhere.portal.test/", DEFAULT, resolver=dns)
    assert unknown == "the host does not resolve"


async def test_registration_accepts_a_public_name_and_the_real_resolver_refuses_localhost() -> None:
    dns = FakeDns({"cb.portal.test": [[PUBLIC_ADDRESS]]})
    assert await registration_refusal("https://cb.portal.test/cb", DEFAULT, resolver=dns) is None
    assert await registration_refusal("http://localhost:9/cb", DEFAULT) is not None


# -- at send time -------------------------------------------------------------------------


async def test_a_name_resolving_to_loopback_is_refused_at_send_time_and_never_connected(
    listen: Callable[..., Any],
) -> None:
    target = await listen()
    dns = FakeDns({"localhost": [["127.0.0.1"]]})
    outcome = await deliver(f"http://localhost:{target.port}/cb", DEFAULT, dns)
    assert outcome.delivered is False
    assert outcome.retryable is False  # dead at once; an operator may replay it
    assert outcome.error.startswith("refused: localhost: 127.0.0.1 is not a public address")
    assert target.connections == 0


async def test_dns_rebinding_after_registration_gains_nothing(
    listen: Callable[..., Any],
) -> None:
    target = await listen()
    url = f"http://rebind.portal.test:{target.port}/cb"
    dns = FakeDns({"rebind.portal.test": [[PUBLIC_ADDRESS], ["127.0.0.1"]]})
    assert await registration_refusal(url, DEFAULT, resolver=dns) is None  # looked public
    outcome = await deliver(url, DEFAULT, dns)
    assert (outcome.delivered, outcome.retryable) == (False, False)
    assert "refused" in outcome.error
    assert target.connections == 0


async def test_a_literal_loopback_url_stored_earlier_is_refused_at_send_time(
    listen: Callable[..., Any],
) -> None:
    target = await listen()
    for url in (f"http://127.0.0.1:{target.port}/cb", f"http://[::ffff:127.0.0.1]:{target.port}/"):
        outcome = await deliver(url, DEFAULT)
        assert (outcome.delivered, outcome.retryable) == (False, False)
    assert target.connections == 0
    stored = await deliver("gopher://127.0.0.1:6379/_FLUSHALL", LOOPBACK_ALLOWED)
    assert (stored.delivered, stored.retryable) == (False, False)
    assert stored.error.startswith("refused: scheme 'gopher'")


async def test_the_sender_connects_to_the_vetted_address_and_keeps_the_host_header(
    listen: Callable[..., Any],
) -> None:
    target = await listen()
    dns = FakeDns({"cb.portal.test": [["127.0.0.1"], ["10.9.9.9"]]})
    outcome = await deliver(f"http://cb.portal.test:{target.port}/cb", LOOPBACK_ALLOWED, dns)
    assert outcome.delivered is True
    assert dns.lookups == ["cb.portal.test"]  # one look-up; httpx never resolved it again
    assert target.requests[0]["host"] == f"cb.portal.test:{target.port}"
    assert target.requests[0]["request-line"] == "POST /cb HTTP/1.1"


async def test_tls_is_started_with_the_url_host_as_sni_on_the_vetted_address(
    listen: Callable[..., Any],
) -> None:
    target = await listen()
    seen: dict[str, Any] = {}

    class Stream(httpcore.AsyncNetworkStream):
        async def start_tls(
            self,
            ssl_context: Any,
            server_hostname: str | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        ) -> httpcore.AsyncNetworkStream:
            seen["sni"] = server_hostname
            raise httpcore.ConnectError("stop here")

        async def aclose(self) -> None:
            return None

    class Recording(httpcore.AsyncNetworkBackend):
        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore.AsyncNetworkStream:
            seen["address"] = (host, port)
            return Stream()

    dns = FakeDns({"cb.portal.test": [["127.0.0.1"]]})
    backend = VettingBackend(LOOPBACK_ALLOWED, dns, inner=Recording())
    pool = httpcore.AsyncConnectionPool(network_backend=backend)
    with pytest.raises(httpcore.ConnectError):
        await pool.request("POST", f"https://cb.portal.test:{target.port}/cb")
    assert seen == {"address": ("127.0.0.1", target.port), "sni": "cb.portal.test"}


async def test_a_redirect_is_a_failed_delivery_and_never_followed(
    listen: Callable[..., Any],
) -> None:
    inside = await listen()
    redirecting = await listen(
        status=302, headers={"Location": f"http://127.0.0.1:{inside.port}/admin"}
    )
    outcome = await deliver(f"http://127.0.0.1:{redirecting.port}/cb", LOOPBACK_ALLOWED)
    assert (outcome.delivered, outcome.retryable) == (False, False)
    assert outcome.error == "HTTP 302: redirects are not followed"
    assert len(redirecting.requests) == 1
    assert inside.connections == 0


async def test_a_public_name_that_does_not_resolve_now_is_retried_later() -> None:
    outcome = await deliver("https://gone.portal.test/cb", DEFAULT, FakeDns({}))
    assert (outcome.delivered, outcome.retryable) == (False, True)
    assert outcome.error == "network: ConnectError"
