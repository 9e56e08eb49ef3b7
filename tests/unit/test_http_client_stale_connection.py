"""A pooled connection the server closed while it idled fails the next request sent on
it before any answer. The client sends a request that is harmless to repeat (a GET, a
POST marked ``repeatable``) once more on a new connection; any other request reports the
doubtful failure as it was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.runtime.http_client import STALE_CONNECTION, HttpClient, TransportError

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"


class StaleServer:
    """Answers the first request of its first connection and keeps that connection open;
    the next request on it is read and the connection closed without an answer (the
    server's idle timer firing as the request arrives). Later connections are answered."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request line)
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.requests.append((number, head.split(b"\r\n", 1)[0]))
                if number == 1 and len(self.requests) > 1:
                    break  # closed as it idled out
                writer.write(ANSWER + b'{"ok":true}')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[StaleServer, str]]:
    stale = StaleServer()
    listening = await asyncio.start_server(stale.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield stale, f"http://127.0.0.1:{port}/send"
    finally:
        listening.close()
        await listening.wait_closed()


async def _first_then(client: HttpClient, url: str) -> None:
    first = await client.post(url, json={"n": 1})  # opens the connection that goes stale
    assert first.status_code == 200


@pytest.mark.parametrize("repeatable", [True, False])
async def test_a_repeatable_post_is_sent_again_on_a_new_connection_and_no_other(
    server: tuple[StaleServer, str], repeatable: bool
) -> None:
    stale, url = server
    client = HttpClient(timeout=5.0, max_connections=1)
    try:
        await _first_then(client, url)
        if repeatable:
            answer = await client.post(url, json={"n": 2}, repeatable=True)
            assert answer.json() == {"ok": True}
            assert [n for n, _ in stale.requests] == [1, 1, 2]  # once more, elsewhere
        else:
            with pytest.raises(TransportError) as failed:
                await client.post(url, json={"n": 2})
            assert failed.value.kind == STALE_CONNECTION
            assert failed.value.never_arrived is False  # doubtful: it may have arrived
            assert [n for n, _ in stale.requests] == [1, 1]  # not repeated
    finally:
        await client.aclose()


async def test_a_get_is_repeatable_by_nature(server: tuple[StaleServer, str]) -> None:
    stale, url = server
    client = HttpClient(timeout=5.0, max_connections=1)
    try:
        await _first_then(client, url)
        answer = await client.get(url)
        assert answer.status_code == 200
        assert [line.split(b" ")[0] for _, line in stale.requests] == [b"POST", b"GET", b"GET"]
    finally:
        await client.aclose()
