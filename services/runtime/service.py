"""Composition root shared by the four services: one call builds a service's app.

A service describes itself with a :class:`ServiceSpec` (its migrations, consumers,
routers and background jobs); :func:`create_app` wires PostgreSQL, Kafka, the outbox
relay, tracing and the ops routes around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request

from contracts.envelope import EventEnvelope
from services.runtime import clock
from services.runtime.auth import OperatorAuth
from services.runtime.consumer import BatchHandler, ConsumerConfig, Handler, IdempotentConsumer
from services.runtime.credentials import ServiceCredentials
from services.runtime.db import DbConn, create_pool, migrate_before_pool
from services.runtime.http import install_tracing_middleware, ops_router, traces_router
from services.runtime.limits import install_body_size_limit
from services.runtime.logs import configure_logging
from services.runtime.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, refresh_domain_gauges
from services.runtime.outbox import OutboxRelay, append_event, delete_published
from services.runtime.problems import document_problems, install_problem_handlers
from services.runtime.settings import ServiceSettings
from services.runtime.strict_json import install_strict_json
from services.runtime.telemetry import (
    BufferingSpanExporter,
    delete_old_spans,
    run_span_flusher,
    setup_tracing,
)
from services.runtime.tokens import RemoteJwks, TokenVerifier
from services.runtime.transport import KafkaAuthenticationError, start_kafka_client

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a running service has: its settings, pool, producer and workers."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay
    # Operators by bearer JWT (the issuer's JWKS), services by their own credential.
    auth: OperatorAuth
    credentials: ServiceCredentials
    consumers: list[IdempotentConsumer] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return self.settings.db_schema

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    async def publish(
        self,
        conn: DbConn,
        topic: str,
        event_type: str,
        dossier_id: UUID,
        payload: dict[str, Any],
        *,
        sequence: int = 0,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        key: str | None = None,
    ) -> EventEnvelope:
        """Write an event to the outbox in the caller's transaction."""
        envelope = EventEnvelope(
            event_type=event_type,
            dossier_id=dossier_id,
            sequence=sequence,
            correlation_id=correlation_id or dossier_id,
            causation_id=causation_id,
            producer=self.settings.service_name,
            payload=payload,
        )
        await append_event(conn, self.schema, self.topic(topic), envelope, key=key)
        return envelope

    def consumer(
        self,
        name: str,
        topics: list[str],
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, BatchHandler[Any]] | None = None,
    ) -> ConsumerConfig:
        return ConsumerConfig(
            name=f"{self.settings.topic_prefix}{name}",
            topics=[self.topic(t) for t in topics],
            handlers=handlers,
            schema=self.schema,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            batch_max=self.settings.consumer_batch_max,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            commit_interval_ms=self.settings.consumer_commit_interval_ms,
            max_attempts=self.settings.consumer_max_attempts,
            batch_handlers=batch_handlers or {},
            client_options=self.settings.kafka_client_options(),
        )


Job = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class ServiceSpec:
    name: str
    migrations_dir: Path
    consumers: Callable[[Runtime], list[ConsumerConfig]] = lambda _rt: []
    routers: list[APIRouter] = field(default_factory=list)
    # Background work: in the "all" and "worker" roles.
    jobs: Callable[[Runtime], list[Job]] = lambda _rt: []
    # Work requests wait on (intake's submission writer): in every role.
    request_jobs: Callable[[Runtime], list[Job]] = lambda _rt: []
    on_start: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None
    # After the jobs have stopped, before the pool closes (clients, sessions).
    on_stop: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None
    title: str = ""
    description: str = ""


