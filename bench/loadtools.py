"""The compiled HTTP load generators of `make bench`, and the CPU they use.

A Python client on this 2-core machine eats a large part of a core to offer a few
hundred requests per second, so HTTP load comes from compiled tools instead:

* ``wrk`` (Debian's package, closed loop: each connection sends its next request when
  the last one is answered), driven by ``bench/loadgen/intake.lua``;
* ``loadgen`` (``bench/loadgen/``, Go, standard library only), open loop at a fixed
  rate, since wrk 4 has no constant-rate mode.

``bench/loadgen/build.sh`` installs wrk when missing and builds loadgen. Each run reports
the tool's own CPU (user + system from ``/proc/<pid>/stat``, read once it has exited and
before it is reaped) beside its figures, as seconds and as a share of the machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOADGEN_DIR = REPO / "bench" / "loadgen"
LOADGEN = REPO / ".cache" / "loadgen" / "loadgen"
LUA = LOADGEN_DIR / "intake.lua"
# Traces kept at load as the Helm chart deploys them (tracing.sampleRatio); failed and slow
# spans are kept whatever the ratio. Every bench that starts services passes this on.
SAMPLE_RATIO = os.environ.get("BENCH_SAMPLE_RATIO", "0.1")


def ensure_tools() -> None:
    subprocess.run([str(LOADGEN_DIR / "build.sh")], check=True)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_program() -> dict[str, float]:
    """CPU seconds so far of every process on the machine, by program: PostgreSQL's
    backends, the JVMs (Kafka), each ``python -m`` module, everything else. Two readings'
    difference says where a phase's CPU went, the services' own cores and the rest."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if comm == "postgres":
            program = "postgresql"
        elif comm == "java":
            program = "java (kafka)"
        elif b"-m" in argv and argv.index(b"-m") + 1 < len(argv):
            program = argv[argv.index(b"-m") + 1].decode(errors="replace")
        else:
            program = "other"
        out[program] = out.get(program, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def _why(stderr: str) -> str:
    """A failed tool's own words: the exception lines of a stack trace (a trace's tail is
    frames only), else the end of what it wrote."""
    causes = [
        line.strip()
        for line in stderr.splitlines()
        if not line.lstrip().startswith("at ") and re.search(r"(Exception|Error)\b", line)
    ]
    return " | ".join(dict.fromkeys(causes))[:1500] if causes else stderr[-500:]


def run_measured(
    cmd: list[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a tool that prints one JSON object; add its CPU time and share of the machine."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, env=env)
        watchdog = threading.Timer(timeout, proc.kill)  # a hung tool must not hang the bench
        watchdog.start()
        try:
            out = _read_until_exit(proc, timeout)
            cpu = proc_cpu_seconds(proc.pid)  # a zombie until waited for: its stat is final
        finally:
            watchdog.cancel()
            if proc.poll() is None and not _is_zombie(proc.pid):
                proc.kill()
            proc.wait(10)
        errors.seek(0)
        err = errors.read()
    wall = time.perf_counter() - started
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {_why(err.decode())}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["client_cpu_s"] = round(cpu, 2)
    report["client_cpu_share_of_machine"] = round(cpu / wall / (os.cpu_count() or 1), 3)
    return report


def _read_until_exit(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """Its output to the end (the tool closes it when it exits), without reaping it."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    out = proc.stdout.read()  # EOF: the tool has exited (or was killed by the watchdog)
    # Wait for the exit itself without reaping: /proc/<pid>/stat stays until wait().
    while not _is_zombie(proc.pid):
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{proc.args!r} ran past {timeout} s")
        time.sleep(0.01)
    return out


def _is_zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in {"Z", "X"}


def bodies_file(bodies: list[dict[str, Any]]) -> Path:
    """The request bodies as JSON lines in a temporary file (the caller deletes it)."""
    fd, name = tempfile.mkstemp(prefix="bench-bodies-", suffix=".jsonl")
    with os.fdopen(fd, "w") as f:
        for body in bodies:
            f.write(json.dumps(body, ensure_ascii=False) + "\n")
    return Path(name)


def wrk(
    url: str, bodies: Path, api_key: str, seconds: float, connections: int = 8, threads: int = 2
) -> dict[str, Any]:
    """Closed loop: ``connections`` clients back to back for ``seconds``."""
    prefix = f"wrk{time.time_ns()}"
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s"]
    cmd += ["-s", str(LUA), url, "--", str(bodies), api_key, prefix]
    report = run_measured(cmd, timeout=seconds + 60)
    report["connections"] = connections
    return report


def open_loop(
    url: str,
    bodies: Path,
    api_key: str,
    rate: float,
    seconds: float,
    max_inflight: int = 256,
    record: Path | None = None,
) -> dict[str, Any]:
    """Open loop at ``rate`` requests per second for ``seconds``; with ``record``, the
    tool writes each accepted dossier's id and the moment its request was due there."""
    cmd = [str(LOADGEN), "-url", url, "-bodies", str(bodies), "-rate", f"{rate:g}"]
    cmd += ["-duration", f"{seconds:g}s", "-max-inflight", str(max_inflight)]
    cmd += ["-idem-prefix", f"lg{time.time_ns()}", "-H", f"X-API-Key: {api_key}"]
    if record is not None:
        cmd += ["-record", str(record)]
    return run_measured(cmd, timeout=seconds + 90)


def recorded(path: Path) -> dict[str, float]:
    """What ``open_loop(record=...)`` wrote: dossier id -> due time (epoch seconds)."""
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        dossier, _, due_ms = line.partition("\t")
        if dossier:
            out[dossier] = int(due_ms) / 1000
    return out
