"""`make bench`: run every benchmark module and print one report.

Each ``bench/bench_*.py`` module has ``run() -> dict[str, object]`` (sync; it may use
asyncio inside). Figures are machine-dependent: the report states the machine, and
throughputs are set beside a ceiling measured in the same run where one applies. The
birth chain's three figures (``chain``) are set beside a peer engine running the same
chain in the same run (``flowable``), as ratios ours / Flowable.
Select with ``BENCH=platform,intake`` (``BENCH=chain,flowable`` for the comparison alone).

Between two benches the machine is settled (``settle``): the last bench's schemas and
topics are dropped, PostgreSQL writes its dirty pages (``CHECKPOINT``) and the run waits
until the CPUs are quiet, so that no figure carries the previous bench's clean-up (a
million deadlines' autovacuum and checkpoint, a flood's topics).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.summary import issue_table
from tests.support.cleanup import drop_registered
from tests.support.infra import provision

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SETTLE_MAX_SECONDS = float(os.environ.get("BENCH_SETTLE_MAX_SECONDS", "30"))
QUIET_CPU_SHARE = 0.25  # of the whole machine, for two seconds in a row

log = logging.getLogger(__name__)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "sharing": "shared, noisy: other work runs beside the bench",
        "load_average": round(os.getloadavg()[0], 1),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _get(tree: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _pct(share: Any) -> str:
    return f"{share * 100:.1f}%" if isinstance(share, int | float) else "-"


def comparison(ours: dict[str, Any], peer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: ours, Flowable's, the ratio, and what each client cost."""
    rows = []
    for label, our_path, their_path, our_cpu, their_cpu in (
        (
            "instances started/s",
            ("instances", "instances_started_per_s"),
            ("start", "instances_started_per_s"),
            ("instances", "closed_loop", "client_cpu_share_of_machine"),
            ("start", "jvm_cpu_share_of_machine"),
        ),
        (
            "tasks completed/s",
            ("tasks", "tasks_completed_per_s"),
            ("tasks", "tasks_completed_per_s"),
            ("tasks", "client_cpu_share_of_machine"),
            ("tasks", "jvm_cpu_share_of_machine"),
        ),
        (
            "timers fired/s",
            ("timers", "timers_fired_per_s"),
            ("timers", "timers_fired_per_s"),
            None,
            ("timers", "jvm_cpu_share_of_machine"),
        ),
    ):
        a, b = _get(ours, *our_path), _get(peer, *their_path)
        ratio = (
            round(a / b, 2)
            if isinstance(a, int | float) and isinstance(b, int | float) and b
            else None
        )
        rows.append(
            {
                "figure": label,
                "ours": a,
                "flowable": b,
                "ratio_ours_over_flowable": ratio,
                "our_client_cpu_share": _get(ours, *our_cpu) if our_cpu else None,
                "flowable_jvm_cpu_share": _get(peer, *their_cpu),
            }
        )
    return rows


def table(machine: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    head = (
        f"Birth chain 1.012601, 8 clients, same PostgreSQL, same run. Machine: "
        f"{machine['cpus']} CPUs, {machine['cpu_model']}, {machine['sharing']}"
        f" (load average {machine['load_average']} at start)."
    )
    lines = [
        head,
        f"{'figure':<22}{'ours':>10}{'Flowable':>10}{'ours/Fl.':>10}"
        f"{'our client CPU':>16}{'Flowable JVM CPU':>18}",
    ]
    for r in rows:
        ratio = r["ratio_ours_over_flowable"]
        lines.append(
            f"{r['figure']:<22}{r['ours'] if r['ours'] is not None else '-':>10}"
            f"{r['flowable'] if r['flowable'] is not None else '-':>10}"
            f"{f'{ratio:.2f}' if ratio is not None else '-':>10}"
            f"{_pct(r['our_client_cpu_share']):>16}{_pct(r['flowable_jvm_cpu_share']):>18}"
        )
    lines.append(
        "CPU shares are of the whole machine. Ours: wrk's (instances), the Python operator"
        " clients' (tasks), none for SLA's own timer job. Flowable: the JVM holding both"
        " the embedded engine and its client threads."
    )
    return "\n".join(lines)


def cpu_busy_share(seconds: float = 1.0) -> float:
    """How busy the machine's CPUs were over the next ``seconds`` (from /proc/stat)."""

    def snapshot() -> tuple[int, int]:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, all

    idle0, all0 = snapshot()
    time.sleep(seconds)
    idle1, all1 = snapshot()
    return 1.0 - (idle1 - idle0) / max(all1 - all0, 1)


def _checkpoint() -> bool:
    """CHECKPOINT on the project's own cluster, as its superuser (the app's role may
    not); nothing on an external database."""
    if os.environ.get("DATABASE_URL"):
        return False
    done = subprocess.run(
        [str(HERE.parent / "deploy/postgres.sh"), "checkpoint"],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        log.warning("CHECKPOINT failed: %s", done.stderr.strip())
    return done.returncode == 0


def settle() -> dict[str, Any]:
    """Leave the next bench a machine without the last one's work (see the module's
    docstring); at most ``SETTLE_MAX_SECONDS``."""
    started = time.perf_counter()
    infra = provision()
    drop_registered(infra.database_url, infra.kafka_bootstrap)
    checkpointed = _checkpoint()
    quiet, busy = 0, 1.0
    while quiet < 2 and time.perf_counter() - started < SETTLE_MAX_SECONDS:
        busy = cpu_busy_share()
        quiet = quiet + 1 if busy < QUIET_CPU_SHARE else 0
    if quiet < 2:
        log.warning(
            "the machine stayed busy (%.0f %% of its CPUs) before the next bench", busy * 100
        )
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "checkpointed": checkpointed,
        "cpu_busy_share_at_start": round(busy, 2),
    }


def main() -> int:
    wanted = {w for w in os.environ.get("BENCH", "").split(",") if w}
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    report: dict[str, Any] = {"machine": machine(), "started": time.strftime("%FT%T%z")}
    failed = False
    for name in modules:
        short = name.removeprefix("bench_")
        if wanted and short not in wanted:
            continue
        print(f"== {short}", flush=True)
        settled = settle()
        started = time.perf_counter()
        try:
            result = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # one broken bench must not hide the others' figures
            failed = True
            result = {"error": repr(exc)}
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["settled_before"] = settled
        report[short] = result
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    if "chain" in report and "flowable" in report:
        report["peer_comparison"] = comparison(report["chain"], report["flowable"])
        print(table(report["machine"], report["peer_comparison"]))
    print(issue_table(report))
    infra = provision()  # the benches' topics and schemas go when the run ends
    drop_registered(infra.database_url, infra.kafka_bootstrap)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"report written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
