"""SLA service: deadlines, timers, the working calendar API, apology letters, reports."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import Field

from reference import load_unit_calendars, reference
from services.runtime.consumer import ConsumerConfig
from services.runtime.documents.settings import DocumentSettings
from services.runtime.retention import run_retention
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.sla.adapters.calendars import CalendarBook
from services.sla.adapters.retention import SlaRetention, purge
from services.sla.entrypoints import data_subject, documents
from services.sla.entrypoints.http import letters, reports, router
from services.sla.handlers import Directory, SlaHandlers, SlaPolicy


class SlaSettings(DocumentSettings):
    service_name: str = "sla"
    port: int = 8003
    timer_interval_seconds: float = Field(default=0.2, gt=0)
    timer_batch: int = Field(default=1000, ge=1)
    #: Due-soon warning this many working hours before a deadline.
    due_soon_hours: Decimal = Field(default=Decimal(8), ge=0)
    #: A step still overdue this many working hours after its due instant is escalated.
    escalate_after_hours: Decimal | None = Field(default=Decimal(8), ge=0)
    #: The new appointment an apology proposes: this much working time after the old one.
    apology_extension_hours: Decimal = Field(default=Decimal(16), gt=0)
    #: Per-procedure cut-off (JSON, e.g. {"1.012603": "15:00"}); reference data wins.
    procedure_cut_offs: dict[str, time] = Field(default_factory=dict)
    default_cut_off: time | None = None
    intake_url: str = "http://127.0.0.1:8001"
    #: The contact reference on facts and letters is cleared this long after the end.
    sla_contact_ref_retention_days: int = Field(default=3650, ge=1)
    retention_purge_interval_seconds: float = Field(default=3600.0, gt=0)


def directory(profile: str) -> tuple[Directory, dict[str, time]]:
    ref = reference(profile)
    cut_offs: dict[str, time] = {}
    for code, procedure in ref.procedures.items():
        value = getattr(procedure, "cut_off", None)  # read from reference data if present
        if isinstance(value, time):
            cut_offs[code] = value
        elif isinstance(value, str) and value:
            cut_offs[code] = time.fromisoformat(value)
    units = list(ref.units)
    return (
        Directory(
            unit_names={u.code: u.name for u in units},
            unit_parents={u.code: u.parent for u in units},
            procedure_names={code: p.name for code, p in ref.procedures.items()},
        ),
        cut_offs,
    )


def make_on_start(settings: SlaSettings) -> Callable[[Runtime], Coroutine[Any, Any, None]]:
    async def on_start(rt: Runtime) -> None:
        names, reference_cut_offs = directory(settings.reference_profile)
        book = CalendarBook(
            load_unit_calendars(settings.reference_profile),
            cut_offs={**settings.procedure_cut_offs, **reference_cut_offs},
            default_cut_off=settings.default_cut_off,
        )
        async with rt.pool.acquire() as conn:
            await book.reload(conn)
        rt.state["calendars"] = book
        rt.state["intake_url"] = settings.intake_url
        policy = SlaPolicy(
            due_soon_hours=settings.due_soon_hours,
            escalate_after_hours=settings.escalate_after_hours,
            apology_extension_hours=settings.apology_extension_hours,
            timer_batch=settings.timer_batch,
        )
        rt.state["sla"] = SlaHandlers(rt, book, policy, names)

    return on_start


def consumers(rt: Runtime) -> list[ConsumerConfig]:
    h: SlaHandlers = rt.state["sla"]
    return [
        rt.consumer(
            "sla",
            # dossier.notify for the citizens' ratings (`dossier.rated`).
            ["dossier.intake", "dossier.routing", "dossier.notify"],
            {},
            batch_handlers=h.batch_handlers(),
        )
    ]


def build_app(settings: SlaSettings | None = None) -> FastAPI:
    settings = settings or SlaSettings()

    def jobs(rt: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        async def fire_timers() -> None:
            handlers: SlaHandlers = rt.state["sla"]
            await handlers.run_timers(settings.timer_interval_seconds)

        retention = SlaRetention(contact_days=settings.sla_contact_ref_retention_days)

        async def retention_purge() -> None:
            await run_retention(
                rt.pool,
                "sla",
                lambda conn, now: purge(conn, now, retention),
                settings.retention_purge_interval_seconds,
            )

        return [fire_timers, retention_purge]

    spec = ServiceSpec(
        name="sla",
        title="SLA — hạn xử lý hồ sơ",
        description="Working-time deadlines, overdue and apology events, reports.",
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[router, documents.router, letters, reports, data_subject.router],
        jobs=jobs,
        on_start=make_on_start(settings),
    )
    return create_app(spec, settings)
