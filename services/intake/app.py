"""Intake service: the REST face portals and desks integrate with."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.intake.adapters.national_sender import run_pusher
from services.intake.adapters.portals import dev_portal_exists, seed_dev_portal
from services.intake.adapters.retention import IntakeRetention, purge
from services.intake.adapters.webhook_sender import run_sender
from services.intake.catalog_source import intake_catalog
from services.intake.config import IntakeSettings
from services.intake.entrypoints import citizen, documents, dvcqg, payments, personal_data, portals
from services.intake.entrypoints.consumers import consumers
from services.intake.entrypoints.fast_submit import install_fast_submission
from services.intake.entrypoints.http import internal, router
from services.intake.entrypoints.security import trace_trust
from services.intake.entrypoints.unavailable import install_unavailable_handlers
from services.intake.handlers import IntakeContext, announce_contact_refs, new_writer
from services.intake.payments import run_reconciliation
from services.runtime.data_access import BulkReadDetector
from services.runtime.http import TRACE_TRUST_HOOK
from services.runtime.ratelimit import TokenBuckets
from services.runtime.retention import run_retention
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.shedding import AgeShedder

__all__ = ["IntakeSettings", "build_app"]
Job = Callable[[], Coroutine[Any, Any, None]]


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    async def on_start(rt: Runtime) -> None:
        ctx = IntakeContext(
            runtime=rt,
            catalog=intake_catalog(rt.settings.reference_profile),
            calendars={},
            settings=settings,
            lookups=TokenBuckets(settings.lookup_burst, settings.lookup_refill_per_second),
            reads=BulkReadDetector(settings.bulk_read_policy),
        )
        ctx.writer = new_writer(ctx)
        rt.state["intake"] = ctx
        rt.state[TRACE_TRUST_HOOK] = trace_trust(ctx)
        async with rt.pool.acquire() as conn:
            if settings.is_development:
                await seed_dev_portal(conn, settings.dev_api_key)
            elif await dev_portal_exists(conn):
                raise RuntimeError(
                    "refusing to start: the development portal exists in intake.portals"
                    " (delete it: DELETE FROM api_keys WHERE portal_id = 'dev';"
                    " DELETE FROM portals WHERE id = 'dev')"
                )
        # Dossiers received while the contact reference was the dossier id got a random
        # one from the migration: tell notify and SLA (once, whichever instance starts).
        await announce_contact_refs(rt)

    retention = IntakeRetention(
        dossier_days=settings.dossier_personal_data_retention_days,
        idempotency_days=settings.idempotency_key_retention_days,
        audit_days=settings.personal_data_audit_retention_days,
        batch=settings.retention_purge_batch,
    )

    def request_jobs(rt: Runtime) -> list[Job]:
        return [rt.state["intake"].writer.run]

    def jobs(rt: Runtime) -> list[Job]:
        ctx = rt.state["intake"]
        pushing: list[Job] = []
        if settings.dvcqg_pushing:
            pushing.append(lambda: run_pusher(rt.pool, ctx.catalog, settings))
        return [
            *pushing,
            lambda: run_sender(
                rt.pool,
                settings.webhook_poll_seconds,
                settings.webhook_timeout_seconds,
                settings.webhook_policy,
            ),
            lambda: run_reconciliation(
                rt.state["intake"], settings.payment_reconcile_interval_seconds
            ),
            lambda: run_retention(
                rt.pool,
                "intake",
                lambda conn, now: purge(conn, now, retention),
                settings.retention_purge_interval_seconds,
            ),
        ]

    spec = ServiceSpec(
        name="intake",
        title="Intake — tiếp nhận hồ sơ",
        description=(
            "Receives dossiers from iGate-style portals and reception desks, issues the"
            " receipt and appointment (form 01), tells portals where each dossier is (look-up"
            " and signed status callbacks), takes citizens' supplements, withdrawals and"
            " payments, and accepts dossiers in the national portal's DongBoHoSoMC shape."
            " Portals authenticate with `X-API-Key`; errors are RFC 9457 problem documents."
        ),
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[
            router,
            citizen.router,
            portals.router,
            portals.admin,
            dvcqg.router,
            internal,
            personal_data.router,
            personal_data.admin,
            documents.router,
            payments.router,
            payments.gateway,
            payments.ops,
        ],
        jobs=jobs,
        request_jobs=request_jobs,
        on_start=on_start,
    )
    app = create_app(spec, settings)
    install_unavailable_handlers(app)
    install_fast_submission(app)
    # Outermost: a saturated process refuses new submissions before it parses them.
    app.add_middleware(
        AgeShedder,
        guarded=is_submission,
        # The batching window is waiting by design; only what comes on top of it is a backlog.
        max_wait_seconds=settings.submit_batch_window_ms / 1000 + settings.submit_max_wait_seconds,
        retry_after_seconds=settings.submit_retry_after_seconds,
        max_lag_seconds=settings.submit_max_loop_lag_seconds,
    )
    return app


SUBMISSION_PATHS = frozenset({"/v1/dossiers", "/v1/dvcqg/DongBoHoSoMC"})


def is_submission(method: str, path: str) -> bool:
    return method == "POST" and path in SUBMISSION_PATHS


def app_factory() -> FastAPI:
    """For uvicorn's multi-worker mode, which imports the app in each worker."""
    return build_app()
