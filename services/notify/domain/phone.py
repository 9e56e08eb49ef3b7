"""Vietnamese mobile numbers in the forms gateways want."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[\s.\-()]")


class InvalidPhoneError(ValueError):
    pass


def to_msisdn84(phone: str) -> str:
    """'0912 345 678', '+84912345678', '84912345678' → '84912345678'.

    The error message never repeats the number, so it is safe to log.
    """
    digits = _DIGITS.sub("", phone.strip()).removeprefix("+")
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    if not (digits.isdigit() and digits.startswith("84") and len(digits) == 11):
        raise InvalidPhoneError("not a Vietnamese mobile number (expected 0 + 9 digits)")
    return digits


def to_local(phone: str) -> str:
    """'84912345678' → '0912345678' (the form eSMS documents)."""
    return "0" + to_msisdn84(phone)[2:]
