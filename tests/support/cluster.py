"""A 3-node Kafka cluster for one test run, started by the project's own script
(``deploy/kafka/kafka.sh`` with ``KAFKA_CLUSTER``) on ports and in a folder of its own, so
the shared single broker is never touched. Nodes can be killed (SIGKILL) and restarted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.infra import REPO
from tests.support.processes import free_ports

SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"


@dataclass
class KafkaCluster:
    state: Path
    nodes: int = 3
    heap: str = "-Xms128m -Xmx256m"
    broker_ports: list[int] = field(default_factory=list)
    controller_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.broker_ports:
            ports = free_ports(2 * self.nodes)
            self.broker_ports, self.controller_ports = ports[: self.nodes], ports[self.nodes :]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.broker_ports)

    @property
    def log(self) -> Path:
        return self.state / "kafka.sh.log"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env.update(
            KAFKA_CLUSTER=str(self.nodes),
            KAFKA_STATE_DIR=str(self.state),
            KAFKA_PORTS=",".join(map(str, self.broker_ports)),
            KAFKA_CONTROLLER_PORTS=",".join(map(str, self.controller_ports)),
            KAFKA_HEAP_OPTS=self.heap,
            KAFKA_WAIT_TIMEOUT="120",
        )
        return env

    def _script(self, *args: str) -> str:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            done = subprocess.run(
                [str(SCRIPT), *args],
                env=self._env(),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{tail}")
        return done.stdout.strip()

    def start(self, node: int | None = None) -> None:
        self._script("start", *([str(node)] if node else []))

    def wait(self) -> None:
        """Until every node answers and is in the cluster's metadata."""
        self._script("wait")

    def pid(self, node: int) -> int:
        return int(self._script("pid", str(node)))

    def kill(self, node: int) -> None:
        """SIGKILL, like a machine that lost power: no controlled shutdown."""
        pid = self.pid(node)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)

    def stop(self) -> None:
        self._script("stop")

    def remove(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
