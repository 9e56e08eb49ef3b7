"""A throw-away Kafka broker that only speaks SASL/SCRAM-SHA-512 (tests of transport security).

It runs the same Kafka 4.1 jars as ``deploy/kafka/kafka.sh`` (KRaft, one node acting as
controller and broker) on ports of its own, with its data under ``.local/``. Clients
reach it only through a ``SASL_PLAINTEXT`` listener with SCRAM-SHA-512; the broker itself
uses that listener too (as user ``broker``), and the controller listener is on loopback.
The SCRAM credentials are written at format time (``kafka-storage format --add-scram``),
as KRaft requires before the first start.

Run it by hand with ``python -m tests.support.scram_broker`` (prints the settings to use).

Where the jars come from: ``KAFKA_LIBS`` if set, else this checkout's ``.cache/kafka/libs``,
else the main checkout's (a git worktree shares the main checkout's cache), else
``deploy/kafka/kafka.sh fetch`` downloads them into this checkout's cache.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.infra import REPO
from tests.support.processes import free_port

USERNAME = "onestop"
MECHANISM = "SCRAM-SHA-512"
BROKER_MAIN = "kafka.Kafka"
STORAGE_MAIN = "kafka.tools.StorageTool"
HEAP = ["-Xms128m", "-Xmx256m", "-XX:MaxDirectMemorySize=128m", "-XX:+UseSerialGC"]


def _has_jars(libs: Path) -> bool:
    return any(libs.glob("kafka_2.13-*.jar"))


def kafka_libs() -> Path:
    """The directory of Kafka broker jars, fetched from Maven Central if nowhere yet."""
    candidates: list[Path] = []
    if os.environ.get("KAFKA_LIBS"):
        candidates.append(Path(os.environ["KAFKA_LIBS"]))
    candidates.append(REPO / ".cache" / "kafka" / "libs")
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if common:
        candidates.append(Path(common).parent / ".cache" / "kafka" / "libs")
    for libs in candidates:
        if _has_jars(libs):
            return libs
    subprocess.run([str(REPO / "deploy" / "kafka" / "kafka.sh"), "fetch"], check=True, cwd=REPO)
    return REPO / ".cache" / "kafka" / "libs"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("no java on PATH: Kafka 4 needs Java 17+ (or set JAVA_HOME)")
    return found


def kraft_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid`` it never starts with ``-``: the storage
    tool would read such an id as an option and refuse to format (1 run in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass
class ScramBroker:
    """One broker process: ``bootstrap`` is its SASL_PLAINTEXT listener."""

    password: str
    state: Path
    port: int
    controller_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    def _write_config(self, broker_password: str) -> Path:
        data = self.state / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="broker" password="{broker_password}";'
        )
        props = self.state / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=SASL://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=SASL://127.0.0.1:{self.port}",
                    "listener.security.protocol.map=SASL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=SASL",
                    "controller.listener.names=CONTROLLER",
                    f"sasl.enabled.mechanisms={MECHANISM}",
                    f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
                    f"listener.name.sasl.scram-sha-512.sasl.jaas.config={jaas}",
                    f"log.dirs={data}",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "num.network.threads=1",
                    "num.io.threads=2",
                    "background.threads=2",
                    "num.recovery.threads.per.data.dir=1",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        (self.state / "log4j2.properties").write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = file",
                    f"appender.file.fileName = {self.logs / 'server.log'}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = INFO",
                    "rootLogger.appenderRef.file.ref = file",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        return props

    def _jvm(self, java: str) -> list[str]:
        return [
            java,
            *HEAP,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.state / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{kafka_libs()}/*",
        ]

    def start(self, timeout: float = 120.0) -> None:
        java = _java()
        broker_password = uuid.uuid4().hex
        props = self._write_config(broker_password)
        cluster_id = kraft_cluster_id()
        format_log = self.logs / "format.log"
        with format_log.open("wb") as out:
            subprocess.run(
                [
                    *self._jvm(java),
                    STORAGE_MAIN,
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--add-scram",
                    f"{MECHANISM}=[name={USERNAME},password={self.password}]",
                    "--add-scram",
                    f"{MECHANISM}=[name=broker,password={broker_password}]",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        out_log = (self.logs / "kafka.out").open("ab")
        self.proc = subprocess.Popen(
            [*self._jvm(java), BROKER_MAIN, str(props)],
            stdin=subprocess.DEVNULL,
            stdout=out_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out_log.close()
        server_log = self.logs / "server.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the SCRAM broker exited: {self.tail()}")
            if server_log.exists() and "Kafka Server started" in server_log.read_text(
                encoding="utf-8", errors="replace"
            ):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SCRAM broker did not start in {timeout:.0f}s: {self.tail()}")

    def tail(self, lines: int = 30) -> str:
        texts = []
        for name in ("kafka.out", "server.log"):
            path = self.logs / name
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace")
                texts.append("\n".join(text.splitlines()[-lines:]))
        return "\n".join(texts)

    def stop(self) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after 20 s; then delete its data."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.state, ignore_errors=True)


def scram_broker() -> ScramBroker:
    """A new broker (not started) with a random password for ``onestop``."""
    state = REPO / ".local" / f"kafka-scram-{uuid.uuid4().hex[:8]}"
    return ScramBroker(
        password=uuid.uuid4().hex,
        state=state,
        port=free_port(),
        controller_port=free_port(),
    )


if __name__ == "__main__":  # try the settings by hand: python -m tests.support.scram_broker
    broker = scram_broker()
    broker.start()
    print(
        f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap} KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
        f" KAFKA_SASL_MECHANISM={MECHANISM} KAFKA_SASL_USERNAME={USERNAME}"
        f" KAFKA_SASL_PASSWORD={broker.password}\nCtrl-C stops the broker and deletes its data."
    )
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
