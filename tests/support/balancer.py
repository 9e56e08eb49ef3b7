"""A round-robin TCP balancer in front of a service's instances, as a Kubernetes Service
or a load balancer would be: each new connection goes to the next instance, and to the
one after it when that one refuses (killed, restarting). Connections in flight to an
instance that dies are cut, as they would be; clients retry."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading

from tests.support.processes import free_port


class Balancer:
    def __init__(self, ports: list[int]) -> None:
        self.targets = list(ports)
        self.port = free_port()
        self._next = itertools.cycle(range(len(self.targets)))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._forward, "127.0.0.1", self.port, reuse_address=True
        )

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        first = next(self._next)
        for i in range(len(self.targets)):
            port = self.targets[(first + i) % len(self.targets)]
            with contextlib.suppress(OSError):
                return await asyncio.open_connection("127.0.0.1", port)
        return None

    async def _forward(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        upstream = await self._connect()
        if upstream is None:
            client_w.transport.abort()
            return
        upstream_r, upstream_w = upstream

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pump(client_r, upstream_w), pump(upstream_r, client_w))
