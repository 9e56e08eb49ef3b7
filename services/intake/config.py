"""Intake's settings (environment variables on top of the shared service settings)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from services.intake.domain.callback_targets import NetworkPolicy, parse_networks
from services.runtime.settings import ServiceSettings

DEV_API_KEY = "dev-portal-key-change-me"


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    workers: int = Field(default=1, ge=1, le=32, description="uvicorn worker processes.")
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    # In development a dev portal (every unit) is seeded with this key; a request without
    # a key is refused everywhere (401).
    dev_api_key: str = DEV_API_KEY
    # Group commit: submissions arriving together share one transaction of one writer.
    submit_batch_window_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="How long the writer waits for more submissions before it writes a batch.",
    )
    submit_batch_max: int = Field(default=100, ge=1, le=1000, description="Dossiers per batch.")
    submit_queue_max: int = Field(
        default=1000,
        ge=1,
        description="Submissions waiting for the writer; beyond it intake answers 503 at once.",
    )
    submit_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A batch's transaction longer than this answers 503."
    )
    submit_retry_after_seconds: int = Field(
        default=1, ge=1, description="Retry-After of a 503 when the queue is full."
    )
    lookup_burst: int = Field(default=5, ge=1)
    lookup_refill_per_second: float = Field(default=0.1, gt=0)
    webhook_poll_seconds: float = Field(default=0.3, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Callback URLs must resolve to public addresses (no SSRF into the province's network).
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="Let callbacks reach loopback, private, link-local, CGNAT and reserved"
        " addresses (tests and development on one machine; refused in production).",
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs callbacks may reach although not public,"
        " e.g. a portal inside the province's network: 10.20.0.0/16.",
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        parse_networks(value)  # a malformed CIDR stops the service at start
        return value

    @model_validator(mode="after")
    def _no_private_callbacks_in_production(self) -> IntakeSettings:
        if not self.is_development and self.webhook_allow_private_networks:
            raise ValueError(
                "WEBHOOK_ALLOW_PRIVATE_NETWORKS is for development; in production list the"
                " networks in WEBHOOK_ALLOWED_NETWORKS"
            )
        return self

    @property
    def webhook_policy(self) -> NetworkPolicy:
        return NetworkPolicy(
            allow_private=self.webhook_allow_private_networks,
            allowed_networks=parse_networks(self.webhook_allowed_networks),
        )
