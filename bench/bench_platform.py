"""Platform budgets: `make up` readiness time, idle RSS per service, broker heap."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / ".local" / "run"
SERVICES = ("intake", "routing", "sla", "notify")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _broker_heap() -> dict[str, Any]:
    pidfile = REPO / ".local" / "kafka" / "kafka.pid"
    if not pidfile.exists():  # KAFKA_BOOTSTRAP_SERVERS: a broker we did not start
        return {"skipped": "external broker (KAFKA_BOOTSTRAP_SERVERS)"}
    pid = int(pidfile.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    xmx = next((a for a in cmdline if a.startswith("-Xmx")), "unset")
    heap = subprocess.run(
        ["jcmd", str(pid), "GC.heap_info"], capture_output=True, text=True, check=False
    ).stdout
    used = re.search(r"total (\d+)K, used (\d+)K", heap)
    return {
        "max_heap_flag": xmx,
        "heap_committed_mib": round(int(used.group(1)) / 1024, 1) if used else None,
        "heap_used_mib": round(int(used.group(2)) / 1024, 1) if used else None,
        "broker_rss_mib": _rss_mib(pid),
    }


def run() -> dict[str, Any]:
    stack = str(REPO / "deploy" / "stack.sh")
    subprocess.run([stack, "down"], check=True, capture_output=True)
    started = time.perf_counter()
    try:
        subprocess.run([stack, "up"], check=True, capture_output=True)
        up_seconds = time.perf_counter() - started
        time.sleep(10)  # let the services settle into idle
        rss = {svc: _rss_mib(int((RUN / f"{svc}.pid").read_text())) for svc in SERVICES}
        broker = _broker_heap()
    finally:  # never leave the stack running after the bench
        subprocess.run([stack, "down"], check=False, capture_output=True)
    return {
        "make_up_ready_seconds": round(up_seconds, 1),
        "make_up_budget_seconds": 60,
        "idle_rss_mib": rss,
        "idle_rss_budget_mib": 150,
        "broker": broker,
        "broker_heap_budget_mib": 1024,
    }
