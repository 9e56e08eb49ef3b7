"""Threats 3 and 4, tried as an attacker would against the running system: forged operator
tokens, stolen or revoked sessions, password guessing, borrowed service credentials and a
crafted Host header. Each attempt is refused and leaves nothing changed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.credentials import (
    DEMO_PASSWORD,
    NOTIFY_TOKEN,
    ROUTING_TOKEN,
    access_token,
    bearer,
)
from tests.support.infra import Infra
from tests.support.officials import submit
from tests.support.processes import ServiceProcess
from tests.support.story import birth_registration

pytestmark = pytest.mark.e2e
PUBLIC_DEFAULT = "dev-only-secret-change-me"  # the shared secret tokens were once signed with
PROVINCE = "000.00.00.H99"
COMMUNE = "000.01.01.H99"
OTHER_COMMUNE = "000.02.01.H99"
# Accounts no other story uses: lock-outs and disabling cannot disturb them.
GUESSED = "canbo@CA0.01.02.H99"
DISABLED = "canbo@BH0.00.02.H99"
MOVED = "canbo@CT0.00.02.H99"
LOGGED_OUT = "canbo@DK0.00.02.H99"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def old_style_supervisor_token() -> str:
    """What an attacker who read the README could mint before: HMAC with the default."""
    claims: dict[str, Any] = {"sub": "giamsat", "unit": PROVINCE, "role": "province_supervisor"}
    claims["exp"] = int(time.time()) + 3600
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(PUBLIC_DEFAULT.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def self_signed_supervisor_token(routing: str) -> str:
    """A well-formed EdDSA JWT naming routing's key id, signed with the attacker's key."""
    kid = httpx.get(f"{routing}/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"]
    now = int(time.time())
    claims = {"iss": "onestop-routing", "aud": "onestop", "sub": "giamsat", "iat": now}
    claims |= {"exp": now + 600, "unit": PROVINCE, "role": "province_supervisor"}
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})


def overrides(sla: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{sla}/v1/calendar/overrides", timeout=5).json()
    return found


def test_forged_supervisor_tokens_open_no_inbox_and_change_no_calendar(
    system: dict[str, ServiceProcess],
) -> None:
    routing, sla, intake = system["routing"].url, system["sla"].url, system["intake"].url
    before = overrides(sla)
    day_off = {"day": "2031-05-05", "kind": "day_off", "unit_code": OTHER_COMMUNE}
    for forged in (old_style_supervisor_token(), self_signed_supervisor_token(routing)):
        headers = {"Authorization": f"Bearer {forged}"}
        inbox = httpx.get(
            f"{routing}/v1/inbox", params={"unit": OTHER_COMMUNE}, headers=headers, timeout=5
        )
        assert inbox.status_code == 401, inbox.text
        assert inbox.headers["content-type"].startswith("application/problem+json")
        assert inbox.json()["title"] == "Phiên đăng nhập không hợp lệ"
        console = httpx.get(f"{routing}/console/api/health", headers=headers, timeout=5)
        assert console.status_code == 401
        put = httpx.put(f"{sla}/v1/calendar/overrides", json=day_off, headers=headers, timeout=5)
        assert put.status_code == 401
    # The public default as a service credential reads no citizen's contacts either.
    contacts = httpx.get(
        f"{intake}/internal/v1/contacts/{secrets.token_hex(8)}",
        headers={"X-Service-Token": PUBLIC_DEFAULT},
        timeout=5,
    )
    assert contacts.status_code == 403
    assert overrides(sla) == before  # the province calendar is unchanged


def test_the_issuers_jwks_publishes_only_public_keys(system: dict[str, ServiceProcess]) -> None:
    keys = httpx.get(f"{system['routing'].url}/.well-known/jwks.json", timeout=5).json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP"
        assert key["alg"] == "EdDSA"
        assert "d" not in key  # the private part never leaves the issuer
        assert key["kid"]


def login(routing: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{routing}/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )


def test_guessing_a_password_is_stopped_and_unknown_accounts_answer_alike(
    system: dict[str, ServiceProcess],
) -> None:
    routing = system["routing"].url
    unknown = login(routing, "khong-ton-tai@000.01.01.H99", "demo")
    wrong = login(routing, GUESSED, "doan-mo-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()  # no answer tells which usernames exist
    answers = [login(routing, GUESSED, f"doan-mo-{n}").status_code for n in range(2, 7)]
    assert answers[:4] == [401] * 4
    assert answers[4] == 429
    locked = login(routing, GUESSED, DEMO_PASSWORD)  # even the right password, for now
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "access_token" not in locked.text


def sql(infra: Infra, query: str, *args: Any) -> None:
    async def run() -> None:
        db = await asyncpg.connect(infra.database_url)
        try:
            await db.execute(query, *args)
        finally:
            await db.close()

    asyncio.run(run())


def test_a_revoked_disabled_or_changed_account_loses_its_tokens_at_once(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    routing = system["routing"].url
    schema = f"{system['routing'].env['SCHEMA_PREFIX']}routing"
    try:
        # Logout revokes the access token presented and its refresh token.
        pair = login(routing, LOGGED_OUT, DEMO_PASSWORD).json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert httpx.get(f"{routing}/v1/inbox", headers=headers, timeout=5).status_code == 200
        out = httpx.post(
            f"{routing}/v1/auth/logout",
            json={"refresh_token": pair["refresh_token"]},
            headers=headers,
            timeout=5,
        )
        assert out.status_code == 204
        assert httpx.get(f"{routing}/v1/inbox", headers=headers, timeout=5).status_code == 401
        again = httpx.post(
            f"{routing}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}, timeout=5
        )
        assert again.status_code == 401

        # A disabled official's token stops working without waiting for it to expire.
        token = access_token(routing, DISABLED)
        sql(infra, f'UPDATE "{schema}".officials SET enabled = false WHERE username = $1', DISABLED)
        refused = httpx.get(
            f"{routing}/v1/inbox", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert refused.status_code == 401
        assert login(routing, DISABLED, DEMO_PASSWORD).status_code == 401

        # Moved to another unit: the old token, naming the old unit, is refused.
        token = access_token(routing, MOVED)
        sql(
            infra,
            f'UPDATE "{schema}".officials SET unit_code = $2 WHERE username = $1',
            MOVED,
            OTHER_COMMUNE,
        )
        moved = httpx.get(
            f"{routing}/v1/inbox", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert moved.status_code == 401
    finally:
        sql(
            infra,
            f'UPDATE "{schema}".officials SET enabled = true WHERE username = $1',
            DISABLED,
        )
        sql(
            infra,
            f'UPDATE "{schema}".officials SET unit_code = $2 WHERE username = $1',
            MOVED,
            "CT0.00.02.H99",
        )


def test_a_stolen_refresh_token_used_twice_revokes_the_whole_session(
    system: dict[str, ServiceProcess],
) -> None:
    routing = system["routing"].url
    first = login(routing, f"lanhdao@{COMMUNE}", DEMO_PASSWORD).json()

    def refresh(token: str) -> httpx.Response:
        return httpx.post(f"{routing}/v1/auth/refresh", json={"refresh_token": token}, timeout=5)

    second = refresh(first["refresh_token"])
    assert second.status_code == 200
    assert refresh(first["refresh_token"]).status_code == 401  # the thief's replay
    assert refresh(second.json()["refresh_token"]).status_code == 401  # family revoked


def test_each_service_is_known_by_its_own_credential(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"].url
    # Notify may read contacts; routing's credential may not, nor create portals.
    contacts = httpx.get(
        f"{intake}/internal/v1/contacts/{secrets.token_hex(8)}",
        headers={"X-Service-Token": ROUTING_TOKEN},
        timeout=5,
    )
    assert contacts.status_code == 403
    made = httpx.post(
        f"{intake}/v1/admin/portals",
        json={"name": "Cổng giả mạo", "units": [COMMUNE]},
        headers={"X-Service-Token": NOTIFY_TOKEN},
        timeout=5,
    )
    assert made.status_code == 403
    assert "api_key" not in made.text


def contact_refs(system: dict[str, ServiceProcess], infra: Infra, ids: list[str]) -> dict[str, str]:
    """The dossiers' opaque contact references, as intake keeps them (never shown)."""
    schema = f"{system['intake'].env['SCHEMA_PREFIX']}intake"

    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(infra.database_url)
        try:
            rows = await conn.fetch(
                f"SELECT id::text AS id, contact_ref FROM {schema}.dossiers"
                " WHERE id = ANY($1::uuid[])",
                ids,
            )
        finally:
            await conn.close()
        return {r["id"]: r["contact_ref"] for r in rows}

    return asyncio.run(read())


