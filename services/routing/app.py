"""Routing service: procedure workflows across commune, district and department queues."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.console import router as console_router
from services.reference import reference
from services.routing.domain.reference import ReferenceData
from services.routing.entrypoints.consumers import RoutingConsumers, consumers
from services.routing.entrypoints.http import router
from services.routing.handlers import Routing
from services.runtime.auth import hash_password
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: str = "routing"
    port: int = 8002
    seed_demo_officials: bool = True
    demo_password: str = "demo"


async def seed_demo_officials(rt: Runtime, password: str) -> None:
    """Development accounts: an official and a head per unit, and a province supervisor."""
    ref = reference(rt.settings.reference_profile)
    hashed = hash_password(password)  # one hash for all: pbkdf2 is slow on purpose
    rows: list[tuple[str, str, str, str, str]] = [
        ("giamsat", hashed, "Giám sát cấp tỉnh", _province(ref), "province_supervisor")
    ]
    for unit in ref.units:
        rows.append((f"canbo@{unit.code}", hashed, f"Cán bộ {unit.name}", unit.code, "official"))
        rows.append(
            (f"lanhdao@{unit.code}", hashed, f"Lãnh đạo {unit.name}", unit.code, "unit_head")
        )
    await rt.pool.executemany(
        "INSERT INTO officials (username, password_hash, full_name, unit_code, role)"
        " VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
        rows,
    )


def _province(ref: ReferenceData) -> str:
    return next(u.code for u in ref.units if u.level.value == "province")


def build_app(settings: RoutingSettings | None = None) -> FastAPI:
    cfg = settings or RoutingSettings()

    async def on_start(rt: Runtime) -> None:
        routing = Routing(rt, reference(cfg.reference_profile))
        rt.state["routing"] = routing
        rt.state["consumers"] = RoutingConsumers(routing)
        if cfg.seed_demo_officials and cfg.environment != "production":
            await seed_demo_officials(rt, cfg.demo_password)

    def jobs(rt: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        async def agency_timeouts() -> None:
            routing: Routing = rt.state["routing"]
            while True:
                if await routing.time_out_silent_agencies(datetime.now(UTC)) == 0:
                    await asyncio.sleep(1.0)

        return [agency_timeouts]

    spec = ServiceSpec(
        name="routing",
        title="Routing — luân chuyển hồ sơ liên thông",
        description=(
            "Moves each dossier through its procedure's workflow across commune, district and"
            " department units; officials work their unit's inbox through this API."
        ),
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[router, console_router],
        jobs=jobs,
        on_start=on_start,
    )
    return create_app(spec, cfg)
