"""Email through SMTP (aiosmtplib), over a few reused connections, optionally with TLS.

A connection per email spends most of its time on connect, EHLO and QUIT; the sender
keeps up to ``connections`` sessions open and sends one message at a time on each. A
session that fails is dropped (the next send opens a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from services.runtime.transport import is_loopback


class SmtpTransportError(aiosmtplib.SMTPException):
    """The session is not protected as the settings require; nothing was sent."""


@dataclass(frozen=True)
class SmtpTransport:
    """How the sender protects its SMTP session (``SMTP_USE_TLS``, ``SMTP_STARTTLS``...)."""

    use_tls: bool = False  # TLS from the first byte (submissions port 465)
    starttls: bool = False  # plaintext greeting, then STARTTLS required before anything else
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str = ""  # PEM bundle of a private CA; empty: the system's CAs
    # Only for a development server on loopback: send the login without TLS.
    allow_plaintext_login: bool = False

    @property
    def encrypted(self) -> bool:
        return self.use_tls or self.starttls

    def tls_context(self) -> ssl.SSLContext | None:
        """A verifying context (certificate and host name) when TLS is on."""
        if not self.encrypted:
            return None
        return ssl.create_default_context(cafile=self.cafile or None)


def check_smtp_transport(
    host: str, transport: SmtpTransport, *, production: bool, allow_plaintext: bool
) -> None:
    """Refuse settings that would send a login, or mail in production, in the clear."""
    t = transport
    if t.use_tls and t.starttls:
        raise ValueError("SMTP_USE_TLS and SMTP_STARTTLS exclude each other: choose one")
    if bool(t.username) != bool(t.password):
        raise ValueError("SMTP_USERNAME and SMTP_PASSWORD go together")
    if t.cafile and not t.encrypted:
        raise ValueError("SMTP_CAFILE is set but neither SMTP_USE_TLS nor SMTP_STARTTLS is")
    if t.allow_plaintext_login and not is_loopback(host):
        raise ValueError(
            f"SMTP_ALLOW_PLAINTEXT_LOGIN is only for a development server on loopback, not {host}"
        )
    if t.username and not t.encrypted and not t.allow_plaintext_login:
        raise ValueError(
            "the SMTP login would cross the network in the clear: set SMTP_STARTTLS=true"
            " or SMTP_USE_TLS=true"
        )
    if production and not t.encrypted and not is_loopback(host) and not allow_plaintext:
        raise ValueError(
            f"mail to {host} without TLS in production: set SMTP_STARTTLS or SMTP_USE_TLS"
            " (or TRANSPORT_ALLOW_PLAINTEXT=true on a protected network)"
        )


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        connections: int = 4,
        timeout: float = 10.0,
        transport: SmtpTransport | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._transport = transport or SmtpTransport()
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
        t = self._transport
        # start_tls is True or False, never None ("if offered"), which a man in the middle
        # could turn off by removing STARTTLS from the server's EHLO answer.
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            use_tls=t.use_tls,
            start_tls=t.starttls,
            tls_context=t.tls_context(),
        )
        await smtp.connect()
        if t.username:
            # Checked again here, on the live session: the login only goes over TLS.
            if smtp.get_transport_info("sslcontext") is None and not t.allow_plaintext_login:
                smtp.close()
                raise SmtpTransportError("refusing to send the SMTP login without TLS")
            try:
                await smtp.login(t.username, t.password)
            except BaseException:
                smtp.close()
                raise
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