def test_routing_reads_a_postal_address_and_nothing_else_of_a_citizen(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    """Routing posts results: it may read who receives a parcel, only for a dossier whose
    citizen chose the post, and only with its own credential."""
    intake = system["intake"].url
    by_post = submit(
        intake,
        {**birth_registration(), "result_delivery": "post", "postal_address": "Số 5 Lê Lợi"},
    )
    at_desk = submit(intake, birth_registration())
    refs = contact_refs(system, infra, [by_post["id"], at_desk["id"]])

    def recipient(ref: str, token: str) -> httpx.Response:
        return httpx.get(
            f"{intake}/internal/v1/postal-recipients/{ref}",
            headers={"X-Service-Token": token},
            timeout=5,
        )

    posted = recipient(refs[by_post["id"]], ROUTING_TOKEN)
    assert posted.status_code == 200, posted.text
    assert posted.json()["postal_address"] == "Số 5 Lê Lợi"
    assert "email" not in posted.json() and "citizen_id" not in posted.text
    desk = recipient(refs[at_desk["id"]], ROUTING_TOKEN)
    assert desk.status_code == 404
    assert "full_name" not in desk.text
    assert recipient(refs[by_post["id"]], NOTIFY_TOKEN).status_code == 403


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


def test_a_crafted_host_header_never_receives_routings_credential(
    system: dict[str, ServiceProcess], listener: tuple[str, list[dict[str, str]]]
) -> None:
    address, seen = listener
    routing = system["routing"].url
    headers = {**bearer(routing, "giamsat"), "Host": address}
    health = httpx.get(f"{routing}/console/api/health", headers=headers, timeout=30)
    assert health.status_code == 200
    assert [s["url"] for s in health.json()["services"]] == [
        system[name].url for name in ("intake", "routing", "sla", "notify")
    ]
    replay = httpx.post(
        f"{routing}/console/api/dead-letters/routing/999999999/replay", headers=headers, timeout=30
    )
    assert replay.status_code == 404  # asked of routing itself, at its configured address
    assert seen == []  # the attacker's listener heard nothing, no token
