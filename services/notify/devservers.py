"""Local stand-ins for the outside world, for `make run` and the tests.

A real SMTP server (aiosmtpd) and gateway servers that speak the eSMS JSON, Viettel SOAP
and Zalo ZNS shapes. An HTTP app on ``PORT`` shows the mail received (``GET /_mail``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP
from fastapi import FastAPI
from pydantic_settings import BaseSettings

from services.notify.dev_defaults import (
    DEV_VIETTEL_RECEIPT_TOKEN,
    DEV_ZALO_APP_ID,
    DEV_ZALO_OA_SECRET_KEY,
)
from services.notify.fakes import esms_app, viettel_app, zalo_app


class DevSettings(BaseSettings):
    host: str = "127.0.0.1"
    port: int = 9100
    smtp_port: int = 2525
    esms_port: int = 9101
    viettel_port: int = 9102
    zalo_port: int = 9103
    # The fakes send delivery receipts to notify's callback endpoints.
    notify_url: str = "http://127.0.0.1:8004"
    # The same variables notify reads: the stand-ins authenticate their receipts with them.
    zalo_app_id: str = DEV_ZALO_APP_ID
    zalo_oa_secret_key: str = DEV_ZALO_OA_SECRET_KEY
    viettel_receipt_token: str = DEV_VIETTEL_RECEIPT_TOKEN


class MailBox:
    """aiosmtpd handler that keeps every message it accepted.

    A message is kept as received (its bytes and when) and parsed when it is read: the
    stand-in's own cost per message stays small beside the sender's it is measured with.
    """

    def __init__(self) -> None:
        self._raw: list[tuple[float, str, list[str], bytes]] = []
        self._parsed: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self._raw.append(
            (time.time(), envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[dict[str, Any]]:
        for received_at, mail_from, rcpt_tos, content in self._raw[len(self._parsed) :]:
            parsed = email.message_from_bytes(content, policy=email.policy.default)
            text = parsed.get_body(preferencelist=("plain",))
            html = parsed.get_body(preferencelist=("html",))
            self._parsed.append(
                {
                    "from": mail_from,
                    "to": rcpt_tos,
                    "subject": str(parsed["Subject"]),
                    "message_id": str(parsed["X-Onestop-Message-Id"]),
                    "text": text.get_content() if text is not None else "",
                    "html": html.get_content() if html is not None else "",
                    "received_at": received_at,
                }
            )
        return self._parsed


def mail_app(box: MailBox) -> FastAPI:
    app = FastAPI(title="dev mailbox")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_mail")
    async def mail() -> list[dict[str, Any]]:
        return box.messages

    return app


async def main() -> None:
    cfg = DevSettings()
    box = MailBox()
    # On this event loop, not in aiosmtpd's Controller thread: a thread beside the HTTP
    # stand-ins waited for the GIL on every SMTP command, and at load each email queued
    # behind that for seconds (slow for a stand-in of a mail server).
    smtp = await asyncio.get_running_loop().create_server(
        lambda: SMTP(box), host=cfg.host, port=cfg.smtp_port
    )
    callbacks = cfg.notify_url.rstrip("/") + "/v1/callbacks"
    apps = [
        (mail_app(box), cfg.port),
        (esms_app.create_app(callback_url=f"{callbacks}/esms"), cfg.esms_port),
        (
            viettel_app.create_app(
                callback_url=f"{callbacks}/viettel", receipt_token=cfg.viettel_receipt_token
            ),
            cfg.viettel_port,
        ),
        (
            zalo_app.create_app(
                callback_url=f"{callbacks}/zalo",
                app_id=cfg.zalo_app_id,
                oa_secret_key=cfg.zalo_oa_secret_key,
            ),
            cfg.zalo_port,
        ),
    ]
    servers = [
        uvicorn.Server(
            uvicorn.Config(app, host=cfg.host, port=port, log_level="warning", access_log=False)
        )
        for app, port in apps
    ]
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        smtp.close()
        await smtp.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
