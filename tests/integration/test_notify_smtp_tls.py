"""Notify's email sender over SMTP with STARTTLS or TLS and a login, against real servers.

The mail server (aiosmtpd) requires STARTTLS and a login, as a provider's submission port
does. An attacker in the middle who strips STARTTLS from the server's answer, or answers
with a certificate of their own, gets neither the login nor the mail.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notify.adapters.email import SmtpSender, SmtpTransport, SmtpTransportError
from services.notify.app import NotifySettings
from services.notify.devservers import MailBox
from tests.support.processes import free_port
from tests.support.tlscerts import ServerTls, make_server_tls

pytestmark = [
    pytest.mark.integration,
    # The stripped and the port-465 servers take AUTH without TLS they negotiated: on purpose.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]
USER, PASSWORD = "motcua@onestop.example", "smtp-s3cret"


@dataclass
class MailServer:
    port: int
    box: MailBox
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, TLS?


def _authenticator(server: MailServer) -> Any:
    def authenticate(
        _smtp: Any, session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        server.logins.append((login, password, session.ssl is not None))
        return AuthResult(success=(login, password) == (USER, PASSWORD))

    return authenticate


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ServerTls]:
    directory: Path = tmp_path_factory.mktemp("tls")
    return {
        "provider": make_server_tls(directory, "provider"),
        "impostor": make_server_tls(directory, "impostor"),
    }


def _serve(**smtp_options: Any) -> Iterator[MailServer]:
    server = MailServer(port=free_port(), box=MailBox())
    controller = Controller(
        server.box,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=_authenticator(server),
        **smtp_options,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def provider(tls: dict[str, ServerTls]) -> Iterator[MailServer]:
    """The real provider: STARTTLS with its CA's certificate, then a login, required."""
    yield from _serve(
        tls_context=tls["provider"].server_context(),
        require_starttls=True,
        auth_required=True,
    )


@pytest.fixture
def stripped() -> Iterator[MailServer]:
    """A man in the middle that removed STARTTLS and takes a login in the clear."""
    yield from _serve(auth_required=True, auth_require_tls=False)


@pytest.fixture
def impostor(tls: dict[str, ServerTls]) -> Iterator[MailServer]:
    """A man in the middle that offers STARTTLS, with a certificate of another CA."""
    yield from _serve(
        tls_context=tls["impostor"].server_context(), require_starttls=True, auth_required=True
    )


@pytest.fixture
def implicit(tls: dict[str, ServerTls]) -> Iterator[MailServer]:
    """A provider's port 465: TLS from the first byte, then a login."""
    # aiosmtpd does not count TLS it did not negotiate itself as TLS for AUTH; the
    # connection is TLS from the start here, so AUTH is offered at once.
    yield from _serve(
        ssl_context=tls["provider"].server_context(), auth_required=True, auth_require_tls=False
    )


def sender(port: int, transport: SmtpTransport) -> SmtpSender:
    return SmtpSender("127.0.0.1", port, "Một cửa <motcua@onestop.example>", transport=transport)


async def send_one(smtp: SmtpSender) -> str:
    try:
        return await smtp.send(
            "m-1", "lan@example.vn", "Hồ sơ đã được tiếp nhận", "Kính gửi bà Lan", None
        )
    finally:
        await smtp.close()


async def test_mail_goes_over_starttls_with_the_login_from_the_settings(
    provider: MailServer, tls: dict[str, ServerTls]
) -> None:
    settings = NotifySettings(
        smtp_port=provider.port,
        smtp_starttls=True,
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_cafile=str(tls["provider"].ca_file),
    )
    await send_one(sender(provider.port, settings.smtp_transport))
    assert provider.logins == [(USER, PASSWORD, True)]
    assert [m["subject"] for m in provider.box.messages] == ["Hồ sơ đã được tiếp nhận"]


async def test_mail_goes_over_implicit_tls_with_the_login(
    implicit: MailServer, tls: dict[str, ServerTls]
) -> None:
    transport = SmtpTransport(
        use_tls=True, username=USER, password=PASSWORD, cafile=str(tls["provider"].ca_file)
    )
    await send_one(sender(implicit.port, transport))
    assert [(u, p) for u, p, _ in implicit.logins] == [(USER, PASSWORD)]
    assert len(implicit.box.messages) == 1


async def test_a_server_without_starttls_gets_neither_the_login_nor_the_mail(
    stripped: MailServer, tls: dict[str, ServerTls]
) -> None:
    transport = SmtpTransport(
        starttls=True, username=USER, password=PASSWORD, cafile=str(tls["provider"].ca_file)
    )
    with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
        await send_one(sender(stripped.port, transport))
    assert stripped.logins == []
    assert stripped.box.messages == []


async def test_a_server_with_a_certificate_we_do_not_trust_gets_nothing(
    impostor: MailServer, tls: dict[str, ServerTls]
) -> None:
    transport = SmtpTransport(
        starttls=True, username=USER, password=PASSWORD, cafile=str(tls["provider"].ca_file)
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await send_one(sender(impostor.port, transport))
    assert impostor.logins == []
    assert impostor.box.messages == []


async def test_the_sender_itself_refuses_a_login_without_tls(stripped: MailServer) -> None:
    # Settings refuse this combination (see the unit tests); the sender checks the live
    # session as well, so a transport built by hand cannot leak the password either.
    transport = SmtpTransport(username=USER, password=PASSWORD)
    with pytest.raises(SmtpTransportError):
        await send_one(sender(stripped.port, transport))
    assert stripped.logins == []
    assert stripped.box.messages == []


async def test_a_loopback_dev_server_may_take_a_login_in_the_clear_when_allowed(
    stripped: MailServer,
) -> None:
    settings = NotifySettings(
        smtp_port=stripped.port,
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_allow_plaintext_login=True,
    )
    await send_one(sender(stripped.port, settings.smtp_transport))
    assert stripped.logins == [(USER, PASSWORD, False)]
    assert len(stripped.box.messages) == 1
