"""SMS text rules: Vietnamese unaccenting, GSM-7 detection and segment counting.

Carriers bill per segment. Accented Vietnamese forces UCS-2 (70 characters per single
SMS), while the unaccented form usually fits GSM-7 (160), which is why many brandname
contracts send unaccented text only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 default alphabet (the escape character 0x1B itself is excluded).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each character is sent as ESC + char, so it costs two septets.
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153  # 7 septets go to the concatenation header
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67

# Typography that is not GSM-7 but has a plain equivalent; replacing it keeps an
# unaccented SMS in GSM-7 instead of silently falling back to UCS-2.
_PLAIN_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "đ": "d",
        "Đ": "D",
    }
)


class SmsEncoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class SmsText:
    """A text as the carrier will see it: encoding, billed length and segments."""

    text: str
    encoding: SmsEncoding
    length: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def unaccent(text: str) -> str:
    """Vietnamese to ASCII letters: đ→d, Đ→D, every tone and vowel mark dropped."""
    # NFD splits "ế" into "e" + circumflex + acute; dropping the marks keeps the base.
    decomposed = unicodedata.normalize("NFD", text.translate(_PLAIN_PUNCTUATION))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def _gsm7_costs(text: str) -> list[int]:
    return [2 if ch in GSM7_EXTENDED else 1 for ch in text]


def _ucs2_costs(text: str) -> list[int]:
    # Characters outside the BMP (emoji) take a surrogate pair.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], single: int, part: int) -> int:
    total = sum(costs)
    if total <= single:
        return 1
    # Greedy packing: a two-unit character is never split across parts.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def describe(text: str) -> SmsText:
    if is_gsm7(text):
        costs = _gsm7_costs(text)
        segments = _pack(costs, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS)
        return SmsText(text, SmsEncoding.GSM7, sum(costs), segments)
    costs = _ucs2_costs(text)
    segments = _pack(costs, UCS2_SINGLE_UNITS, UCS2_PART_UNITS)
    return SmsText(text, SmsEncoding.UCS2, sum(costs), segments)


def segment_count(text: str) -> tuple[SmsEncoding, int]:
    """Encoding and number of SMS parts; an empty text still costs one message."""
    info = describe(text)
    return info.encoding, info.segments
