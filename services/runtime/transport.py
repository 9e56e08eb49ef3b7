"""How the services reach Kafka and PostgreSQL: TLS, SASL/SCRAM and the policy around them.

:class:`TransportSettings` is a base of every service's settings (environment variables
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``, ``DATABASE_SSL*``,
``TRANSPORT_ALLOW_PLAINTEXT``). :func:`kafka_client_options` turns them into the keyword
arguments every aiokafka client takes (producer, consumers, admin, dead-letter replay), and
:func:`database_dsn` into the DSN asyncpg connects with. :func:`start_kafka_client` starts a
client and, when the broker refused our credentials or certificate, says so instead of
aiokafka's "Unable to bootstrap" (that is a configuration error; retrying will not help).

Policy (checked when the settings load):

- SASL needs a username and a password; only SCRAM is offered, so the password itself
  never crosses the wire, even on ``SASL_PLAINTEXT``.
- Certificate, key and CA files are only accepted with a TLS protocol (``SSL``,
  ``SASL_SSL``), so nobody believes TLS is on when it is not.
- In production, Kafka must use ``SSL`` / ``SASL_SSL`` and PostgreSQL ``sslmode``
  ``verify-ca`` / ``verify-full`` unless every server is on loopback (or a Unix socket),
  or ``TRANSPORT_ALLOW_PLAINTEXT=true`` says the network is protected otherwise (e.g. a
  service mesh with mutual TLS).
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, model_validator

if TYPE_CHECKING:
    from collections.abc import Mapping

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]
PgSslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
VERIFYING_SSLMODES = frozenset({"verify-ca", "verify-full"})


class KafkaAuthenticationError(RuntimeError):
    """The broker refused our SASL credentials or we refused its certificate."""


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8, ``::1`` (brackets allowed), or a Unix socket path."""
    host = host.strip().strip("[]")
    if host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def kafka_hosts(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 in brackets) as pairs; port 9092 when absent."""
    pairs: list[tuple[str, int]] = []
    for item in (part.strip() for part in bootstrap.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
            host, port = item, "9092"
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def database_hosts(dsn: str) -> list[str]:
    """The hosts of a ``postgresql://`` DSN (several, comma-separated, allowed; ``host=``
    in the query wins, as in libpq). An empty list means the default Unix socket."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    if query.get("host"):
        return [h for h in query["host"].split(",") if h]
    netloc = parts.netloc.rpartition("@")[2]
    hosts = []
    for item in netloc.split(","):
        if not item:
            continue
        if item.startswith("["):
            hosts.append(item[1 : item.index("]")])
        else:
            hosts.append(item.split(":")[0])
    return [h for h in hosts if h]


def database_sslmode(dsn: str) -> str | None:
    return dict(parse_qsl(urlsplit(dsn).query)).get("sslmode")


class TransportSettings(BaseModel):
    """Transport security of the Kafka and PostgreSQL connections (a settings base)."""

    kafka_security_protocol: KafkaProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = Field(default="", description="PEM CA bundle; empty: system CAs.")
    kafka_ssl_certfile: str = Field(default="", description="Client certificate (mutual TLS).")
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: SecretStr = SecretStr("")
    database_sslmode: PgSslMode | None = Field(
        default=None, description="sslmode when DATABASE_URL carries none."
    )
    database_sslrootcert: str = Field(
        default="", description="CA file when DATABASE_URL carries no sslrootcert."
    )
    transport_allow_plaintext: bool = Field(
        default=False,
        description="Production only: accept plaintext Kafka / PostgreSQL to remote hosts.",
    )

    @model_validator(mode="after")
    def _check_transport(self) -> TransportSettings:
        check_transport(
            self,
            environment=str(getattr(self, "environment", "development")),
            database_url=str(getattr(self, "database_url", "")),
            kafka_bootstrap=str(getattr(self, "kafka_bootstrap_servers", "")),
        )
        return self

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in {"SSL", "SASL_SSL"}

    @property
    def database_dsn(self) -> str:
        """``DATABASE_URL`` with ``DATABASE_SSLMODE`` / ``DATABASE_SSLROOTCERT`` added."""
        return database_dsn(
            str(getattr(self, "database_url", "")), self.database_sslmode, self.database_sslrootcert
        )

    def kafka_client_options(self) -> dict[str, Any]:
        return kafka_client_options(self)


