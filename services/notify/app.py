"""Notify service: citizens hear about their dossier by SMS, Zalo and email, once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI
from pydantic import Field, SecretStr, field_validator, model_validator

from contracts.events import Payload
from reference import reference
from services.notify.adapters.contacts import ContactDirectory
from services.notify.adapters.email import SmtpSender, SmtpTransport, check_smtp_transport
from services.notify.adapters.retention import NotifyRetention, purge
from services.notify.dev_defaults import (
    DEV_OPT_OUT_LINK_SECRET,
    DEV_RATING_LINK_SECRET,
    DEV_RECEIPT_TOKEN_SECRET,
    DEV_VIETTEL_RECEIPT_TOKEN,
    DEV_ZALO_APP_ID,
    DEV_ZALO_OA_SECRET_KEY,
)
from services.notify.domain.opt_out_link import OptOutLinks
from services.notify.domain.rating import RatingLinks
from services.notify.domain.receipt_auth import parse_networks
from services.notify.entrypoints import data_subject, ops, optouts, ratings, receipts
from services.notify.entrypoints.fast_receipts import install_fast_receipts
from services.notify.entrypoints.http import router
from services.notify.handlers import (
    CITIZEN_EVENTS,
    FACT_EVENTS,
    NotifyContext,
    on_events,
    parse_quiet_hours,
    parse_rate_limits,
)
from services.notify.providers.esms import EsmsConfig, EsmsProvider
from services.notify.providers.failover import BreakerSettings, WeightedFailover, WeightedProvider
from services.notify.providers.viettel_soap import ViettelConfig, ViettelSoapProvider
from services.notify.providers.zalo_zns import ZaloConfig, ZaloZnsProvider
from services.notify.sender import Sender
from services.runtime.consumer import BatchHandler, ConsumerConfig, Envelope
from services.runtime.db import DbConn
from services.runtime.http_client import HttpClient
from services.runtime.retention import run_retention
from services.runtime.service import Runtime, ServiceSpec, create_app
from services.runtime.settings import ServiceSettings, secret_problems


class NotifySettings(ServiceSettings):
    secret_settings: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.secret_settings,
        "opt_out_link_secret",
        "rating_link_secret",
    )

    service_name: str = "notify"
    port: int = 8004
    intake_url: str = "http://127.0.0.1:8001"
    # Where gateways send delivery receipts (this service, as the gateways reach it).
    notify_url: str = "http://127.0.0.1:8004"
    # Where citizens reach notify's opt-out page (the links in messages); keep it short.
    notify_public_url: str = "http://127.0.0.1:8004"
    # Key of the signed opt-out links (HMAC-SHA256); changing it voids every link sent.
    opt_out_link_secret: str = DEV_OPT_OUT_LINK_SECRET
    opt_out_link_ttl_days: int = Field(default=90, ge=1, le=3650)
    # Key of the signed rating links of result messages (HMAC-SHA256, its own key).
    rating_link_secret: str = DEV_RATING_LINK_SECRET
    rating_link_ttl_days: int = Field(default=30, ge=1, le=3650)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    mail_from: str = "Một cửa điện tử <motcua@onestop.local>"
    smtp_connections: int = 8
    # SMTP_USE_TLS: TLS from the start (port 465); SMTP_STARTTLS: required upgrade (587).
    smtp_use_tls: bool = False
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_cafile: str = ""
    # Only for a development server on loopback: a login without TLS.
    smtp_allow_plaintext_login: bool = False
    sms_brandname: str = "MOTCUA"
    esms_url: str = ""
    esms_port: int = 9101
    esms_api_key: str = "dev-esms-key"
    esms_secret_key: str = "dev-esms-secret"
    esms_weight: float = 2.0
    viettel_url: str = ""
    viettel_port: int = 9102
    viettel_user: str = "dev-viettel"
    viettel_password: str = "dev-viettel-password"
    viettel_cp_code: str = "MOTCUA"
    viettel_weight: float = 1.0
    zalo_enabled: bool = True
    zalo_url: str = ""
    zalo_port: int = 9103
    zalo_access_token: str = "dev-zalo-token"
    gateway_timeout_seconds: float = 10.0
    sender_interval_seconds: float = 0.2
    # Messages claimed per round, and in flight at most.
    sender_batch: int = 200
    sender_concurrency: int = 400
    # Requests in flight per gateway at most (and its HTTP connection pool).
    sender_provider_concurrency: int = 16
    # A message left 'sending' this long (a crash) is re-sent with the same request id.
    send_lease_seconds: float = 120.0
    # A temporary failure is retried after 30 s, doubling up to 30 min between tries,
    # for 24 h from its first failure (or MAX_ATTEMPTS tries); then it is a technical
    # failure that operators list and replay (GET /v1/admin/failed-messages).
    max_attempts: int = 100
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 1800.0
    retry_for_seconds: float = 24 * 3600.0
    # A Zalo message failing this many times goes by SMS instead.
    zalo_max_attempts: int = 3
    # Per recipient (contact and channel): "count/seconds,..."; empty disables.
    rate_limits: str = "5/600,20/86400"
    # SMS and Zalo wait for the morning inside this local-time window; empty disables it.
    quiet_hours: str = "22:00-07:00"
    # Per unit overrides, e.g. {"000.01.01.H99": "21:00-07:30"}; "" disables for a unit.
    quiet_hours_by_unit: dict[str, str] = Field(default_factory=dict)
    # --- delivery receipts (services/notify/entrypoints/receipts.py) ---
    # Key of the per-message token in the CallbackUrl given to eSMS (eSMS signs nothing).
    receipt_token_secret: str = DEV_RECEIPT_TOKEN_SECRET
    # Zalo signs webhooks with the app id and the OA secret key (not the app secret).
    zalo_app_id: str = DEV_ZALO_APP_ID
    zalo_oa_secret_key: str = DEV_ZALO_OA_SECRET_KEY
    zalo_webhook_max_age_seconds: float = Field(default=300.0, gt=0)
    # Viettel documents no receipts; a report channel agreed per contract presents this
    # bearer token. Empty: the endpoint refuses every report (the send result counts).
    viettel_receipt_token: str = DEV_VIETTEL_RECEIPT_TOKEN
    # Where each gateway's receipts may come from, as CIDRs (JSON list); empty: anywhere.
    esms_receipt_cidrs: list[str] = Field(default_factory=list)
    viettel_receipt_cidrs: list[str] = Field(default_factory=list)
    zalo_receipt_cidrs: list[str] = Field(default_factory=list)

    # --- retention of personal data (docs/personal-data.yaml) ---
    message_body_retention_days: int = Field(default=90, ge=1)
    contact_ref_retention_days: int = Field(default=365, ge=1)
    retention_purge_interval_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("esms_receipt_cidrs", "viettel_receipt_cidrs", "zalo_receipt_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # a typo must stop the service, not open the endpoint
        return value

    def receipt_config(self) -> receipts.ReceiptConfig:
        return receipts.ReceiptConfig(
            token_secret=self.receipt_token_secret,
            zalo_app_id=self.zalo_app_id,
            zalo_oa_secret_key=self.zalo_oa_secret_key,
            zalo_max_age_seconds=self.zalo_webhook_max_age_seconds,
            viettel_token=self.viettel_receipt_token,
            networks={
                "esms": parse_networks(self.esms_receipt_cidrs),
                "viettel": parse_networks(self.viettel_receipt_cidrs),
                "zalo": parse_networks(self.zalo_receipt_cidrs),
            },
        )

    def insecure_settings(self) -> list[str]:
        """Gateway keys and receipt secrets too: every gateway this instance sends through
        (its URL set; Zalo when enabled) must have real credentials outside development."""
        problems = super().insecure_settings()
        if self.is_development:
            return problems
        secrets = {"receipt_token_secret": self.receipt_token_secret}
        if self.esms_url:
            secrets |= {"esms_api_key": self.esms_api_key, "esms_secret_key": self.esms_secret_key}
        if self.viettel_url:
            secrets |= {"viettel_password": self.viettel_password}
        if self.viettel_receipt_token:  # empty: the report endpoint is off
            secrets |= {"viettel_receipt_token": self.viettel_receipt_token}
        if self.zalo_enabled and self.zalo_url:
            secrets |= {
                "zalo_access_token": self.zalo_access_token,
                "zalo_oa_secret_key": self.zalo_oa_secret_key,
            }
        problems.extend(secret_problems(secrets))
        if self.smtp_username and not self.smtp_password.get_secret_value():
            problems.append("SMTP_PASSWORD is not set while SMTP_USERNAME is")
        return problems

    def opt_out_links(self) -> OptOutLinks:
        return OptOutLinks(
            secret=self.opt_out_link_secret.encode(),
            base_url=self.notify_public_url,
            ttl_days=self.opt_out_link_ttl_days,
        )

    def rating_links(self) -> RatingLinks:
        return RatingLinks(
            secret=self.rating_link_secret.encode(),
            base_url=self.notify_public_url,
            ttl_days=self.rating_link_ttl_days,
        )

    @model_validator(mode="after")
    def _check_smtp_transport(self) -> NotifySettings:
        check_smtp_transport(
            self.smtp_host,
            self.smtp_transport,
            production=not self.is_development,
            allow_plaintext=self.transport_allow_plaintext,
        )
        return self

    @property
    def smtp_transport(self) -> SmtpTransport:
        return SmtpTransport(
            use_tls=self.smtp_use_tls,
            starttls=self.smtp_starttls,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value(),
            cafile=self.smtp_cafile,
            allow_plaintext_login=self.smtp_allow_plaintext_login,
        )


def build_context(rt: Runtime, cfg: NotifySettings) -> NotifyContext:
    # One small pool per gateway, over aiohttp: these calls are made once or twice per
    # message, where httpx's per-request cost was most of notify's CPU (http_client).
    per_gateway = max(1, cfg.sender_provider_concurrency)

    def client() -> HttpClient:
        made = HttpClient(timeout=cfg.gateway_timeout_seconds, max_connections=per_gateway)
        rt.state.setdefault("http", []).append(made)
        return made

    # Intake's contact look-ups are one request per claimed batch.
    # Idle connections are dropped before intake's server closes them (uvicorn: after 5 s),
    # so a look-up rarely meets one closed under it (and is sent again when it does).
    contacts_http = httpx.AsyncClient(
        timeout=cfg.gateway_timeout_seconds,
        limits=httpx.Limits(
            max_connections=per_gateway,
            max_keepalive_connections=per_gateway,
            keepalive_expiry=2.0,
        ),
    )
    rt.state.setdefault("http", []).append(contacts_http)

    ref = reference(cfg.reference_profile)
    names = {c: p.name for c, p in ref.procedures.items()}
    esms = EsmsProvider(
        client(),
        EsmsConfig(
            base_url=cfg.esms_url or f"http://127.0.0.1:{cfg.esms_port}",
            api_key=cfg.esms_api_key,
            secret_key=cfg.esms_secret_key,
            brandname=cfg.sms_brandname,
            callback_url=cfg.notify_url.rstrip("/") + "/v1/callbacks/esms",
            callback_secret=cfg.receipt_token_secret,
        ),
    )
    viettel = ViettelSoapProvider(
        client(),
        ViettelConfig(
            url=cfg.viettel_url or f"http://127.0.0.1:{cfg.viettel_port}/bulkapi",
            user=cfg.viettel_user,
            password=cfg.viettel_password,
            cp_code=cfg.viettel_cp_code,
            service_id=cfg.sms_brandname,
        ),
    )
    sms = WeightedFailover(
        [
            WeightedProvider(esms, cfg.esms_weight, per_gateway),
            WeightedProvider(viettel, cfg.viettel_weight, per_gateway),
        ],
        BreakerSettings(slow_seconds=min(5.0, cfg.gateway_timeout_seconds)),
    )
    zalo = (
        ZaloZnsProvider(
            client(),
            ZaloConfig(
                access_token=cfg.zalo_access_token,
                base_url=cfg.zalo_url or f"http://127.0.0.1:{cfg.zalo_port}",
            ),
        )
        if cfg.zalo_enabled
        else None
    )
    return NotifyContext(
        runtime=rt,
        procedure_names=names,
        contacts=ContactDirectory(contacts_http, cfg.intake_url, cfg.own_service_token()),
        smtp=SmtpSender(
            cfg.smtp_host,
            cfg.smtp_port,
            cfg.mail_from,
            connections=cfg.smtp_connections,
            timeout=cfg.gateway_timeout_seconds,
            transport=cfg.smtp_transport,
        ),
        sms=sms,
        zalo=zalo,
        esms=esms,
        unit_names=_unit_names(cfg.reference_profile),
        document_names={
            c: {d.code: d.name for d in p.documents} for c, p in ref.procedures.items()
        },
        quiet_window=parse_quiet_hours(cfg.quiet_hours),
        quiet_by_unit={u: parse_quiet_hours(w) for u, w in cfg.quiet_hours_by_unit.items()},
        rate_limits=parse_rate_limits(cfg.rate_limits),
        zalo_enabled=cfg.zalo_enabled,
        max_attempts=cfg.max_attempts,
        retry_base_seconds=cfg.retry_base_seconds,
        retry_cap_seconds=cfg.retry_cap_seconds,
        retry_for_seconds=cfg.retry_for_seconds,
        zalo_max_attempts=cfg.zalo_max_attempts,
        lease_seconds=cfg.send_lease_seconds,
        batch_size=cfg.sender_batch,
        concurrency=cfg.sender_concurrency,
        zalo_concurrency=per_gateway,
        links=cfg.opt_out_links(),
        rating_links=cfg.rating_links(),
    )


def _unit_names(profile: str) -> dict[str, str]:
    return {unit.code: unit.name for unit in reference(profile).units}


def build_app(settings: NotifySettings | None = None) -> FastAPI:
    cfg = settings or NotifySettings()

    async def on_start(rt: Runtime) -> None:
        # One line per gateway request is noise (and cost) at thousands of messages.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        rt.state["notify"] = build_context(rt, cfg)
        rt.state["receipts"] = cfg.receipt_config()

    async def on_stop(rt: Runtime) -> None:
        for client in rt.state.get("http", []):
            await client.aclose()

    def consumers(rt: Runtime) -> list[ConsumerConfig]:
        ctx: NotifyContext = rt.state["notify"]

        async def handle(conn: DbConn, batch: Sequence[Envelope[Payload]]) -> None:
            await on_events(
                ctx,
                conn,
                [e.event for e in batch],
                [e.trace for e in batch],
                zalo_enabled=cfg.zalo_enabled,
            )

        # Every type in one batch handler: a poll's events are one call (set-based).
        heard = BatchHandler(Payload, handle)
        return [
            rt.consumer(
                "notify",
                ["dossier.intake", "dossier.routing", "dossier.sla"],
                {},
                dict.fromkeys((*CITIZEN_EVENTS, *FACT_EVENTS), heard),
            )
        ]

    def jobs(rt: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        async def sender() -> None:
            sender = Sender(rt.state["notify"])
            # Receipts that overtake their send result wait for it (status.apply_receipt).
            rt.state["recorder"] = sender.recorder
            await sender.run(cfg.sender_interval_seconds)

        retention = NotifyRetention(
            body_days=cfg.message_body_retention_days, contact_days=cfg.contact_ref_retention_days
        )

        async def retention_purge() -> None:
            await run_retention(
                rt.pool,
                "notify",
                lambda conn, now: purge(conn, now, retention),
                cfg.retention_purge_interval_seconds,
            )

        return [sender, retention_purge]

    spec = ServiceSpec(
        name="notify",
        title="Notify — thông báo cho công dân",
        description="SMS, Zalo and email messages to citizens, with delivery tracking.",
        migrations_dir=Path(__file__).parent / "migrations",
        consumers=consumers,
        routers=[
            router,
            optouts.router,
            ratings.router,
            receipts.router,
            data_subject.router,
            ops.router,
        ],
        jobs=jobs,
        on_start=on_start,
        on_stop=on_stop,
    )
    app = create_app(spec, cfg)
    install_fast_receipts(app)
    return app
