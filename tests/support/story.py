"""Small helpers so end-to-end tests read as what portals, citizens and officials do."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.support.credentials import PORTAL

T = TypeVar("T")

COMMUNE = "000.01.01.H99"  # UBND xã Đông Lâm (three-level reference province "Hà Sơn")
BIRTH_REGISTRATION = "1.001193"


def document(type_code: str, name: str) -> dict[str, str]:
    return {
        "type_code": type_code,
        "name": name,
        "checksum": hashlib.sha256(type_code.encode()).hexdigest(),
        "storage_ref": f"s3://dossiers/{type_code}.pdf",
    }


def birth_registration(email: str = "lan.nguyen@example.vn", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "procedure_code": BIRTH_REGISTRATION,
        "receiving_unit": COMMUNE,
        "channel": 2,
        "applicant": {
            "full_name": "Nguyễn Thị Lan",
            "citizen_id": "001190012345",
            "phone": "0912345678",
            "email": email,
            "address": "Thôn Đông, xã Đông Lâm",
        },
        "documents": [
            document("TK_KS", "Tờ khai đăng ký khai sinh"),
            document("GCS", "Giấy chứng sinh"),
        ],
        "summary": "Đăng ký khai sinh cho con",
    }
    body.update(extra)
    return body


def eventually(probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.2) -> T:
    """Poll until ``probe`` returns something truthy; the system is asynchronous."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def timeline_sources(base_url: str, dossier: str) -> set[str]:
    view = httpx.get(f"{base_url}/v1/dossiers/{dossier}", headers=PORTAL, timeout=5).json()
    return {entry["source"] for entry in view["timeline"]}