def check_transport(
    t: TransportSettings, *, environment: str, database_url: str, kafka_bootstrap: str
) -> None:
    """Refuse settings that would not protect what they seem to (``ValueError``)."""
    protocol = t.kafka_security_protocol
    if protocol.startswith("SASL_") and not (
        t.kafka_sasl_username and t.kafka_sasl_password.get_secret_value()
    ):
        raise ValueError(
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
        )
    if not protocol.startswith("SASL_") and (
        t.kafka_sasl_username or t.kafka_sasl_password.get_secret_value()
    ):
        raise ValueError(
            f"KAFKA_SASL_USERNAME/_PASSWORD are set but KAFKA_SECURITY_PROTOCOL={protocol}"
            " would not use them"
        )
    tls_files = (t.kafka_ssl_cafile, t.kafka_ssl_certfile, t.kafka_ssl_keyfile)
    if any(tls_files) and not t.kafka_uses_tls:
        raise ValueError(
            f"KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS"
        )
    if t.kafka_ssl_keyfile and not t.kafka_ssl_certfile:
        raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE")
    dsn_mode = database_sslmode(database_url)
    if dsn_mode and t.database_sslmode and dsn_mode != t.database_sslmode:
        raise ValueError(
            f"DATABASE_URL says sslmode={dsn_mode} but DATABASE_SSLMODE={t.database_sslmode}"
        )
    if environment == "development" or t.transport_allow_plaintext:
        return
    remote_kafka = [h for h, _ in kafka_hosts(kafka_bootstrap) if not is_loopback(h)]
    if remote_kafka and not t.kafka_uses_tls:
        raise ValueError(
            f"Kafka at {', '.join(remote_kafka)} without TLS: set KAFKA_SECURITY_PROTOCOL"
            " to SSL or SASL_SSL (or TRANSPORT_ALLOW_PLAINTEXT=true on a protected network)"
        )
    remote_db = [h for h in database_hosts(database_url) if not is_loopback(h)]
    mode = dsn_mode or t.database_sslmode
    if remote_db and mode not in VERIFYING_SSLMODES:
        raise ValueError(
            f"PostgreSQL at {', '.join(remote_db)} with sslmode={mode or 'prefer'}: the server's"
            " certificate is not verified; use sslmode verify-full or verify-ca"
            " (DATABASE_SSLMODE, DATABASE_SSLROOTCERT)"
        )


def database_dsn(url: str, sslmode: str | None, sslrootcert: str = "") -> str:
    """Add ``sslmode`` / ``sslrootcert`` to a DSN's query unless it carries them already."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    if sslmode and "sslmode" not in present:
        query.append(("sslmode", sslmode))
    if sslrootcert and "sslrootcert" not in present:
        query.append(("sslrootcert", sslrootcert))
    return urlunsplit(parts._replace(query=urlencode(query)))


def kafka_ssl_context(t: TransportSettings) -> ssl.SSLContext:
    """Verifying client context (hostname checked); the CA file or the system's CAs."""
    from aiokafka.helpers import create_ssl_context

    key_password = t.kafka_ssl_key_password.get_secret_value() or None
    context: ssl.SSLContext = create_ssl_context(
        cafile=t.kafka_ssl_cafile or None,
        certfile=t.kafka_ssl_certfile or None,
        keyfile=t.kafka_ssl_keyfile or None,
        password=key_password,
    )
    return context


def kafka_client_options(t: TransportSettings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer`` / ``AIOKafkaConsumer`` / the admin client."""
    options: dict[str, Any] = {"security_protocol": t.kafka_security_protocol}
    if t.kafka_uses_tls:
        options["ssl_context"] = kafka_ssl_context(t)
    if t.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = t.kafka_sasl_mechanism
        options["sasl_plain_username"] = t.kafka_sasl_username
        options["sasl_plain_password"] = t.kafka_sasl_password.get_secret_value()
    return options


_CONNECTION_OPTIONS = (
    "security_protocol",
    "ssl_context",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
)


async def raise_for_authentication(bootstrap: str, options: Mapping[str, Any]) -> None:
    """Connect once to each bootstrap server; raise :class:`KafkaAuthenticationError` if
    one refused our credentials or presented a certificate we do not trust."""
    from aiokafka import errors
    from aiokafka.conn import create_conn

    refused = (
        errors.SaslAuthenticationFailed,
        errors.AuthenticationFailedError,
        errors.UnsupportedSaslMechanismError,
        errors.IllegalSaslStateError,
        ssl.SSLCertVerificationError,
    )
    conn_options = {k: v for k, v in options.items() if k in _CONNECTION_OPTIONS}
    for host, port in kafka_hosts(bootstrap):
        try:
            conn = await create_conn(host, port, request_timeout_ms=10_000, **conn_options)
        except refused as exc:
            raise KafkaAuthenticationError(f"Kafka at {host}:{port} refused us: {exc}") from exc
        except (OSError, errors.KafkaError, TimeoutError):
            continue
        conn.close()


async def start_kafka_client(client: Any, bootstrap: str, options: Mapping[str, Any]) -> None:
    """``await client.start()``; an authentication failure is raised as such."""
    from aiokafka.errors import KafkaConnectionError

    try:
        await client.start()
    except KafkaConnectionError:
        await raise_for_authentication(bootstrap, options)
        raise
