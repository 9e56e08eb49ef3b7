"""A whole system (the four services and the dev servers) as separate processes: one
instance of each (``running_system``), or several behind a balancer each
(``running_fleet``)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from services.runtime.setup import ensure_topics
from tests.support.balancer import Balancer
from tests.support.cleanup import register_prefix
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port

SERVICES = ("intake", "routing", "sla", "notify")


def unique_prefix() -> str:
    """A topic/schema prefix of this run's own, dropped when the run ends."""
    return register_prefix(f"t{uuid.uuid4().hex[:10]}_")


def _dev_ports() -> dict[str, str]:
    return {
        "SMTP_PORT": str(free_port()),
        "ESMS_PORT": str(free_port()),
        "VIETTEL_PORT": str(free_port()),
        "ZALO_PORT": str(free_port()),
        "VNPAY_PORT": str(free_port()),
    }


def _system_env(
    infra: Infra, prefix: str, urls: dict[str, str], dev_ports: dict[str, str]
) -> dict[str, str]:
    """What every service process runs with; ``urls`` are where the services reach each
    other (an instance, or the balancer in front of a service's instances)."""
    return {
        **isolated_env(infra, prefix),
        "QUIET_HOURS": "",  # tests run at any hour; quiet hours have their own unit tests
        # Gauges a test scrapes soon after the rows they count were written.
        "DOMAIN_GAUGES_INTERVAL_SECONDS": "1",
        # The tests' callback receivers listen on 127.0.0.1, which intake refuses by default
        # (SSRF); let exactly that address through. The refusal has its own tests.
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "INTAKE_URL": urls["intake"],
        "NOTIFY_URL": urls["notify"],
        "NOTIFY_PUBLIC_URL": urls["notify"],
        "ROUTING_URL": urls["routing"],
        "POSTAL_CALLBACK_URL": f"{urls['routing']}/v1/postal/tracking",
        "SLA_URL": urls["sla"],
        # Intake pays through the stand-in VNPay gateway (services.intake.devservers).
        "VNPAY_PAY_URL": f"http://127.0.0.1:{dev_ports['VNPAY_PORT']}/paymentv2/vpcpay.html",
        "VNPAY_API_URL": f"http://127.0.0.1:{dev_ports['VNPAY_PORT']}/merchant_webapi/api/transaction",
        "VNPAY_RETURN_URL": f"{urls['intake']}/v1/payments/vnpay/return",
        "OIDC_JWKS_URL": f"{urls['routing']}/.well-known/jwks.json",
        **dev_ports,
    }


@contextlib.contextmanager
def running_system(
    infra: Infra, extra_env: dict[str, str] | None = None
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services and the dev servers, isolated by topic and schema prefixes."""
    prefix = unique_prefix()
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {**_system_env(infra, prefix, urls, _dev_ports()), **(extra_env or {})}
    dev = ServiceProcess("devservers", "services.notify.devservers", env, free_port())
    dev.start()
    vnpay = ServiceProcess("vnpay", "services.intake.devservers", env, int(env["VNPAY_PORT"]))
    vnpay.start()
    processes = {
        name: ServiceProcess(name, f"services.{name}", env, port) for name, port in ports.items()
    }
    for proc in processes.values():
        proc.start()
    try:
        dev.wait_ready(path="/healthz")
        vnpay.wait_ready(path="/healthz")
        for proc in processes.values():
            proc.wait_ready()
        yield {**processes, "devservers": dev, "vnpay": vnpay}
    finally:
        for proc in processes.values():
            proc.stop()
        dev.stop()
        vnpay.stop()


@dataclass
class Fleet:
    """Several instances of each service; ``urls`` are the balancers in front of them,
    the addresses portals, officials and the services themselves use."""

    instances: dict[str, list[ServiceProcess]]
    urls: dict[str, str]
    devservers: ServiceProcess
    env: dict[str, str]

    def all(self) -> list[ServiceProcess]:
        return [proc for procs in self.instances.values() for proc in procs]


@contextlib.contextmanager
def running_fleet(
    infra: Infra, instances: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[Fleet]:
    """``instances`` processes of every service (one consumer group per service, as in
    production), each service behind a :class:`Balancer`, and the dev servers."""
    prefix = unique_prefix()
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    ports = {name: [free_port() for _ in range(instances)] for name in SERVICES}
    balancers = {name: Balancer(ports[name]) for name in SERVICES}
    for balancer in balancers.values():
        balancer.start()
    urls = {name: balancers[name].url for name in SERVICES}
    env = {**_system_env(infra, prefix, urls, _dev_ports()), **(extra_env or {})}
    dev = ServiceProcess("devservers", "services.notify.devservers", env, free_port())
    fleet = Fleet(
        instances={
            name: [
                ServiceProcess(f"{name}-{n + 1}", f"services.{name}", env, port)
                for n, port in enumerate(ports[name])
            ]
            for name in SERVICES
        },
        urls=urls,
        devservers=dev,
        env=env,
    )
    dev.start()
    try:
        for proc in fleet.all():
            proc.start()
        dev.wait_ready(path="/healthz")
        for proc in fleet.all():
            proc.wait_ready(timeout=120)
        yield fleet
    finally:
        for proc in fleet.all():
            proc.stop()
        dev.stop()
        for balancer in balancers.values():
            balancer.stop()
