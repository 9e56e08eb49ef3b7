"""Operator sign-in: short-lived JWT access tokens, rotating refresh tokens, revocation.

Routing is the province's default token issuer; ``/.well-known/jwks.json`` publishes its
public keys for every service. A province with its own OIDC provider turns the local login
off (``LOCAL_LOGIN_ENABLED=false``) and points every service's ``OIDC_*`` settings at it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.bounds import SafeStr
from services.routing.adapters import accounts
from services.runtime.auth import (
    Principal,
    check_password_async,
    hash_password_async,
    needs_rehash,
)
from services.runtime.principal import ROLES
from services.runtime.problems import PROBLEM_JSON, ProblemError, problem_response
from services.runtime.ratelimit import TokenBuckets, retry_after_header
from services.runtime.service import Runtime
from services.runtime.tokens import InvalidToken, TokenIssuer, VerifiedToken

router = APIRouter(tags=["operators"])
PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "RFC 9457 problem details"}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 422: PROBLEM, 429: PROBLEM}
WRONG_LOGIN = "Sai tên đăng nhập hoặc mật khẩu"


@dataclass
class Identity:
    """The issuer's state in a routing process."""

    issuer: TokenIssuer | None  # None when the province's own IdP issues tokens
    jwks: list[dict[str, Any]]
    refresh_ttl_seconds: int
    failures_per_account: TokenBuckets
    failures_per_address: TokenBuckets


async def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _identity(request: Request) -> Identity:
    identity: Identity = request.app.state.runtime.state["identity"]
    return identity


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
IdentityDep = Annotated[Identity, Depends(_identity)]


async def check_account(rt: Runtime, verified: VerifiedToken) -> None:
    """A token is good only while its official exists, is enabled, still holds the unit and
    role it names, and the token was not revoked (checked on every request, no cache)."""
    who = verified.principal
    async with rt.pool.acquire() as conn:
        found = await accounts.account_if_valid(conn, who.user_id, verified.jti)
    if found is None or not found.enabled:
        raise ProblemError(401, "Phiên đăng nhập không hợp lệ", "The session is no longer valid.")
    if found.unit_code != who.unit_code or found.role != who.role:
        raise ProblemError(
            401, "Phiên đăng nhập không hợp lệ", "The account's unit or role has changed."
        )


class Login(BaseModel):
    username: SafeStr = Field(min_length=1, max_length=100, examples=["canbo@000.01.01.H99"])
    password: SafeStr = Field(min_length=1, max_length=200)


class Refresh(BaseModel):
    refresh_token: SafeStr = Field(min_length=16, max_length=200)


class Logout(BaseModel):
    refresh_token: SafeStr | None = Field(default=None, min_length=16, max_length=200)


class Token(BaseModel):
    access_token: str = Field(description="JWT (EdDSA), sent as `Authorization: Bearer …`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Exchange once at /v1/auth/refresh for a new pair.")
    unit_code: str
    role: str
    full_name: str


def _too_many(wait: float) -> JSONResponse:
    refused = problem_response(
        429, "Đăng nhập sai quá nhiều lần", "Too many failed sign-ins; try again later."
    )
    refused.headers["Retry-After"] = retry_after_header(wait)
    return refused


async def _pair(rt: Runtime, identity: Identity, account: accounts.Account, family: Any) -> Token:
    assert identity.issuer is not None
    if account.role not in ROLES:
        raise ProblemError(401, WRONG_LOGIN)
    who = Principal(account.username, account.unit_code, account.role)
    issued = identity.issuer.issue(who)
    refresh = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=identity.refresh_ttl_seconds)
    async with rt.pool.acquire() as conn:
        await accounts.store_refresh_token(conn, refresh, account.username, family, expires)
    return Token(
        access_token=issued.token,
        expires_in=issued.expires_at - int(time.time()),
        refresh_token=refresh,
        unit_code=account.unit_code,
        role=account.role,
        full_name=account.full_name,
    )


