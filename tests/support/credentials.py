"""Credentials the suite presents, in one place: the development values of each caller."""

from __future__ import annotations

import time

import httpx

from services.runtime.credentials import dev_service_token

OPS_TOKEN = dev_service_token("ops")  # the province's operators (scripts, runbooks)
AGENCY_TOKEN = dev_service_token("agency")  # agency systems answering routing's requests
ROUTING_TOKEN = dev_service_token("routing")  # the console, server-side
NOTIFY_TOKEN = dev_service_token("notify")
OPS = {"X-Service-Token": OPS_TOKEN}

DEV_API_KEY = "dev-portal-key-change-me"  # the development portal's key (every unit)
PORTAL = {"X-API-Key": DEV_API_KEY}
DEMO_PASSWORD = "demo"
_tokens: dict[tuple[str, str], tuple[str, float]] = {}


def access_token(routing: str, username: str, password: str = DEMO_PASSWORD) -> str:
    """A development account's access token from routing's login, reused until a minute
    before it expires (access tokens are short-lived)."""
    cached = _tokens.get((routing, username))
    if cached is not None and cached[1] > time.time() + 60:
        return cached[0]
    response = httpx.post(
        f"{routing}/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _tokens[(routing, username)] = (body["access_token"], time.time() + body["expires_in"])
    token: str = body["access_token"]
    return token


def bearer(routing: str, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(routing, username)}"}


def operator_headers(routing_url: str, username: str = "giamsat") -> dict[str, str]:
    """What an operator's browser sends (to routing, the console and SLA)."""
    return bearer(routing_url, username)


def service_headers(caller: str = "ops") -> dict[str, str]:
    """What ``caller`` (a service, ``ops`` or ``agency``) sends as its own credential."""
    return {"X-Service-Token": dev_service_token(caller)}


def portal_headers() -> dict[str, str]:
    """What intake's development portal sends."""
    return dict(PORTAL)


def api_headers(service: str, routing_url: str) -> dict[str, str]:
    """Every credential an API of ``service`` may ask for, so generated requests reach
    its handlers (each route reads the header it needs): the operators' own (``ops``),
    the province supervisor's token, and for intake the development portal's key."""
    headers = {**service_headers("ops"), **operator_headers(routing_url)}
    if service == "intake":
        headers.update(portal_headers())
    return headers
