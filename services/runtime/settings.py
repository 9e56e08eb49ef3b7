"""One settings object per service, all sharing this base (environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql://onestop:onestop@127.0.0.1:55432/onestop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tests isolate themselves with prefixes; production leaves them empty.
    topic_prefix: str = ""
    schema_prefix: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    otel_exporter: Literal["none", "console", "otlp", "postgres"] = "postgres"
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    log_level: str = "INFO"
    reference_profile: Literal["three_level", "two_level"] = "three_level"
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Off only in fault-injection tests: rows stay committed but unpublished.
    outbox_relay_enabled: bool = True
    consumer_batch_max: int = 200
    consumer_max_attempts: int = Field(default=3, ge=1)
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused (413)."
    )
    service_token: str = Field(
        default=DEV_SECRET, description="Shared secret for service-to-service calls."
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.service_token == DEV_SECRET:
            raise ValueError("SERVICE_TOKEN must be set outside development")
        return self

    @property
    def db_schema(self) -> str:
        return f"{self.schema_prefix}{self.service_name}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
