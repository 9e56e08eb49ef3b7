"""`make bench`: run every benchmark module and print one report.

Each ``bench/bench_*.py`` module has ``run() -> dict[str, object]`` (sync; it may use
asyncio inside). Figures are machine-dependent: the report states the machine, and
throughputs are set beside a ceiling measured in the same run where one applies.
Select with ``BENCH=platform,intake``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
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
        started = time.perf_counter()
        try:
            result = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # one broken bench must not hide the others' figures
            failed = True
            result = {"error": repr(exc)}
        result["seconds"] = round(time.perf_counter() - started, 1)
        report[short] = result
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"report written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
