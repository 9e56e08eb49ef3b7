"""Routing service: procedure workflows across commune, district and department queues."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import Field

from reference import reference
from reference.loader import ReferenceData
from services.routing.adapters import accounts
from services.routing.console import router as console_router
from services.routing.domain import postal as postal_core
from services.routing.entrypoints import auth as auth_api
from services.routing.entrypoints import data_subject, documents
from services.routing.entrypoints import postal as postal_api
from services.routing.entrypoints.consumers import RoutingConsumers, consumers
from services.routing.entrypoints.fast_tasks import install_fast_task_actions
from services.routing.entrypoints.http import router
from services.routing.handlers import Routing
from services.routing.postal import PostalConfig, PostalSender
from services.runtime import clock
from services.runtime.auth import OperatorAuth, hash_password
from services.runtime.documents.settings import DocumentSettings
from services.runtime.ratelimit import TokenBuckets
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import secret_problems
from services.runtime.tokens import (
    RemoteJwks,
    SigningKey,
    StaticKeys,
    TokenIssuer,
    TokenVerifier,
    public_jwks_from_pem,
)


class RoutingSettings(DocumentSettings):
    service_name: str = "routing"
    port: int = 8002
    seed_demo_officials: bool = Field(
        default=True, description="Development accounts (development only)."
    )
    demo_password: str = "demo"
    local_login_enabled: bool = Field(
        default=True, description="Routing issues operator tokens; false with the IdP's."
    )
    jwt_signing_key_file: str = Field(
        default="", description="PEM Ed25519 (or RSA ≥ 2048) private key of the issuer."
    )
    jwt_retired_public_keys_file: str = Field(
        default="", description="PEM public keys still published while their tokens live."
    )
    access_token_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=8 * 3600, ge=600, le=7 * 86400)
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_refill_seconds: float = Field(default=60.0, gt=0)
    # Results by post (docs/POSTAL.md).
    postal_url: str = Field(default="http://127.0.0.1:8110", description="Postal order API.")
    postal_api_key: str = Field(default="", description="Our key at the postal service.")
    postal_callback_secret: str = Field(
        default="", description="HMAC secret shared with the postal service for tracking."
    )
    postal_callback_url: str = Field(
        default="http://127.0.0.1:8002/v1/postal/tracking",
        description="Where the postal service sends tracking callbacks (routing's public URL).",
    )
    intake_url: str = "http://127.0.0.1:8001"

    def postal_secrets(self) -> tuple[str, str]:
        """(API key, callback secret); development falls back to public values."""
        if self.is_development:
            return (
                self.postal_api_key or postal_core.DEV_API_KEY,
                self.postal_callback_secret or postal_core.DEV_CALLBACK_SECRET,
            )
        return self.postal_api_key, self.postal_callback_secret

    def insecure_settings(self) -> list[str]:
        problems = super().insecure_settings()
        if self.is_development:
            return problems
        problems += secret_problems(
            {
                "postal_api_key": self.postal_api_key,
                "postal_callback_secret": self.postal_callback_secret,
            }
        )
        if self.local_login_enabled and not self.jwt_signing_key_file:
            problems.append("JWT_SIGNING_KEY_FILE is not set (or LOCAL_LOGIN_ENABLED=false)")
        if self.seed_demo_officials:
            problems.append("SEED_DEMO_OFFICIALS must be false")
        return problems


async def signing_key(rt: Runtime, cfg: RoutingSettings) -> SigningKey:
    if cfg.jwt_signing_key_file:
        return SigningKey.from_pem(Path(cfg.jwt_signing_key_file).read_bytes())
    fresh = SigningKey.generate()  # development: one key shared by every instance
    async with rt.pool.acquire() as conn:
        return SigningKey.from_pem(await accounts.dev_signing_key(conn, fresh.to_pem(), fresh.kid))


async def set_up_identity(rt: Runtime, cfg: RoutingSettings) -> None:
    """Routing issues tokens (unless the province's IdP does) and checks, on every request,
    that the official behind a token still holds what it says."""
    issuer: TokenIssuer | None = None
    jwks: list[dict[str, Any]] = []
    if cfg.local_login_enabled:
        key = await signing_key(rt, cfg)
        issuer = TokenIssuer(key, cfg.oidc_issuer, cfg.oidc_audience, cfg.access_token_ttl_seconds)
        jwks.append(key.public_jwk())
        if cfg.jwt_retired_public_keys_file:
            jwks.extend(public_jwks_from_pem(Path(cfg.jwt_retired_public_keys_file).read_bytes()))
    keys = StaticKeys(jwks) if issuer is not None else RemoteJwks(cfg.oidc_jwks_url)

    async def check(verified: Any) -> None:
        await auth_api.check_account(rt, verified)

    rt.auth = OperatorAuth(TokenVerifier(keys, cfg.oidc_config()), check)
    refill = 1.0 / cfg.login_refill_seconds
    rt.state["identity"] = auth_api.Identity(
        issuer=issuer,
        jwks=jwks,
        refresh_ttl_seconds=cfg.refresh_token_ttl_seconds,
        failures_per_account=TokenBuckets(cfg.login_failures_per_account, refill),
        failures_per_address=TokenBuckets(cfg.login_failures_per_address, refill),
    )


async def seed_demo_officials(rt: Runtime, password: str) -> None:
    """Development accounts: an official and a head per unit, and a province supervisor."""
    ref = reference(rt.settings.reference_profile)
    hashed = hash_password(password)  # one hash for all: Argon2id is slow on purpose
    rows: list[tuple[str, str, str, str, str]] = [
        ("giamsat", hashed, "Giám sát cấp tỉnh", _province(ref), "province_supervisor")
    ]
    for unit in ref.units:
        rows.append((f"canbo@{unit.code}", hashed, f"Cán bộ {unit.name}", unit.code, "official"))
        rows.append(
            (f"lanhdao@{unit.code}", hashed, f"Lãnh đạo {unit.name}", unit.code, "unit_head")
        )
    await rt.pool.executemany(
        "INSERT INTO officials (username, password_hash, full_name, unit_code, role, demo)"
        " VALUES ($1,$2,$3,$4,$5,true) ON CONFLICT (username) DO UPDATE SET demo = true",
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
        if cfg.is_development and cfg.seed_demo_officials:
            await seed_demo_officials(rt, cfg.demo_password)
        elif not cfg.is_development:
            async with rt.pool.acquire() as conn:
                if await accounts.demo_accounts(conn):
                    raise RuntimeError(
                        "refusing to start: development accounts exist in routing.officials"
                        " (DELETE FROM officials WHERE demo)"
                    )
        await set_up_identity(rt, cfg)
        rt.state["postal_callback_secret"] = cfg.postal_secrets()[1]

    def jobs(rt: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        async def agency_timeouts() -> None:
            routing: Routing = rt.state["routing"]
            while True:
                if await routing.time_out_silent_agencies(clock.now()) == 0:
                    await asyncio.sleep(1.0)

        async def expired_tokens() -> None:
            while True:
                async with rt.pool.acquire() as conn:
                    await accounts.delete_expired(conn)
                await asyncio.sleep(300.0)

        async def postal_orders() -> None:
            api_key = cfg.postal_secrets()[0]
            postal = PostalConfig(
                cfg.postal_url,
                api_key,
                cfg.postal_callback_url,
                cfg.intake_url,
                cfg.own_service_token(),
            )
            async with httpx.AsyncClient() as client:
                await PostalSender(rt.state["routing"], postal, client).run()

        return [agency_timeouts, expired_tokens, postal_orders]

    spec = ServiceSpec(
        name="routing",
        title="Routing — luân chuyển hồ sơ liên thông",
        description=(
            "Moves each dossier through its procedure's workflow across commune, district and"
            " department units; officials work their unit's inbox through this API."
        ),
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[
            auth_api.router,
            router,
            console_router,
            data_subject.router,
            documents.router,
            postal_api.router,
        ],
        jobs=jobs,
        on_start=on_start,
    )
    app = create_app(spec, cfg)
    install_fast_task_actions(app)
    return app
