"""Citizen satisfaction: the signed rating link of the final message, and the form's rules.

The message telling the citizen the result is ready carries a link to rate how the dossier
was handled, on the four criteria of the province's satisfaction index (thời gian giải
quyết, thái độ phục vụ, hướng dẫn rõ ràng, kết quả giải quyết), 1 to 5 each, with an
optional comment. The token names the dossier and its last valid day and is HMAC-SHA256
signed with `RATING_LINK_SECRET` (checked in constant time, before anything it says is
believed), like the opt-out links (`opt_out_link.py`) but under its own key and domain
separator, so neither kind of token is accepted as the other. Nothing is stored per link;
one rating per dossier is the store's primary key.

16 bytes of dossier id, 2 of expiry (days since 1970-01-01) and 11 of MAC: 29 bytes,
39 URL-safe base64 characters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from services.notify.domain.opt_out_link import EPOCH, MAC_BYTES, LinkRefusal
from services.runtime.logs import mask_personal_data

_DOMAIN = b"onestop:rating:v1|"
ID_BYTES = 16
TOKEN_BYTES = ID_BYTES + 2 + MAC_BYTES
TOKEN_LENGTH = 39
# The criteria, in the order the form and the reports show them, with their labels.
CRITERIA: dict[str, str] = {
    "timeliness": "Thời gian giải quyết hồ sơ",
    "attitude": "Thái độ phục vụ của cán bộ, công chức",
    "clarity": "Hướng dẫn rõ ràng, dễ hiểu",
    "outcome": "Kết quả giải quyết hồ sơ",
}
SCORES: dict[int, str] = {
    1: "Rất không hài lòng",
    2: "Không hài lòng",
    3: "Bình thường",
    4: "Hài lòng",
    5: "Rất hài lòng",
}
COMMENT_MAX = 1000
_SCORE_TEXTS = frozenset(str(score) for score in SCORES)


@dataclass(frozen=True, slots=True)
class RatingLink:
    dossier_id: UUID
    expires_on: date


@dataclass(frozen=True, slots=True)
class Rating:
    scores: dict[str, int]  # criterion -> 1..5, every criterion present
    comment: str | None  # masked for personal data, at most COMMENT_MAX characters


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + body, hashlib.sha256).digest()[:MAC_BYTES]


def sign(secret: bytes, dossier_id: UUID, expires_on: date) -> str:
    days = (expires_on - EPOCH).days
    if not 0 <= days <= 0xFFFF:
        raise ValueError("expiry out of range")
    body = dossier_id.bytes + days.to_bytes(2, "big")
    return _b64encode(body + _mac(secret, body))


def verify(secret: bytes, token: str, today: date) -> RatingLink | LinkRefusal:
    if len(token) != TOKEN_LENGTH:
        return LinkRefusal.MALFORMED
    raw = _b64decode(token)
    if raw is None or len(raw) != TOKEN_BYTES or _b64encode(raw) != token:
        return LinkRefusal.MALFORMED
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(_mac(secret, body), mac):
        return LinkRefusal.BAD_SIGNATURE
    expires_on = EPOCH + timedelta(days=int.from_bytes(body[ID_BYTES:], "big"))
    if today > expires_on:
        return LinkRefusal.EXPIRED
    return RatingLink(UUID(bytes=body[:ID_BYTES]), expires_on)


class RatingError(ValueError):
    """The form is incomplete or out of range; the message says which field."""


def parse_form(form: Mapping[str, str]) -> Rating:
    """The rating a submitted form holds: every criterion an integer 1..5; the comment
    optional, cut of surrounding blanks, at most COMMENT_MAX characters, masked."""
    scores: dict[str, int] = {}
    for name, label in CRITERIA.items():
        value = (form.get(name) or "").strip()
        if value not in _SCORE_TEXTS:  # ASCII digits only: int() also reads "٣"
            raise RatingError(f"Tiêu chí “{label}” cần một mức từ 1 đến 5.")
        scores[name] = int(value)
    comment = (form.get("comment") or "").strip()
    if len(comment) > COMMENT_MAX:
        raise RatingError(f"Ý kiến góp ý dài quá {COMMENT_MAX} ký tự.")
    return Rating(scores, mask_personal_data(comment) if comment else None)


@dataclass(frozen=True, slots=True)
class RatingLinks:
    """Makes the rating links result messages carry, from notify's settings."""

    secret: bytes
    base_url: str
    ttl_days: int = 30

    def url(self, dossier_id: UUID, today: date) -> str:
        token = sign(self.secret, dossier_id, today + timedelta(days=self.ttl_days))
        return f"{self.base_url.rstrip('/')}/d/{token}"

    def verify(self, token: str, today: date) -> RatingLink | LinkRefusal:
        return verify(self.secret, token, today)
