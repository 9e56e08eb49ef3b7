"""Notify's SMTP settings: a login never crosses the network in the clear."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.notify.app import NotifySettings

LOGIN: dict[str, Any] = {"smtp_username": "motcua", "smtp_password": "smtp-s3cret"}
PROD: dict[str, Any] = {"environment": "production", "service_token": "a-real-secret"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # An operator who sets a login but forgets TLS: the password would go in the clear.
        ({"smtp_host": "smtp.example.vn", **LOGIN}, "in the clear"),
        ({"smtp_host": "127.0.0.1", **LOGIN}, "in the clear"),
        # The development waiver is for loopback only.
        (
            {"smtp_host": "smtp.example.vn", "smtp_allow_plaintext_login": True, **LOGIN},
            "only for a development server on loopback",
        ),
        ({"smtp_use_tls": True, "smtp_starttls": True}, "exclude each other"),
        ({"smtp_starttls": True, "smtp_username": "motcua"}, "go together"),
        ({"smtp_cafile": "/etc/ssl/ca.pem"}, "neither SMTP_USE_TLS nor SMTP_STARTTLS"),
        # Production mail to a remote server is encrypted, login or not.
        ({**PROD, "smtp_host": "smtp.example.vn"}, "without TLS in production"),
    ],
)
def test_settings_that_would_expose_the_login_or_the_mail_are_refused(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifySettings(**values)


def test_settings_that_protect_the_login_are_accepted() -> None:
    starttls = NotifySettings(smtp_host="smtp.example.vn", smtp_starttls=True, **LOGIN)
    assert starttls.smtp_transport.starttls
    assert starttls.smtp_transport.password == "smtp-s3cret"
    assert "smtp-s3cret" not in repr(starttls) + repr(starttls.smtp_transport)
    assert NotifySettings(**PROD, smtp_host="smtp.example.vn", smtp_use_tls=True, **LOGIN)
    # The local development server: no TLS and no login, as `make run` has it.
    assert not NotifySettings().smtp_transport.encrypted
    assert NotifySettings(smtp_allow_plaintext_login=True, **LOGIN)
    assert NotifySettings(**PROD, smtp_host="relay.internal", transport_allow_plaintext=True)
