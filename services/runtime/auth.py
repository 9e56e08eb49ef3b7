"""Who is calling: operators by bearer JWT, services by their own credential.

Passwords are hashed with Argon2id (argon2-cffi) in a worker thread so a login never
stalls the event loop; an unknown account is checked against a dummy hash so the answer's
timing does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Header, Request

from services.runtime.credentials import ServiceCredentials
from services.runtime.principal import ROLES, Principal, Role
from services.runtime.problems import ProblemError
from services.runtime.tokens import InvalidToken, TokenVerifier, VerifiedToken

__all__ = [
    "ROLES",
    "OperatorAuth",
    "Principal",
    "Role",
    "check_password",
    "check_password_async",
    "hash_password",
    "hash_password_async",
    "needs_rehash",
]

_hasher = PasswordHasher()  # Argon2id, RFC 9106's second recommended parameter set


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("no such account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_legacy_pbkdf2(password: str, stored: str) -> bool:
    """Accounts created before Argon2 (``pbkdf2$rounds$salt$digest``): rehashed at login."""
    try:
        _, rounds, salt, digest = stored.split("$")

        def unb64(text: str) -> bytes:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), unb64(salt), int(rounds))
        return hmac.compare_digest(candidate, unb64(digest))
    except ValueError:
        return False


def check_password(password: str, stored: str | None) -> bool:
    if stored is None:
        # Same work as for a real account, then no.
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password + "\x00")
        return False
    if stored.startswith("pbkdf2$"):
        return _check_legacy_pbkdf2(password, stored)
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return stored.startswith("pbkdf2$") or _hasher.check_needs_rehash(stored)


async def check_password_async(password: str, stored: str | None) -> bool:
    return await asyncio.to_thread(check_password, password, stored)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


# Called with a verified token; raises (401/403 problem) when the account no longer holds
# what the token says. The issuer's roster check; other services rely on the short expiry.
AccountCheck = Callable[[VerifiedToken], Awaitable[None]]


class OperatorAuth:
    def __init__(self, verifier: TokenVerifier, account_check: AccountCheck | None = None):
        self.verifier = verifier
        self.account_check = account_check

    async def principal(self, authorization: str | None) -> Principal:
        """The operator behind an ``Authorization: Bearer …`` header, or a 401 problem."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ProblemError(401, "Chưa đăng nhập", "A bearer token is required.")
        try:
            verified = await self.verifier.verify(authorization.removeprefix("Bearer ").strip())
        except InvalidToken as exc:
            raise ProblemError(401, "Phiên đăng nhập không hợp lệ", str(exc)) from exc
        if self.account_check is not None:
            await self.account_check(verified)
        return verified.principal


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


async def operator_principal(
    request: Request,
    authorization: Annotated[str | None, Header(max_length=8192)] = None,
) -> Principal:
    """FastAPI dependency: the operator calling, from their bearer token."""
    auth: OperatorAuth = _runtime(request).auth
    return await auth.principal(authorization)


OperatorDep = Annotated[Principal, Depends(operator_principal)]


def service_caller(*allowed: str) -> Callable[..., Awaitable[str]]:
    """FastAPI dependency factory: the calling service, if it is one of ``allowed``."""

    async def dependency(
        request: Request,
        x_service_token: Annotated[str | None, Header(max_length=512)] = None,
    ) -> str:
        credentials: ServiceCredentials = _runtime(request).credentials
        return credentials.require(x_service_token, allowed)

    return dependency
