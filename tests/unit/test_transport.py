"""Transport settings: what reaches aiokafka and asyncpg, and what is refused at start."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from pydantic import ValidationError

from services.runtime.settings import ServiceSettings
from services.runtime.transport import (
    database_dsn,
    database_hosts,
    is_loopback,
    kafka_hosts,
)

PROD = {"environment": "production", "service_token": "a-real-secret"}
REMOTE_DB = "postgresql://u:p@db.example:5432/onestop"


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(**values)


def test_plaintext_is_the_development_default_and_adds_nothing() -> None:
    s = settings()
    assert s.kafka_client_options() == {"security_protocol": "PLAINTEXT"}
    assert s.database_dsn == s.database_url


def test_sasl_ssl_gives_scram_credentials_and_a_verifying_tls_context() -> None:
    s = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="onestop",
        kafka_sasl_password="s3cret",
    )
    options = s.kafka_client_options()
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "onestop",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert "s3cret" not in repr(s)  # the password is a secret in logs and reprs


def test_ssl_with_a_missing_ca_file_fails_loudly() -> None:
    s = settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/nonexistent/ca.pem")
    with pytest.raises(FileNotFoundError):
        s.kafka_client_options()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "needs KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
            "needs KAFKA_SASL_USERNAME",
        ),
        # Credentials or certificates that the chosen protocol would silently ignore.
        ({"kafka_sasl_username": "u", "kafka_sasl_password": "p"}, "would not use them"),
        ({"kafka_ssl_cafile": "/etc/ssl/ca.pem"}, "does not use TLS"),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_username": "u",
                "kafka_sasl_password": "p",
                "kafka_ssl_certfile": "/c.pem",
            },
            "does not use TLS",
        ),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/k.pem"}, "needs KAFKA_SSL_CERT"),
        (
            {"database_url": REMOTE_DB + "?sslmode=disable", "database_sslmode": "verify-full"},
            "DATABASE_URL says sslmode=disable",
        ),
    ],
)
def test_settings_that_would_not_protect_what_they_seem_to_are_refused(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_production_refuses_plaintext_kafka_to_a_remote_broker() -> None:
    with pytest.raises(ValidationError, match="without TLS"):
        settings(**PROD, kafka_bootstrap_servers="kafka-1.example:9092,127.0.0.1:9092")
    with pytest.raises(ValidationError, match="without TLS"):
        settings(
            **PROD,
            kafka_bootstrap_servers="kafka.example:9092",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username="u",
            kafka_sasl_password="p",
        )


def test_production_refuses_an_unverified_database_certificate() -> None:
    for url in (REMOTE_DB, REMOTE_DB + "?sslmode=require", REMOTE_DB + "?sslmode=prefer"):
        with pytest.raises(ValidationError, match="not verified"):
            settings(**PROD, database_url=url)


def test_production_accepts_verified_tls_to_remote_servers() -> None:
    s = settings(
        **PROD,
        kafka_bootstrap_servers="kafka.example:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
        database_url=REMOTE_DB,
        database_sslmode="verify-full",
        database_sslrootcert="/etc/onestop/pg-ca.pem",
    )
    assert s.database_dsn == (
        REMOTE_DB + "?sslmode=verify-full&sslrootcert=%2Fetc%2Fonestop%2Fpg-ca.pem"
    )
    assert settings(**PROD, database_url=REMOTE_DB + "?sslmode=verify-ca")


def test_production_on_loopback_or_with_an_explicit_waiver_may_stay_plaintext() -> None:
    assert settings(**PROD)  # 127.0.0.1 for both, as `make run` has them
    assert settings(**PROD, database_url="postgresql://u@/onestop?host=/var/run/postgresql")
    assert settings(
        **PROD,
        kafka_bootstrap_servers="kafka:9092",
        database_url="postgresql://u:p@postgres:5432/onestop",
        transport_allow_plaintext=True,
    )


def test_the_dsn_keeps_what_it_carries_and_gains_what_it_lacks() -> None:
    assert database_dsn(REMOTE_DB, None) == REMOTE_DB
    assert database_dsn(REMOTE_DB + "?sslmode=verify-ca", "verify-full", "/ca.pem") == (
        REMOTE_DB + "?sslmode=verify-ca&sslrootcert=%2Fca.pem"
    )
    assert database_dsn(REMOTE_DB + "?application_name=x", "require") == (
        REMOTE_DB + "?application_name=x&sslmode=require"
    )


def test_hosts_and_loopback() -> None:
    assert kafka_hosts("a:9092, [::1]:9093,b") == [("a", 9092), ("::1", 9093), ("b", 9092)]
    assert database_hosts("postgresql://u:p@h1:5432,h2/db") == ["h1", "h2"]
    assert database_hosts("postgresql://u:p@[::1]:5432/db") == ["::1"]
    assert database_hosts("postgresql:///db") == []
    assert [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "/tmp", "10.0.0.1")] == [
        True,
        True,
        True,
        True,
        False,
    ]
    assert not is_loopback("localhost.evil.example")
