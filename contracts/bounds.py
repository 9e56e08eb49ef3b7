"""Bounded building blocks for request models and parameters.

``SafeStr`` is text PostgreSQL can store: no U+0000 and no lone surrogates (which JSON can
carry as ``\\ud800`` but UTF-8 cannot encode). Refused as invalid input (422), not
discovered by the database driver (500). Combine it with ``Field``/``Query``/``Path``
length bounds: ``Annotated[SafeStr, Field(max_length=64)]``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

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


def _sane_instant(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("the instant must fall between the years 2000 and 2100")
    return value


def _sane_day(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("the day must fall between the years 2000 and 2100")
    return value


SafeStr = Annotated[str, AfterValidator(storable_text)]
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
