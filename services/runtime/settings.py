"""One settings object per service, all sharing this base (environment variables).

``ENVIRONMENT`` defaults to production; development is explicit. Outside development a
service refuses to start while any secret setting holds a known default or a short value
(:func:`insecure_settings` names each one).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.clock import Clock, clock_problems
from services.runtime.credentials import (
    dev_service_token,
    dev_trusted_tokens,
    parse_trusted_tokens,
    token_digest,
)
from services.runtime.tokens import OidcConfig
from services.runtime.transport import TransportSettings

MIN_SECRET_LENGTH = 24
# Passwords the project's own scripts and examples use: never acceptable in production.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"onestop", "postgres", "password", "secret", "changeme", "demo", "admin"}
)


def is_known_default(value: str) -> bool:
    lowered = value.lower()
    return (
        lowered in KNOWN_DEFAULT_SECRETS
        or lowered.startswith("dev-")
        or lowered.endswith("change-me")
        or "change-me" in lowered
    )


def secret_problems(secrets: dict[str, str]) -> list[str]:
    """One line per secret setting that is unset, a known default, or short."""
    problems: list[str] = []
    for name, value in secrets.items():
        env = name.upper()
        if not value:
            problems.append(f"{env} is not set")
        elif is_known_default(value):
            problems.append(f"{env} is a known default value")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{env} is shorter than {MIN_SECRET_LENGTH} characters")
    return problems


class ServiceSettings(TransportSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)
    # Settings holding secrets; subclasses add their own (gateway keys, …).
    secret_settings: ClassVar[tuple[str, ...]] = ("service_token",)

    service_name: str = "service"
    environment: Literal["development", "production"] = "production"
    database_url: str = "postgresql://onestop:onestop@127.0.0.1:55432/onestop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Topic creation (services.runtime.setup); 0: from the broker count (3 copies, 2 in sync).
    kafka_replication_factor: int = Field(default=0, ge=0)
    kafka_min_insync_replicas: int = Field(default=0, ge=0)
    # Tests isolate themselves with prefixes; production leaves them empty.
    topic_prefix: str = ""
    schema_prefix: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The HTTP server's event loop. uvloop costs the least CPU per request"
        " (asyncio's halved intake's flood in the bench). Under a burst of new connections"
        " beyond capacity, though, a saturated uvloop process accepts them slowly (tens a"
        " second) and they wait for seconds in the kernel's accept queue, where no shedding"
        " sees them, while kept-alive connections are served; asyncio's loop accepts what"
        " is queued at once, so every request is answered or refused in turn"
        " (docs/CAPACITY.md, 2026-12-07), but its intake answered 300/s at twice"
        " uvloop's latency.",
    )
    otel_exporter: Literal["none", "console", "otlp", "postgres"] = "postgres"
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    # Share of traces kept in the spans table at load (consistent across services by trace
    # id); spans that failed or took longer than OTEL_SLOW_SPAN_MS are always kept.
    otel_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    otel_slow_span_ms: float = Field(default=500.0, gt=0)
    log_level: str = "INFO"
    reference_profile: Literal["three_level", "two_level"] = "three_level"
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Off only in fault-injection tests: rows stay committed but unpublished.
    outbox_relay_enabled: bool = True
    # "web" serves requests only (its outbox is published, its topics consumed and its
    # background jobs run by a "worker" of the same service); "all" does everything. A
    # web process's event loop then answers requests without queueing the relay and the
    # consumers behind them, and the OS schedules the two apart.
    service_role: Literal["all", "web", "worker"] = "all"
    # The inbox, deadline and message gauges read their whole tables: every minute, not
    # with the outbox gauges' every 5 s (alerts on them look at hours).
    domain_gauges_interval_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    consumer_batch_max: int = 200
    # Latency: how long a fetch may wait on the broker (bounds a quiet partition's next
    # record; an empty fetch per interval when idle).
    consumer_fetch_max_wait_ms: int = Field(default=50, ge=1, le=5000)
    # Offsets are committed at most this often: a crash or rebalance redelivers what was
    # handled since (the dedupe skips it), and the broker gets a commit per interval
    # rather than one per poll (measured: ~0.4 ms less broker CPU per dossier at 100/s).
    consumer_commit_interval_ms: int = Field(default=200, ge=0, le=60_000)
    consumer_max_attempts: int = Field(default=3, ge=1)
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused (413)."
    )
    service_token: str = Field(
        default="",
        description="This service's own credential for calling the others (X-Service-Token);"
        " development falls back to a public per-service value.",
    )
    trusted_service_tokens: str = Field(
        default="",
        description="Callers this service accepts: 'name=sha256(token),…' for intake, routing,"
        " sla, notify and ops; development falls back to the public development tokens.",
    )
    oidc_issuer: str = Field(default="onestop-routing", description="Accepted `iss`.")
    oidc_audience: str = Field(default="onestop", description="Accepted `aud`.")
    oidc_jwks_url: str = Field(
        default="http://127.0.0.1:8002/.well-known/jwks.json",
        description="Where the issuer's public keys are (routing's, or the province's IdP).",
    )
    oidc_algorithms: str = "EdDSA,RS256"
    oidc_user_claim: str = "sub"
    oidc_unit_claim: str = "unit"
    oidc_role_claim: str = "role"
    # The business clock (services.runtime.clock): wall time unless a simulation maps it.
    clock_rate: float = Field(default=1.0, gt=0, description="Business seconds per wall second.")
    clock_epoch: datetime | None = Field(
        default=None, description="The business instant at CLOCK_ANCHOR (ISO 8601, with offset)."
    )
    clock_anchor: datetime | None = Field(
        default=None, description="The wall instant CLOCK_EPOCH maps to; unset: process start."
    )

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def db_schema(self) -> str:
        return f"{self.schema_prefix}{self.service_name}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def oidc_config(self) -> OidcConfig:
        return OidcConfig(
            issuer=self.oidc_issuer,
            audience=self.oidc_audience,
            algorithms=tuple(a.strip() for a in self.oidc_algorithms.split(",") if a.strip()),
            user_claim=self.oidc_user_claim,
            unit_claim=self.oidc_unit_claim,
            role_claim=self.oidc_role_claim,
        )

    def own_service_token(self) -> str:
        if self.service_token:
            return self.service_token
        if self.is_development:
            return dev_service_token(self.service_name)
        return ""

    def trusted_tokens(self) -> dict[str, list[str]]:
        if self.trusted_service_tokens:
            return parse_trusted_tokens(self.trusted_service_tokens)
        return dev_trusted_tokens() if self.is_development else {}

    def clock(self) -> Clock:
        return Clock(rate=self.clock_rate, epoch=self.clock_epoch, anchor=self.clock_anchor)

    def insecure_settings(self) -> list[str]:
        """What forbids starting outside development, one line per offending setting."""
        if self.is_development:
            return []
        problems = clock_problems(self.clock_rate, self.clock_epoch, self.clock_anchor)
        problems += secret_problems({n: str(getattr(self, n)) for n in self.secret_settings})
        try:
            trusted = parse_trusted_tokens(self.trusted_service_tokens)
        except ValueError as exc:
            problems.append(str(exc))
            trusted = {}
        if not trusted:
            problems.append("TRUSTED_SERVICE_TOKENS is not set")
        defaults = {token_digest(dev_service_token(n)) for n in (*trusted, "ops")}
        known = sorted(name for name, digests in trusted.items() if set(digests) & defaults)
        if known:
            problems.append(
                f"TRUSTED_SERVICE_TOKENS accepts development tokens for {', '.join(known)}"
            )
        password = urlsplit(self.database_url).password or ""
        # A client certificate (sslcert=) authenticates without a password.
        if "sslcert=" not in self.database_url and (
            is_known_default(password) or len(password) < 12
        ):
            problems.append("DATABASE_URL has a default or short password")
        return problems


def refuse_insecure(settings: ServiceSettings) -> None:
    """Stop the process with a message naming each offending setting."""
    problems = settings.insecure_settings()
    if not problems:
        return
    lines = "\n".join(f"  - {p}" for p in problems)
    sys.stderr.write(
        f"{settings.service_name}: refusing to start with ENVIRONMENT={settings.environment}:\n"
        f"{lines}\nSet real secrets, or ENVIRONMENT=development on a developer's machine.\n"
    )
    raise SystemExit(2)
