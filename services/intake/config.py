"""Intake's settings (environment variables on top of the shared service settings)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from services.intake.domain.callback_targets import NetworkPolicy, parse_networks
from services.runtime.data_access import BulkReadPolicy
from services.runtime.documents.settings import DocumentSettings
from services.runtime.settings import secret_problems

DEV_API_KEY = "dev-portal-key-change-me"
# The stand-in gateway (services/intake/fakes/vnpay_app.py) signs with the same.
DEV_VNPAY_TMN_CODE = "DEVTMN01"
DEV_VNPAY_HASH_SECRET = "dev-vnpay-hash-secret-change-me"


class IntakeSettings(DocumentSettings):
    secret_settings: ClassVar[tuple[str, ...]] = (
        *DocumentSettings.secret_settings,
        "vnpay_hash_secret",
    )

    service_name: str = "intake"
    port: int = 8001
    workers: int = Field(default=1, ge=1, le=32, description="uvicorn worker processes.")
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
    submit_max_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        description="While the oldest submission in flight has waited longer than this beyond"
        " the batching window, new ones are answered 503 with Retry-After at once (the"
        " process itself is saturated).",
    )
    submit_max_loop_lag_seconds: float = Field(
        default=0.3,
        gt=0,
        description="While the event loop runs later than this, new submissions are answered"
        " 503 with Retry-After at once: the machine is saturated and requests wait in the"
        " sockets before intake can read them.",
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

    # --- outbound sync to the national portal (DVCQG), docs/DVCQG.md ---
    dvcqg_push_url: str = Field(
        default="",
        description="The national portal's base URL; empty: nothing is pushed.",
    )
    dvcqg_push_enabled: bool = Field(
        default=True, description="Push when DVCQG_PUSH_URL is set (false: hold off)."
    )
    dvcqg_push_login_path: str = "/login"
    dvcqg_push_service_path: str = "/service"
    dvcqg_push_username: str = ""
    dvcqg_push_password: str = ""
    dvcqg_push_dstcode: str = Field(default="", description="The `dstcode` header of login.")
    dvcqg_push_timeout_seconds: float = Field(default=10.0, gt=0)
    dvcqg_push_poll_seconds: float = Field(default=0.3, gt=0)
    dvcqg_push_max_attempts: int = Field(default=12, ge=1, le=1000)
    dvcqg_push_backoff_seconds: float = Field(default=2.0, gt=0)
    dvcqg_push_concurrency: int = Field(default=16, ge=1, le=256)

    # --- personal data (docs/SECURITY.md, docs/personal-data.yaml) ---
    dossier_personal_data_retention_days: int = Field(
        default=3650,
        ge=1,
        description="A closed dossier's applicant, document references and summary are"
        " anonymised this long after its last event (the province's archive schedule).",
    )
    idempotency_key_retention_days: int = Field(default=30, ge=1)
    personal_data_audit_retention_days: int = Field(default=1825, ge=1)
    retention_purge_interval_seconds: float = Field(default=3600.0, gt=0)
    retention_purge_batch: int = Field(default=1000, ge=1)
    personal_data_bulk_read_threshold: int = Field(
        default=100,
        ge=1,
        description="Distinct dossiers whose personal data one caller may read in the window"
        " before the bulk-read alarm.",
    )
    personal_data_bulk_read_window_seconds: float = Field(default=600.0, gt=0)
    # Callers whose job is reading many dossiers: notify reads a contact per message.
    personal_data_bulk_read_thresholds: dict[str, int] = Field(
        default_factory=lambda: {"service:notify": 20_000, "service:sla": 2_000}
    )
    # The other services a data-subject export asks for what they hold.
    notify_url: str = "http://127.0.0.1:8004"
    sla_url: str = "http://127.0.0.1:8003"
    routing_url: str = "http://127.0.0.1:8002"
    data_subject_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- online payment through VNPay (services/intake/payments.py) ---
    vnpay_tmn_code: str = DEV_VNPAY_TMN_CODE
    vnpay_hash_secret: str = Field(default=DEV_VNPAY_HASH_SECRET, repr=False)
    vnpay_pay_url: str = "http://127.0.0.1:9110/paymentv2/vpcpay.html"
    vnpay_api_url: str = "http://127.0.0.1:9110/merchant_webapi/api/transaction"
    vnpay_return_url: str = "http://127.0.0.1:8001/v1/payments/vnpay/return"
    vnpay_expiry_minutes: int = Field(default=15, ge=1, le=1440)
    vnpay_timeout_seconds: float = Field(default=10.0, gt=0)
    # The daily job asks the query API about the attempts of the last days.
    payment_reconcile_interval_seconds: float = Field(default=86400.0, gt=0)
    payment_reconcile_window_days: int = Field(default=3, ge=1, le=60)
    payment_reconcile_grace_seconds: float = Field(
        default=300.0, ge=0, description="An attempt younger than this may still get its IPN."
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
    def dvcqg_pushing(self) -> bool:
        return self.dvcqg_push_enabled and bool(self.dvcqg_push_url)

    def insecure_settings(self) -> list[str]:
        """The national portal's credentials too, when this instance pushes to it."""
        problems = super().insecure_settings()
        if self.is_development or not self.dvcqg_pushing:
            return problems
        if not self.dvcqg_push_username:
            problems.append("DVCQG_PUSH_USERNAME is not set")
        problems.extend(secret_problems({"dvcqg_push_password": self.dvcqg_push_password}))
        return problems

    @property
    def bulk_read_policy(self) -> BulkReadPolicy:
        return BulkReadPolicy(
            threshold=self.personal_data_bulk_read_threshold,
            window_seconds=self.personal_data_bulk_read_window_seconds,
            per_caller=dict(self.personal_data_bulk_read_thresholds),
        )

    @property
    def webhook_policy(self) -> NetworkPolicy:
        return NetworkPolicy(
            allow_private=self.webhook_allow_private_networks,
            allowed_networks=parse_networks(self.webhook_allowed_networks),
        )
