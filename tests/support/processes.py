"""Start the real services as separate processes, as `make run` does."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.infra import REPO

LOG_DIR = REPO / "test-artifacts" / "logs"


# Below Linux's ephemeral range (32768+): a port the kernel hands out (bind to 0) is an
# ephemeral one, and an outgoing connection (to Kafka, PostgreSQL) can take it before the
# service binds it. Ports handed out once are not handed out again in this run.
PORT_RANGE = (20000, 32000)
_handed_out: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now and this run has not handed out."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(*PORT_RANGE)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        ports.append(port)
    return ports


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class ServiceProcess:
    name: str
    module: str
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.env.get('TOPIC_PREFIX', '')}{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **self.env, **(extra_env or {}), "PORT": str(self.port)}
        env["PYTHONPATH"] = str(REPO)
        log = self.log_path.open("ab")
        # Its own process group: with WORKERS > 1 uvicorn's worker processes must go down
        # with the service (a SIGKILL of the supervisor alone leaves them running).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL to the service and its workers: no chance to flush or clean up, like a
        crashed machine."""
        if self.proc is not None and self.proc.poll() is None:
            self._kill_group()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            self._kill_group()  # a worker still running after its supervisor left

    def _kill_group(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
