"""Pure parts of portal callbacks: signature and retry schedule."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Onestop-Signature"
TIMESTAMP_HEADER = "X-Onestop-Timestamp"
DELIVERY_HEADER = "X-Onestop-Delivery"
MAX_BACKOFF_SECONDS = 3600.0
RETRYABLE_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_seconds(base: float, attempts_done: int, retry_after: float | None = None) -> float:
    """Doubling delay after the n-th failed attempt; a receiver's Retry-After wins if longer."""
    delay: float = min(base * 2.0 ** max(attempts_done - 1, 0), MAX_BACKOFF_SECONDS)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF_SECONDS))
    return delay


def is_retryable(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS
