"""The resident set size of each service, after start and after a little traffic.

``python -m bench.rss_sizing`` starts the four services as tests do (one process each,
isolated topics and schemas), reads each process's VmRSS once all answer /readyz, sends
a small burst (submissions through the whole pipeline, reads on every service, the
console), waits for the pipeline to settle and reads VmRSS again. The Helm chart's memory
requests and limits come from these figures (deploy/helm/onestop/values.yaml,
docs/DEPLOY.md). Not a benchmark: a few hundred requests, a minute at most.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.bench_intake import dossier_bodies
from services.runtime.credentials import dev_service_token
from tests.support.infra import provision
from tests.support.system import running_system

SUBMISSIONS = 200
PORTAL_KEY = "dev-portal-key-change-me"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def burst(urls: dict[str, str]) -> int:
    ops = {"X-Service-Token": dev_service_token("ops")}
    bodies = dossier_bodies()
    codes: list[str] = []
    with httpx.Client(timeout=30) as client:
        for i in range(SUBMISSIONS):
            answer = client.post(
                f"{urls['intake']}/v1/dossiers",
                json=bodies[i % len(bodies)],
                headers={"X-API-Key": PORTAL_KEY, "Idempotency-Key": str(uuid.uuid4())},
            )
            answer.raise_for_status()
            codes.append(answer.json()["code"])
        for code in codes[:50]:
            client.get(f"{urls['intake']}/v1/dossiers/{code}", headers={"X-API-Key": PORTAL_KEY})
        login = client.post(
            f"{urls['routing']}/v1/auth/login",
            json={"username": "giamsat", "password": "demo"},
        ).json()
        bearer = {"Authorization": f"Bearer {login['access_token']}"}
        for _ in range(20):
            client.get(f"{urls['routing']}/v1/inbox", headers=bearer)
            client.get(f"{urls['routing']}/console/api/overdue", headers=bearer)
            client.get(f"{urls['sla']}/v1/calendar/overrides", headers=bearer)
            client.get(f"{urls['notify']}/v1/admin/failed-messages", headers=ops)
        for url in urls.values():
            client.get(f"{url}/metrics")
    return len(codes)


def run() -> dict[str, Any]:
    infra = provision()
    with running_system(infra) as processes:
        services = {n: p for n, p in processes.items() if n != "devservers"}
        time.sleep(3.0)  # background jobs have started their first rounds
        started = {n: rss_mib(p.proc.pid) for n, p in services.items() if p.proc}
        sent = burst({n: p.url for n, p in services.items()})
        time.sleep(10.0)  # the pipeline routes, opens deadlines, sends messages
        loaded = {n: rss_mib(p.proc.pid) for n, p in services.items() if p.proc}
    return {"submissions": sent, "rss_after_start_mib": started, "rss_after_burst_mib": loaded}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
