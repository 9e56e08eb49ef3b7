"""Console: what the sign-in page may say before anyone signs in.

The development accounts exist only in development (production refuses to start while
they do), so the hint naming them is served only there; in production the answer is
empty and the page says nothing about accounts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.routing.console.common import runtime_of

api = APIRouter()

DEVELOPMENT_ACCOUNTS = [
    {"username": "canbo@<mã đơn vị>", "role": "Cán bộ"},
    {"username": "lanhdao@<mã đơn vị>", "role": "Lãnh đạo đơn vị"},
    {"username": "giamsat", "role": "Giám sát cấp tỉnh"},
]


def login_hint(is_development: bool, demo_password: str) -> dict[str, Any] | None:
    """The development accounts' hint, or None outside development."""
    if not is_development:
        return None
    return {"accounts": DEVELOPMENT_ACCOUNTS, "password": demo_password}


@api.get("/login-hint")
async def hint(request: Request) -> dict[str, Any]:
    """Public: the development accounts in development, nothing in production."""
    cfg = runtime_of(request).settings
    seeded = cfg.is_development and getattr(cfg, "seed_demo_officials", False)
    return {"development_accounts": login_hint(seeded, cfg.demo_password)}
