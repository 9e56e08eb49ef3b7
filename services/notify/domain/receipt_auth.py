"""Who may report a delivery, and which message a report may touch. Pure: no I/O.

Each gateway proves a receipt its own way:

- **Zalo** signs every webhook: ``X-ZEvent-Signature`` is SHA-256 over app id + raw body
  + timestamp + the OA secret key (`zalo_signed_text`; the order comes from a developer
  write-up, unverified: if it is wrong, genuine webhooks are refused, which is safe).
- **eSMS** signs nothing: the CallbackUrl we hand it carries the message id and a token
  only we can compute (`receipt_token`), and a receipt that would end a message is
  confirmed through eSMS's status query before it counts.
- **Viettel** documents no report channel; where a contract agrees one, it presents a
  shared bearer token.

Whoever sent it, a receipt may only move a message that was actually handed to that
gateway under that gateway's message id (`receipt_target`); e-mail never.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Receipts a gateway may send, per channel of the message they would move.
CHANNEL_OF_PROVIDER = {"esms": "sms", "viettel": "sms", "zalo": "zalo"}


def zalo_signed_text(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> bytes:
    """The bytes Zalo hashes for ``X-ZEvent-Signature``: app id + raw body + timestamp +
    OA secret key (not the app secret), concatenated without separators.

    The one place that knows the composition: change it here if Zalo's own page differs.
    The timestamp is the webhook's own ``timestamp`` field (milliseconds, as sent).
    """
    return app_id.encode() + raw_body + timestamp.encode() + oa_secret_key.encode()


def zalo_signature(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """Hex SHA-256 of `zalo_signed_text`: what the header should carry."""
    return hashlib.sha256(zalo_signed_text(app_id, raw_body, timestamp, oa_secret_key)).hexdigest()


def zalo_signature_ok(
    header: str | None, app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str
) -> bool:
    """Constant-time check of the header (``<hex>`` or ``mac=<hex>``); missing is bad."""
    if not header or not oa_secret_key:
        return False
    given = header.strip()
    if given[:4].lower() == "mac=":
        given = given[4:].strip()
    expected = zalo_signature(app_id, raw_body, timestamp, oa_secret_key)
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def timestamp_fresh(timestamp_ms: str, now_ms: int, max_age_seconds: float) -> bool:
    """A webhook's millisecond timestamp is within `max_age_seconds` of now (either way:
    a clock a little ahead is fine, a replay of an old webhook is not)."""
    try:
        at = int(timestamp_ms)
    except (TypeError, ValueError):
        return False
    return abs(now_ms - at) <= max_age_seconds * 1000


def receipt_token(secret: str, provider: str, message_id: str) -> str:
    """The token in a gateway's callback URL for one message: HMAC-SHA256 of
    ``provider:message_id`` with notify's secret, hex. Unguessable without the secret,
    different per message and per gateway, and nothing to store."""
    mac = hmac.new(secret.encode(), f"{provider}:{message_id}".encode(), hashlib.sha256)
    return mac.hexdigest()


def secret_ok(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token; an empty expectation refuses all."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``["203.0.113.0/24", "2001:db8::/32"]`` → networks; raises ValueError on a bad one."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def source_allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    """No networks: anyone. Otherwise the client address must fall in one of them."""
    if not networks:
        return True
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


class Ignore(StrEnum):
    """Why a receipt from an authenticated gateway changes nothing (still answered 2xx)."""

    UNKNOWN = "unknown message"
    EMAIL = "e-mail messages take no receipts"
    OTHER_PROVIDER = "message handed to another provider"
    NOT_SENT = "message not handed to the provider yet"
    OTHER_ID = "provider message id does not match"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the receipt rule needs to know about a stored message."""

    channel: str
    provider: str | None
    provider_message_id: str | None
    sent: bool  # the gateway accepted it (sent_at is set)


def receipt_target(
    message: MessageFacts | None, provider: str, provider_message_id: str | None
) -> Ignore | None:
    """None when `provider` may report on `message` under `provider_message_id`;
    otherwise why the receipt is ignored."""
    if message is None:
        return Ignore.UNKNOWN
    if message.channel == "email":
        return Ignore.EMAIL
    if message.provider != provider or CHANNEL_OF_PROVIDER.get(provider) != message.channel:
        return Ignore.OTHER_PROVIDER
    if not message.sent or not message.provider_message_id:
        return Ignore.NOT_SENT
    if provider_message_id != message.provider_message_id:
        return Ignore.OTHER_ID
    return None
