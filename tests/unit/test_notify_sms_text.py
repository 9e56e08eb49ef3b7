"""SMS text rules: unaccenting Vietnamese, GSM-7 detection, segment counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.sms_text import (
    SmsEncoding,
    describe,
    is_gsm7,
    segment_count,
    unaccent,
)

VIETNAMESE_UPPER = "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"
ASCII_UPPER = "A" * 17 + "E" * 11 + "I" * 5 + "O" * 17 + "U" * 11 + "Y" * 5 + "D"


def test_unaccent_maps_every_vietnamese_letter() -> None:
    assert unaccent(VIETNAMESE_UPPER) == ASCII_UPPER
    assert unaccent(VIETNAMESE_UPPER.lower()) == ASCII_UPPER.lower()


def test_unaccent_sentence_and_typography() -> None:
    text = "Hồ sơ “Đăng ký khai sinh” – đã được tiếp nhận…"
    assert unaccent(text) == 'Ho so "Dang ky khai sinh" - da duoc tiep nhan...'


@given(st.text(alphabet=VIETNAMESE_UPPER + VIETNAMESE_UPPER.lower() + "abc xyz0123.,"))
def test_unaccent_of_vietnamese_is_ascii_and_idempotent(text: str) -> None:
    plain = unaccent(text)
    assert plain.isascii()
    assert unaccent(plain) == plain
    assert len(plain) == len(text)


def test_gsm7_detection() -> None:
    assert is_gsm7("Ho so da duoc tiep nhan. @ £ € [x]")
    assert not is_gsm7("Hồ sơ")
    assert not is_gsm7("back`tick")  # ASCII, yet not in the GSM alphabet
    assert is_gsm7("Café à la carte")  # é and à are in the GSM alphabet


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", SmsEncoding.GSM7, 1),
        ("a" * 160, SmsEncoding.GSM7, 1),
        ("a" * 161, SmsEncoding.GSM7, 2),
        ("a" * 306, SmsEncoding.GSM7, 2),
        ("a" * 307, SmsEncoding.GSM7, 3),
        ("€" * 80, SmsEncoding.GSM7, 1),  # extended characters count two septets
        ("€" * 80 + "a", SmsEncoding.GSM7, 2),
        # 306 septets would fit two parts, but an escape pair is never split.
        ("a" * 152 + "{" + "a" * 152, SmsEncoding.GSM7, 3),
        ("ố" * 70, SmsEncoding.UCS2, 1),
        ("ố" * 71, SmsEncoding.UCS2, 2),
        ("ố" * 134, SmsEncoding.UCS2, 2),
        ("ố" * 135, SmsEncoding.UCS2, 3),
    ],
)
def test_segment_count(text: str, encoding: SmsEncoding, segments: int) -> None:
    assert segment_count(text) == (encoding, segments)


def test_seventy_character_vietnamese_sentence() -> None:
    sentence = "Hồ sơ của Ông/Bà đã được tiếp nhận, hẹn trả kết quả ngày 06/11/2025 ạ."
    assert len(sentence) == 70
    assert segment_count(sentence) == (SmsEncoding.UCS2, 1)
    assert segment_count(sentence + "!") == (SmsEncoding.UCS2, 2)
    assert segment_count(unaccent(sentence + "!")) == (SmsEncoding.GSM7, 1)


def test_emoji_takes_two_ucs2_units() -> None:
    info = describe("😀" * 35)
    assert (info.encoding, info.length, info.segments) == (SmsEncoding.UCS2, 70, 1)
