"""Intake service: the REST face portals and desks integrate with."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.entrypoints.consumers import consumers
from services.intake.entrypoints.http import internal, router
from services.intake.handlers import IntakeContext
from services.reference import intake_catalog
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001


async def on_start(rt: Runtime) -> None:
    rt.state["intake"] = IntakeContext(
        runtime=rt, catalog=intake_catalog(rt.settings.reference_profile), calendars={}
    )


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    spec = ServiceSpec(
        name="intake",
        title="Intake — tiếp nhận hồ sơ",
        description=(
            "Receives dossiers from iGate-style portals and reception desks, issues the"
            " receipt and appointment (form 01), and tells portals where each dossier is."
        ),
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[router, internal],
        on_start=on_start,
    )
    return create_app(spec, settings)
