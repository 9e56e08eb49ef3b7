"""Folding of applicant names for search: case and diacritics ignored (pure).

"nguyen thi lan" finds "Nguyễn Thị Lan"; đ and Đ fold to d (Unicode does not decompose
them). The same fold is an SQL function, ``intake_fold`` (migration 008), over the same
table of letters, so the expression index on the stored names and the folded query agree
exactly: both translate letter by letter, neither depends on the database's locale.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

#: Letters with diacritics that fold to one ASCII letter: Latin-1, Latin Extended-A/B and
#: Latin Extended Additional (every precomposed Vietnamese letter lives there).
_RANGES = ((0x00C0, 0x0250), (0x1E00, 0x1F00))
_SPACES = re.compile(r"[ \t\n\r\f\v]+")
PHONE_SUFFIX = re.compile(r"^[0-9]{4,10}$")


def _base(letter: str) -> str:
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", letter) if not unicodedata.combining(c)
    )
    return stripped.replace("đ", "d").replace("Đ", "D").lower()


@cache
def fold_table() -> tuple[str, str]:
    """(letters, their folds), in code point order; ASCII capitals fold to small ones."""
    src = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    dst = [c.lower() for c in src]
    for lo, hi in _RANGES:
        for cp in range(lo, hi):
            letter = chr(cp)
            if unicodedata.normalize("NFC", letter) != letter:
                continue
            base = _base(letter)
            if len(base) == 1 and base.isascii() and base.isalpha() and base != letter:
                src.append(letter)
                dst.append(base)
    return "".join(src), "".join(dst)


@cache
def _translation() -> dict[int, int]:
    src, dst = fold_table()
    return str.maketrans(src, dst)


def fold_name(text: str) -> str:
    """NFC, letters folded, runs of spaces made one, trimmed (as ``intake_fold`` does)."""
    folded = unicodedata.normalize("NFC", text).translate(_translation())
    return _SPACES.sub(" ", folded).strip(" \t\n\r\f\v")


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