def _local_login(identity: Identity) -> None:
    if identity.issuer is None:
        raise ProblemError(
            404, "Đăng nhập qua hệ thống định danh của tỉnh", "Local sign-in is disabled."
        )


@router.post("/v1/auth/login", response_model=Token, responses=ERRORS, summary="Operator login.")
async def login(
    body: Login, request: Request, rt: RuntimeDep, identity: IdentityDep
) -> Token | JSONResponse:
    """Failed attempts are limited per account and per client address (429 with
    ``Retry-After``); unknown accounts get the same answer, after the same work."""
    _local_login(identity)
    now = time.monotonic()
    address = request.client.host if request.client else "unknown"
    account_key = body.username.casefold()
    wait = max(
        identity.failures_per_account.wait(account_key, now),
        identity.failures_per_address.wait(address, now),
    )
    if wait > 0:
        return _too_many(wait)
    async with rt.pool.acquire() as conn:
        found = await accounts.account(conn, body.username)
    stored = found.password_hash if found is not None else None
    good = await check_password_async(body.password, stored)
    if found is None or not good or not found.enabled:
        identity.failures_per_account.take(account_key, now)
        identity.failures_per_address.take(address, now)
        raise ProblemError(401, WRONG_LOGIN)
    if stored is not None and needs_rehash(stored):
        upgraded = await hash_password_async(body.password)
        async with rt.pool.acquire() as conn:
            await accounts.set_password_hash(conn, found.username, upgraded)
    return await _pair(rt, identity, found, uuid4())


@router.post("/v1/auth/refresh", response_model=Token, responses=ERRORS, summary="New token pair.")
async def refresh(body: Refresh, rt: RuntimeDep, identity: IdentityDep) -> Token:
    """A refresh token works once. Presented again (a stolen copy racing its owner), it
    revokes its whole family: both parties must sign in again."""
    _local_login(identity)
    async with rt.pool.acquire() as conn, conn.transaction():
        used = await accounts.use_refresh_token(conn, body.refresh_token)
        if used is not None and used.reused:
            await accounts.revoke_family(conn, used.family)
        found = await accounts.account(conn, used.username) if used else None
    if used is None or used.reused or found is None or not found.enabled:
        raise ProblemError(401, "Phiên đăng nhập không hợp lệ", "Sign in again.")
    return await _pair(rt, identity, found, used.family)


@router.post("/v1/auth/logout", status_code=204, responses=ERRORS, summary="Sign out.")
async def logout(
    rt: RuntimeDep,
    body: Logout | None = None,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
) -> Response:
    """Revokes the access token presented and the refresh token's family."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ProblemError(401, "Chưa đăng nhập", "A bearer token is required.")
    try:
        verified = await rt.auth.verifier.verify(authorization.removeprefix("Bearer ").strip())
    except InvalidToken as exc:
        raise ProblemError(401, "Phiên đăng nhập không hợp lệ", str(exc)) from exc
    async with rt.pool.acquire() as conn, conn.transaction():
        if verified.jti:
            expires = datetime.fromtimestamp(verified.expires_at, UTC)
            await accounts.revoke_access_token(conn, verified.jti, expires)
        if body is not None and body.refresh_token:
            family = await accounts.family_of(conn, body.refresh_token)
            if family is not None:
                await accounts.revoke_family(conn, family)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", summary="Public keys that verify operator tokens.")
async def jwks(identity: IdentityDep) -> dict[str, Any]:
    return {"keys": identity.jwks}


@router.get("/.well-known/openid-configuration", summary="Issuer metadata (OIDC discovery).")
async def openid_configuration(rt: RuntimeDep, request: Request) -> dict[str, Any]:
    settings = rt.settings
    return {
        "issuer": settings.oidc_issuer,
        "jwks_uri": settings.oidc_jwks_url,
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token"],
    }
