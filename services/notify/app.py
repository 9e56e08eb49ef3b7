"""Notify service: citizens hear about their dossier by SMS and email, once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from contracts.envelope import EventEnvelope
from services.notify.adapters.contacts import ContactDirectory
from services.notify.adapters.email import SmtpSender
from services.notify.entrypoints.http import router
from services.notify.handlers import (
    NotifyContext,
    on_citizen_event,
    parse_quiet_hours,
    send_due_messages,
)
from services.notify.providers.esms import EsmsConfig, EsmsProvider
from services.reference import reference
from services.runtime.consumer import ConsumerConfig, Handler
from services.runtime.db import DbConn
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import ServiceSettings

CITIZEN_EVENTS = ("dossier.received",)


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    port: int = 8004
    intake_url: str = "http://127.0.0.1:8001"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    mail_from: str = "Một cửa điện tử <motcua@onestop.local>"
    esms_url: str = ""
    esms_port: int = 9101
    esms_api_key: str = "dev-esms-key"
    esms_secret_key: str = "dev-esms-secret"
    sms_brandname: str = "MOTCUA"
    sender_interval_seconds: float = 0.2
    # SMS and Zalo wait for the morning inside this local-time window; empty disables it.
    quiet_hours: str = "22:00-07:00"


def build_app(settings: NotifySettings | None = None) -> FastAPI:
    cfg = settings or NotifySettings()

    async def on_start(rt: Runtime) -> None:
        client = httpx.AsyncClient()
        rt.state["http"] = client
        names = {c: p.name for c, p in reference(cfg.reference_profile).procedures.items()}
        esms = EsmsProvider(
            client,
            EsmsConfig(
                base_url=cfg.esms_url or f"http://127.0.0.1:{cfg.esms_port}",
                api_key=cfg.esms_api_key,
                secret_key=cfg.esms_secret_key,
                brandname=cfg.sms_brandname,
            ),
        )
        rt.state["notify"] = NotifyContext(
            runtime=rt,
            procedure_names=names,
            contacts=ContactDirectory(client, cfg.intake_url, cfg.service_token),
            smtp=SmtpSender(cfg.smtp_host, cfg.smtp_port, cfg.mail_from),
            sms=esms,
            quiet_window=parse_quiet_hours(cfg.quiet_hours),
        )

    def consumers(rt: Runtime) -> list[ConsumerConfig]:
        ctx: NotifyContext = rt.state["notify"]

        async def handle(conn: DbConn, env: EventEnvelope) -> None:
            await on_citizen_event(ctx, conn, env)

        handlers: dict[str, Handler] = dict.fromkeys(CITIZEN_EVENTS, handle)
        return [
            rt.consumer("notify", ["dossier.intake", "dossier.routing", "dossier.sla"], handlers)
        ]

    def jobs(rt: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        async def sender() -> None:
            ctx: NotifyContext = rt.state["notify"]
            while True:
                sent = await send_due_messages(ctx, datetime.now(UTC))
                if sent == 0:
                    await asyncio.sleep(cfg.sender_interval_seconds)

        return [sender]

    spec = ServiceSpec(
        name="notify",
        title="Notify — thông báo cho công dân",
        description="SMS, Zalo and email messages to citizens, with delivery tracking.",
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[router],
        jobs=jobs,
        on_start=on_start,
    )
    return create_app(spec, cfg)
