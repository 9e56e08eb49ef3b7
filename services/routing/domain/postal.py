"""Results by post, the pure part: order references, the order request, signed tracking
callbacks, what each tracking status does to the dossier, and the sender's backoff."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Literal

TrackingStatus = Literal["accepted", "in_transit", "delivered", "returned_to_sender"]
TRACKING_STATUSES: frozenset[str] = frozenset(
    {"accepted", "in_transit", "delivered", "returned_to_sender"}
)
SIGNATURE_HEADER = "X-Postal-Signature"
TIMESTAMP_HEADER = "X-Postal-Timestamp"
#: Development only (a production routing refuses to start with them).
DEV_API_KEY = "dev-postal-api-key-change-me"
DEV_CALLBACK_SECRET = "dev-postal-callback-secret-change-me"
#: A callback signed longer ago than this (or this far ahead) is refused: no replays.
TOLERANCE_SECONDS = 300


def order_ref(dossier_id: str) -> str:
    """Our reference of a dossier's one postal order: the postal service's idempotency key,
    so a retried creation never makes a second parcel."""
    return f"HS-{dossier_id}"


def order_request(
    ref: str,
    *,
    dossier_code: str,
    unit_code: str,
    papers: Sequence[str],
    receiver: Mapping[str, Any],
    callback_url: str,
) -> dict[str, Any]:
    """The create-order body (VNPost-style shape, docs/POSTAL.md)."""
    return {
        "partner_order_code": ref,
        "service": "BUU_CHINH_CONG_ICH",
        "sender": {"unit_code": unit_code, "name": f"Bộ phận một cửa {unit_code}"},
        "receiver": {
            "name": receiver["full_name"],
            "phone": receiver["phone"],
            "address": receiver["postal_address"],
        },
        "parcel": {
            "content": f"Kết quả giải quyết hồ sơ {dossier_code}",
            "papers": list(papers),
            "weight_gram": 100 + 20 * len(papers),
        },
        "callback_url": callback_url,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of ``timestamp.body``, hex."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float) -> bool:
    """A callback is genuine when signed with the shared secret, recently."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - signed_at) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature.lower())


Effect = Literal["return_result", "note_returned_to_sender", "note"]


def effect_of(status: str) -> Effect:
    """Delivered closes the dossier (status 10); returned to sender leaves it ready at the
    desk (status 9) with an audit line; the others are timeline events only."""
    if status == "delivered":
        return "return_result"
    if status == "returned_to_sender":
        return "note_returned_to_sender"
    return "note"


def backoff_seconds(attempts: int, base: float = 2.0, cap: float = 600.0) -> float:
    """Delay before the next try after ``attempts`` failed ones: doubling, capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def is_retryable(status_code: int) -> bool:
    return status_code in (408, 425, 429) or status_code >= 500