async def supervise(name: str, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Keep a background job alive: log a crash and start it again after a pause."""
    delay = 0.5
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s crashed; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _start_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    options = settings.kafka_client_options()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-outbox",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        **options,
    )
    for attempt in range(60):
        try:
            await start_kafka_client(producer, settings.kafka_bootstrap_servers, options)
            return producer
        except KafkaAuthenticationError:
            await producer.stop()
            raise  # wrong credentials or an untrusted certificate: waiting will not help
        except Exception:
            if attempt == 59:
                raise
            log.warning("Kafka not reachable yet; retrying")
            await asyncio.sleep(1.0)
    raise RuntimeError("unreachable")


async def _watch_outbox(rt: Runtime) -> None:
    every = rt.settings.domain_gauges_interval_seconds
    counted_at = -every  # the first pass counts everything
    while True:
        row = await rt.pool.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age"
            " FROM outbox WHERE published_at IS NULL AND failed_at IS NULL"
        )
        assert row is not None
        OUTBOX_BACKLOG.set(row["n"])
        OUTBOX_OLDEST_AGE.set(float(row["age"] or 0.0))
        table_wide = time.monotonic() - counted_at >= every
        try:
            await refresh_domain_gauges(rt.pool, table_wide=table_wide)
            if table_wide:
                counted_at = time.monotonic()
        except asyncpg.PostgresError:  # a service changed its tables; the rest goes on
            log.warning("domain gauges not refreshed", exc_info=True)
        await delete_published(rt.pool)
        await delete_old_spans(rt.pool)
        await asyncio.sleep(5.0)


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain function dependency in a worker thread, a thread hop
    # per request that costs more than the request's own work.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def settle_heap() -> None:
    """What start-up built (modules, reference data, validators, schemas) lives as long as
    the process: moved out of the cyclic collector's sight. Otherwise every full
    collection walks it again, over 100 ms on a 2-core box: a pause in every hop's tail."""
    gc.collect()
    gc.freeze()


def create_app(spec: ServiceSpec, settings: ServiceSettings) -> FastAPI:
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Process-wide set-up happens when the service starts, not when the app is built
        # (building it is also how the OpenAPI spec is exported).
        configure_logging(settings)
        problems = settings.insecure_settings()
        if problems:
            raise RuntimeError("refusing to start: " + "; ".join(problems))
        clock.configure(settings.clock())
        span_buffer: BufferingSpanExporter | None = setup_tracing(settings)
        await migrate_before_pool(settings.database_dsn, settings.db_schema, spec.migrations_dir)
        pool = await create_pool(
            settings.database_dsn, settings.db_schema, settings.db_pool_min, settings.db_pool_max
        )
        producer = await _start_producer(settings)
        relay = OutboxRelay(pool, settings.database_dsn, settings.db_schema, producer)
        rt = Runtime(
            settings=settings,
            pool=pool,
            producer=producer,
            relay=relay,
            auth=OperatorAuth(
                TokenVerifier(RemoteJwks(settings.oidc_jwks_url), settings.oidc_config())
            ),
            credentials=ServiceCredentials(settings.trusted_tokens()),
        )
        holder["rt"] = rt
        app.state.runtime = rt
        if spec.on_start is not None:
            await spec.on_start(rt)
        settle_heap()
        jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("outbox-watch", lambda: _watch_outbox(rt))
        ]
        background = settings.service_role != "web"
        if settings.outbox_relay_enabled and background:
            jobs.append(("outbox-relay", relay.run))
        if span_buffer is not None:
            jobs.append(("span-flusher", lambda: run_span_flusher(span_buffer, pool, spec.name)))
        for config in spec.consumers(rt) if background else []:
            consumer = IdempotentConsumer(config, pool)
            rt.consumers.append(consumer)
            jobs.append((f"consumer-{config.name}", consumer.run))
        jobs.extend((f"request-job-{i}", job) for i, job in enumerate(spec.request_jobs(rt)))
        if background:
            jobs.extend((f"job-{i}", job) for i, job in enumerate(spec.jobs(rt)))
        tasks = [asyncio.create_task(supervise(name, job), name=name) for name, job in jobs]
        log.info("%s started", spec.name)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if span_buffer is not None:
                with contextlib.suppress(Exception):
                    from services.runtime.telemetry import flush_spans

                    await flush_spans(span_buffer, pool, spec.name)
            if spec.on_stop is not None:
                with contextlib.suppress(Exception):
                    await spec.on_stop(rt)
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title=spec.title or spec.name,
        description=spec.description,
        version="1.0.0",
        lifespan=lifespan,
        # FastAPI's own instrumentation would add a second server span per request; our
        # middleware records the one span (with dossier attributes) and the metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_problem_handlers(app)
    # Inside the size limit (which counts what it reads), so ambiguous JSON is refused
    # (422) only once the body is known to be within the limit.
    install_strict_json(app)
    # Added first, so it runs inside the tracing middleware: refusals are traced too.
    install_body_size_limit(app, settings.max_request_bytes)
    install_tracing_middleware(app, spec.name)
    for router in spec.routers:
        app.include_router(router)

    async def check_db() -> None:
        await holder["rt"].pool.fetchval("SELECT 1")

    async def check_kafka() -> None:
        client = holder["rt"].producer.client
        await asyncio.wait_for(client.fetch_all_metadata(), timeout=2.0)

    app.include_router(ops_router({"postgres": check_db, "kafka": check_kafka}))
    app.include_router(traces_router())
    document_problems(app)
    return app
