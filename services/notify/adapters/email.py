"""Email through SMTP (aiosmtplib), over a few reused connections, optionally with TLS.

A connection per email spends most of its time on connect, EHLO and QUIT; the sender
keeps up to ``connections`` sessions open and sends one message at a time on each. A
session that fails is dropped (the next send opens a new one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

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
        name, address = parseaddr(sender)
        self._envelope_from = address
        self._header_from = formataddr((name, address), charset="utf-8")
        self._timeout = timeout
        self._transport = transport or SmtpTransport()
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self.connections = connections
        self._slots = asyncio.Semaphore(connections)

    @staticmethod
    def build(
        sender: str, message_id: str, to: str, subject: str, text: str, html: str | None
    ) -> EmailMessage:
        """The message as the standard library builds it (any address it accepts)."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        # Our message id in the header lets a mail log tie a delivery back to us, and a
        # mail system drop the copy if a crash made us send it twice.
        msg["Message-ID"] = stable_msgid(message_id)
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
        raw = mime_bytes(self._header_from, message_id, to, subject, text, html)
        async with self._slots:
            smtp = await self._session()
            try:
                if raw is not None:
                    await smtp.sendmail(self._envelope_from, [to], raw)
                else:  # an address the fast path does not take: the library's way
                    await smtp.send_message(
                        self.build(self._sender, message_id, to, subject, text, html)
                    )
            except BaseException:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._idle.put_nowait(smtp)
        return stable_msgid(message_id)

    async def close(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await smtp.quit()


MSGID_DOMAIN = "onestop.local"
# A plain ASCII mailbox (what intake's validation gives): nothing a header could break on.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_WORD_BYTES = 45  # UTF-8 bytes per encoded word: 60 base64 characters, 72 with its frame


def stable_msgid(message_id: str) -> str:
    """The same Message-ID every time this message is sent (a copy sent again after a
    crash can be recognised and dropped)."""
    return f"<{message_id}@{MSGID_DOMAIN}>"


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded words, each short enough, folded onto lines of their own."""
    words, chunk = [], b""
    for ch in text:
        b = ch.encode()
        if len(chunk) + len(b) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += b
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)


def _part(boundary: str, subtype: str, body: str) -> str:
    encoded = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n")
    return (
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    )


def mime_bytes(
    header_from: str, message_id: str, to: str, subject: str, text: str, html: str | None
) -> bytes | None:
    """The message as MIME bytes, built directly: the standard library's header
    machinery costs milliseconds per message, which is most of an email's cost to us.
    Every header is ASCII (the subject as encoded words); bodies are base64. None when
    `to` or the message id is not plain ASCII without spaces: `SmtpSender.build` then."""
    plain = _PLAIN_ADDRESS.fullmatch
    if not header_from.isascii() or not plain(to) or not plain(f"{message_id}@x"):
        return None
    boundary = f"=_{secrets.token_hex(12)}"
    # As the library's set_content: every body ends with a line break.
    text = text if text.endswith("\n") else text + "\n"
    html = html if html is None or html.endswith("\n") else html + "\n"
    head = (
        f"From: {header_from}\r\nTo: {to}\r\nSubject: {_encoded_words(subject)}\r\n"
        f"Message-ID: {stable_msgid(message_id)}\r\nX-Onestop-Message-Id: {message_id}\r\n"
        f"MIME-Version: 1.0\r\n"
    )
    if html is None:
        body = (
            'Content-Type: text/plain; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")
        )
    else:
        body = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            + _part(boundary, "plain", text)
            + _part(boundary, "html", html)
            + f"--{boundary}--\r\n"
        )
    return (head + body).encode("ascii")
