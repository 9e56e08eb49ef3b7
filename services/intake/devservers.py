"""Intake's local stand-ins for `make run` and the tests: the VNPay gateway on VNPAY_PORT."""

from __future__ import annotations

import asyncio

import uvicorn
from pydantic_settings import BaseSettings

from services.intake.config import DEV_VNPAY_HASH_SECRET, DEV_VNPAY_TMN_CODE
from services.intake.fakes import vnpay_app


class DevSettings(BaseSettings):
    host: str = "127.0.0.1"
    vnpay_port: int = 9110
    intake_url: str = "http://127.0.0.1:8001"  # the terminal's IPN URL is intake's
    # The same variables intake reads: the stand-in signs and checks with them.
    vnpay_tmn_code: str = DEV_VNPAY_TMN_CODE
    vnpay_hash_secret: str = DEV_VNPAY_HASH_SECRET


async def main() -> None:
    cfg = DevSettings()
    app = vnpay_app.create_app(
        ipn_url=cfg.intake_url.rstrip("/") + "/v1/payments/vnpay/ipn",
        tmn_code=cfg.vnpay_tmn_code,
        secret=cfg.vnpay_hash_secret,
    )
    config = uvicorn.Config(app, host=cfg.host, port=cfg.vnpay_port, log_level="warning")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main())
