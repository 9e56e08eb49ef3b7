"""Bounded building blocks for request models and parameters.

``SafeStr`` is text PostgreSQL can store: no U+0000 and no lone surrogates (which JSON can
carry as ``\\ud800`` but UTF-8 cannot encode). Refused as invalid input (422), not
discovered by the database driver (500). It is normalised to Unicode NFC before anything
else (length bounds count NFC characters), so "Nguyễn" typed precomposed or as "e" plus
combining marks is one string wherever it is stored, compared or hashed. Combine it with
``Field``/``Query``/``Path`` length bounds: ``Annotated[SafeStr, Field(max_length=64)]``.

``CitizenId`` and ``MobilePhone`` take ASCII digits only (``\\d`` and ``str.isdigit``
also accept fullwidth or Arabic-Indic digits); ``MobilePhone`` accepts a Vietnamese mobile
number as people write it and keeps it in one form, ``0`` and 9 digits.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

PG_INT_MAX = 2**31 - 1
PG_BIGINT_MAX = 2**63 - 1
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


def nfc(value: Any) -> Any:
    """Text in Unicode NFC; anything else unchanged (the type check that follows refuses it)."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def nfc_tree(value: Any) -> Any:
    """Every text in a JSON value (keys too) in NFC: for payloads kept as they came."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc_tree(v) for v in value]
    if isinstance(value, dict):
        return {nfc_tree(k): nfc_tree(v) for k, v in value.items()}
    return value


# Separators people put in phone numbers: spaces (any), dots, dashes, brackets.
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
# +84 / 0084 / 84 (with the trunk 0 sometimes written after it) or 0; a mobile prefix
# (3, 5, 7, 8, 9) and 8 digits. ASCII digits only.
_MOBILE = re.compile(r"(?:(?:\+|00)?840?|0)([35789][0-9]{8})", re.ASCII)


def canonical_mobile(value: str) -> str:
    """A Vietnamese mobile number in its stored form, ``0`` and 9 digits.

    Accepts ``0912345678``, ``0912 345 678``, ``+84 912.345.678``, ``84-912-345-678``,
    ``(+84) 912 345 678``, ``+84 (0) 912 345 678``, ``0084912345678``. Refuses other
    digits than ASCII 0-9. The error message never repeats the number.
    """
    compact = _PHONE_SEPARATORS.sub("", value)
    if not compact.isascii():
        raise ValueError("a phone number is written with the digits 0-9 only")
    found = _MOBILE.fullmatch(compact)
    if found is None:
        raise ValueError(
            "not a Vietnamese mobile number (0, +84 or 84, then 3/5/7/8/9 and 8 digits)"
        )
    return "0" + found.group(1)


def _sane_instant(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("the instant must fall between the years 2000 and 2100")
    return value


def _sane_day(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("the day must fall between the years 2000 and 2100")
    return value


SafeStr = Annotated[str, BeforeValidator(nfc), AfterValidator(storable_text)]
# Căn cước (công dân) number: 12 ASCII digits ([0-9], never \d: the pattern engine's \d
# takes every script's digits).
CITIZEN_ID_PATTERN = r"^[0-9]{12}$"
CitizenId = Annotated[
    str,
    Field(
        pattern=CITIZEN_ID_PATTERN,
        description="12-digit citizen ID (digits 0-9).",
        examples=["001190012345"],
    ),
]
# The written form is checked first (bounds, alphabet), then made canonical.
MobilePhone = Annotated[
    str,
    Field(
        min_length=9,
        max_length=32,
        pattern=r"^[0-9+().\s-]+$",
        description=(
            "A Vietnamese mobile number: 0, +84 or 84, then 3/5/7/8/9 and 8 digits; spaces,"
            " dots, dashes and brackets allowed. Stored and answered as 0 and 9 digits."
        ),
        examples=["0912345678", "+84 912.345.678", "84-912-345-678"],
    ),
    AfterValidator(canonical_mobile),
]
# Codes of procedures, steps, documents and fields (reference data), and of units.
CODE_PATTERN = r"^[0-9A-Za-z._-]+$"
UNIT_PATTERN = r"^[0-9A-Za-z.-]+$"
Code = Annotated[SafeStr, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
UnitCode = Annotated[SafeStr, Field(min_length=1, max_length=32, pattern=UNIT_PATTERN)]
# A free-text note or reason an official writes.
Note = Annotated[SafeStr, Field(max_length=2000)]
Reason = Annotated[SafeStr, Field(min_length=1, max_length=2000)]
Instant = Annotated[AwareDatetime, AfterValidator(_sane_instant)]
Day = Annotated[date, AfterValidator(_sane_day)]
PgInt = Annotated[int, Field(ge=-PG_INT_MAX - 1, le=PG_INT_MAX)]
PgBigInt = Annotated[int, Field(ge=-PG_BIGINT_MAX - 1, le=PG_BIGINT_MAX)]
