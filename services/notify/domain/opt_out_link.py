"""Signed opt-out links: the citizen stops one channel from a link in the message itself.

A token names a contact reference and a channel and carries its last valid day; it is
HMAC-SHA256 signed with `OPT_OUT_LINK_SECRET` and checked in constant time. Nothing is
stored per link. The token is short so an SMS keeps its link in as few segments as can be:
16 bytes of contact reference, 1 of channel, 2 of expiry (days since 1970-01-01) and the
first 11 bytes (88 bits) of the MAC, 30 bytes = 40 URL-safe base64 characters, all in
GSM-7's basic table (no escaped characters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

EPOCH = date(1970, 1, 1)
REF_BYTES = 16
MAC_BYTES = 11
TOKEN_BYTES = REF_BYTES + 1 + 2 + MAC_BYTES
TOKEN_LENGTH = 40  # 30 bytes in base64 without padding
_DOMAIN = b"onestop:opt-out:v1|"
_CHANNEL_CODES = {"email": b"e", "sms": b"s", "zalo": b"z"}
_CODE_CHANNELS = {code: channel for channel, code in _CHANNEL_CODES.items()}
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class LinkRefusal(StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad signature"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class OptOutLink:
    contact_ref: str
    channel: str
    expires_on: date  # the last day the link works (Vietnam's calendar day)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if not text or any(ch not in _ALPHABET for ch in text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def contact_ref_bytes(contact_ref: str) -> bytes | None:
    """The 16 bytes of a reference intake issued (canonical URL-safe base64), or None."""
    raw = _b64decode(contact_ref)
    if raw is None or len(raw) != REF_BYTES or _b64encode(raw) != contact_ref:
        return None
    return raw


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + body, hashlib.sha256).digest()[:MAC_BYTES]


def sign(secret: bytes, contact_ref: str, channel: str, expires_on: date) -> str:
    """The token for `contact_ref` and `channel`, valid through `expires_on`.

    Raises ValueError for a reference that is not one intake issues or an unknown channel.
    """
    ref = contact_ref_bytes(contact_ref)
    if ref is None:
        raise ValueError("not an opaque contact reference")
    code = _CHANNEL_CODES.get(channel)
    if code is None:
        raise ValueError(f"unknown channel {channel!r}")
    days = (expires_on - EPOCH).days
    if not 0 <= days <= 0xFFFF:
        raise ValueError("expiry out of range")
    body = ref + code + days.to_bytes(2, "big")
    return _b64encode(body + _mac(secret, body))


def expiry(today: date, ttl_days: int) -> date:
    return today + timedelta(days=ttl_days)


def verify(secret: bytes, token: str, today: date) -> OptOutLink | LinkRefusal:
    """What a token names, or why it is refused; the MAC is compared in constant time and
    checked before anything the token says is believed (its expiry included)."""
    if len(token) != TOKEN_LENGTH:
        return LinkRefusal.MALFORMED
    raw = _b64decode(token)
    if raw is None or len(raw) != TOKEN_BYTES:
        return LinkRefusal.MALFORMED
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(_mac(secret, body), mac):
        return LinkRefusal.BAD_SIGNATURE
    channel = _CODE_CHANNELS.get(body[REF_BYTES : REF_BYTES + 1])
    if channel is None:  # signed by us, so only a future format could get here
        return LinkRefusal.MALFORMED
    expires_on = EPOCH + timedelta(days=int.from_bytes(body[REF_BYTES + 1 :], "big"))
    if today > expires_on:
        return LinkRefusal.EXPIRED
    return OptOutLink(_b64encode(body[:REF_BYTES]), channel, expires_on)


CHANNEL_NAMES = {"email": "thư điện tử (email)", "sms": "tin nhắn SMS", "zalo": "tin nhắn Zalo"}


@dataclass(frozen=True, slots=True)
class OptOutLinks:
    """Makes the links messages carry, from notify's settings."""

    secret: bytes
    base_url: str  # where citizens reach notify, e.g. https://thongbao.tinh.gov.vn
    ttl_days: int = 90

    def token(self, contact_ref: str, channel: str, today: date) -> str | None:
        try:
            return sign(self.secret, contact_ref, channel, expiry(today, self.ttl_days))
        except ValueError:
            return None

    def url(self, contact_ref: str, channel: str, today: date) -> str | None:
        """The short link (`/o/<token>`), or None for a reference intake did not issue."""
        found = self.token(contact_ref, channel, today)
        return f"{self.base_url.rstrip('/')}/o/{found}" if found is not None else None

    def verify(self, token: str, today: date) -> OptOutLink | LinkRefusal:
        return verify(self.secret, token, today)
