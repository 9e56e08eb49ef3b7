"""A whole system (the four services and the dev servers) as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

from services.runtime.setup import ensure_topics
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


@contextlib.contextmanager
def running_system(infra: Infra) -> Iterator[dict[str, ServiceProcess]]:
    """The four services and the dev servers, isolated by topic and schema prefixes."""
    prefix = unique_prefix()
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    dev_ports = {
        "SMTP_PORT": str(free_port()),
        "ESMS_PORT": str(free_port()),
        "VIETTEL_PORT": str(free_port()),
        "ZALO_PORT": str(free_port()),
    }
    ports = {name: free_port() for name in ("intake", "routing", "sla", "notify")}
    env = {
        **isolated_env(infra, prefix),
        "QUIET_HOURS": "",  # tests run at any hour; quiet hours have their own unit tests
        # The tests' callback receivers listen on 127.0.0.1, which intake refuses by default
        # (SSRF); let exactly that address through. The refusal has its own tests.
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
        "NOTIFY_URL": f"http://127.0.0.1:{ports['notify']}",
        "NOTIFY_PUBLIC_URL": f"http://127.0.0.1:{ports['notify']}",
        "ROUTING_URL": f"http://127.0.0.1:{ports['routing']}",
        "SLA_URL": f"http://127.0.0.1:{ports['sla']}",
        "OIDC_JWKS_URL": f"http://127.0.0.1:{ports['routing']}/.well-known/jwks.json",
        **dev_ports,
    }
    dev = ServiceProcess("devservers", "services.notify.devservers", env, free_port())
    dev.start()
    processes = {
        name: ServiceProcess(name, f"services.{name}", env, port) for name, port in ports.items()
    }
    for proc in processes.values():
        proc.start()
    try:
        dev.wait_ready(path="/healthz")
        for proc in processes.values():
            proc.wait_ready()
        yield {**processes, "devservers": dev}
    finally:
        for proc in processes.values():
            proc.stop()
        dev.stop()
