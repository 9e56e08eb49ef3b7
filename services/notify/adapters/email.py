"""Email through SMTP (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib


class SmtpSender:
    def __init__(self, host: str, port: int, sender: str) -> None:
        self._host = host
        self._port = port
        self._sender = sender

    async def send(
        self, message_id: str, to: str, subject: str, text: str, html: str | None
    ) -> str:
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = to
        msg["Subject"] = subject
        # Our message id in the header lets a mail log tie a delivery back to us.
        msg["Message-ID"] = make_msgid(idstring=message_id, domain="onestop.local")
        msg["X-Onestop-Message-Id"] = message_id
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        await aiosmtplib.send(msg, hostname=self._host, port=self._port, timeout=10)
        return str(msg["Message-ID"])
