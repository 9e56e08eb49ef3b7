"""Masking of personal contact data for logs (Nghị định 13/2023: log a reference,
not the person)."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """'0912345678' → '091****678': enough to tell numbers apart in a log, no more."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]


def mask_email(email: str) -> str:
    """'nguyen.van.a@gmail.com' → 'n***@g***.com'."""
    local, sep, domain = email.strip().rpartition("@")
    if not sep or not local or not domain:
        return "***"
    host, dot, tld = domain.rpartition(".")
    masked_domain = f"{host[0]}***{dot}{tld}" if dot and host else "***"
    return f"{local[0]}***@{masked_domain}"
