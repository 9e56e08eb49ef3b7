"""Intake's settings (environment variables on top of the shared service settings)."""

from __future__ import annotations

from pydantic import Field

from services.runtime.settings import ServiceSettings

DEV_API_KEY = "dev-portal-key-change-me"


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    port: int = 8001
    workers: int = Field(default=1, ge=1, le=32, description="uvicorn worker processes.")
    # Outside production a dev portal (every unit) is seeded with this key, and requests
    # without a key act as that portal so local scripts keep working.
    dev_api_key: str = DEV_API_KEY
    allow_keyless_dev: bool = True
    lookup_burst: int = Field(default=5, ge=1)
    lookup_refill_per_second: float = Field(default=0.1, gt=0)
    webhook_poll_seconds: float = Field(default=0.3, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
