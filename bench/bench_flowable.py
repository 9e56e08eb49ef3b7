"""The peer: Flowable 7 running the same birth chain (1.012601) as BPMN on the same
PostgreSQL server, measured in the same run as ``bench_chain``.

``bench/flowable/flowable.sh run`` fetches the engine from Maven Central (cached in
``.cache/flowable``), compiles the harness (``bench/flowable/src/FlowableBench.java``)
and runs it: an embedded engine in a database of its own (``flowable_bench_<random>``,
created for the run and dropped after it), 8 client threads, after a warm-up:

1. process instances started per second (each thread back to back);
2. tasks completed per second (claim + complete: the commune's birth registration from
   the unit's candidate-group list, then the police's residence and social insurance's
   card tasks that follow);
3. timers fired per second: every open timer boundary event (8 / 16 / 16 working hours
   for the steps, 24 for the dossier, one hour of the clock each) made due at once; the
   engine's async executor (timer acquisition every 0.2 s when idle, as SLA's loop,
   512 per acquisition) fires them.

The engine and its client threads share one JVM: its CPU is reported per phase, and the
whole JVM's CPU over the run beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from bench import loadtools
from tests.support.infra import provision

SCRIPT = loadtools.REPO / "bench" / "flowable" / "flowable.sh"
SECONDS = os.environ.get("BENCH_CHAIN_SECONDS", "10")


def run() -> dict[str, Any]:
    infra = provision()
    subprocess.run([str(SCRIPT), "build"], check=True)  # fetch + compile, outside the timing
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "BENCH_CLIENTS": "8",
        "BENCH_START_SECONDS": SECONDS,
        "BENCH_TASK_SECONDS": SECONDS,
        "BENCH_WARMUP_SECONDS": os.environ.get("BENCH_FLOWABLE_WARMUP_SECONDS", "5"),
    }
    result = loadtools.run_measured([str(SCRIPT), "run"], timeout=600, env=env)
    result["jvm_cpu_s_whole_run"] = result.pop("client_cpu_s")
    result["jvm_cpu_share_of_machine_whole_run"] = result.pop("client_cpu_share_of_machine")
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
