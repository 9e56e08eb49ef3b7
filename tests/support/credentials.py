"""The credentials tests present to the services, in one place.

Today: an operator's bearer token from routing's ``/v1/auth/login`` (development
account, password ``demo``), the shared ``X-Service-Token`` for service-to-service
calls, and intake's development portal key. When authentication changes, change these
helpers, not the tests that call them.
"""

from __future__ import annotations

import functools

import httpx

DEV_PASSWORD = "demo"
DEV_SERVICE_TOKEN = "dev-only-secret-change-me"
DEV_PORTAL_KEY = "dev-portal-key-change-me"
SUPERVISOR = "giamsat"  # the development province supervisor: sees every unit


@functools.cache
def operator_token(routing_url: str, username: str = SUPERVISOR) -> str:
    response = httpx.post(
        f"{routing_url}/v1/auth/login",
        json={"username": username, "password": DEV_PASSWORD},
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def operator_headers(routing_url: str, username: str = SUPERVISOR) -> dict[str, str]:
    """What an operator's browser sends (to routing, the console and SLA)."""
    return {"Authorization": f"Bearer {operator_token(routing_url, username)}"}


def service_headers(service: str = "routing") -> dict[str, str]:
    """What one service sends when it calls another (``service`` is the caller)."""
    del service  # one shared token today; per-service credentials later
    return {"X-Service-Token": DEV_SERVICE_TOKEN}


def portal_headers() -> dict[str, str]:
    """What intake's development portal sends."""
    return {"X-API-Key": DEV_PORTAL_KEY}


def api_headers(service: str, routing_url: str) -> dict[str, str]:
    """Every credential an API of ``service`` may ask for, so generated requests reach
    its handlers (each route reads the header it needs)."""
    headers = {**service_headers(), **operator_headers(routing_url)}
    if service == "intake":
        headers.update(portal_headers())
    return headers
