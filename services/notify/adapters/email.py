"""Email through SMTP (aiosmtplib), over a few reused connections.

A connection per email spends most of its time on connect, EHLO and QUIT; the sender
keeps up to ``connections`` sessions open and sends one message at a time on each. A
session that fails is dropped (the next send opens a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib


class SmtpSender:
    def __init__(
        self, host: str, port: int, sender: str, connections: int = 4, timeout: float = 10.0
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)

    @staticmethod
    def build(
        sender: str, message_id: str, to: str, subject: str, text: str, html: str | None
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        # Our message id in the header lets a mail log tie a delivery back to us, and a
        # mail system drop the copy if a crash made us send it twice.
        msg["Message-ID"] = make_msgid(idstring=message_id, domain="onestop.local")
        msg["X-Onestop-Message-Id"] = message_id
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        return msg

    async def _session(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            if smtp.is_connected:
                return smtp
        smtp = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, timeout=self._timeout, start_tls=False
        )
        await smtp.connect()
        return smtp

    async def send(
        self, message_id: str, to: str, subject: str, text: str, html: str | None
    ) -> str:
        msg = self.build(self._sender, message_id, to, subject, text, html)
        async with self._slots:
            smtp = await self._session()
            try:
                await smtp.send_message(msg)
            except BaseException:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._idle.put_nowait(smtp)
        return str(msg["Message-ID"])

    async def close(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await smtp.quit()
