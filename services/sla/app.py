"""SLA service: deadlines, timers, the working calendar API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from services.reference import load_unit_calendars
from services.runtime.consumer import ConsumerConfig
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import ServiceSettings
from services.sla.adapters.calendars import CalendarBook
from services.sla.entrypoints.http import router
from services.sla.handlers import SlaHandlers


class SlaSettings(ServiceSettings):
    service_name: str = "sla"
    port: int = 8003
    timer_interval_seconds: float = 0.2


async def on_start(rt: Runtime) -> None:
    book = CalendarBook(load_unit_calendars(rt.settings.reference_profile))
    async with rt.pool.acquire() as conn:
        await book.reload(conn)
    rt.state["calendars"] = book
    rt.state["sla"] = SlaHandlers(rt, book)


def consumers(rt: Runtime) -> list[ConsumerConfig]:
    h: SlaHandlers = rt.state["sla"]
    handlers = {
        "dossier.received": h.on_received,
        "step.assigned": h.on_step_assigned,
        "step.handed_off": h.on_step_done,
        "dossier.supplement_requested": h.on_paused,
        "dossier.obligation_requested": h.on_paused,
        "dossier.processing_resumed": h.on_resumed,
        "dossier.result_ready": h.on_dossier_closed,
        "dossier.refused": h.on_dossier_closed,
        "dossier.stopped": h.on_dossier_closed,
        "dossier.withdrawn": h.on_dossier_closed,
    }
    return [rt.consumer("sla", ["dossier.intake", "dossier.routing"], handlers)]


def build_app(settings: SlaSettings | None = None) -> FastAPI:
    settings = settings or SlaSettings()

    def jobs(rt: Runtime) -> list:  # type: ignore[type-arg]
        async def fire_timers() -> None:
            handlers: SlaHandlers = rt.state["sla"]
            while True:
                fired = await handlers.fire_due_timers(datetime.now(UTC))
                if fired == 0:
                    await asyncio.sleep(settings.timer_interval_seconds)

        return [fire_timers]

    spec = ServiceSpec(
        name="sla",
        title="SLA — hạn xử lý hồ sơ",
        description="Working-time deadlines, overdue and apology events, reports.",
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[router],
        jobs=jobs,
        on_start=on_start,
    )
    return create_app(spec, settings)
