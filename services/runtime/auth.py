"""Signed bearer tokens for operators (unit + role) and password hashing.

A compact HMAC-SHA256 token: ``base64url(claims).base64url(signature)``. Enough for one
province's services sharing a secret; a province with an identity provider swaps this
module for OIDC token verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from services.runtime.problems import ProblemError

Role = Literal["official", "unit_head", "province_supervisor"]
PBKDF2_ROUNDS = 120_000


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    user_id: str
    unit_code: str
    role: Role

    def may_act_for(self, unit_code: str) -> bool:
        return self.role == "province_supervisor" or self.unit_code == unit_code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, principal: Principal, ttl_seconds: int = 8 * 3600) -> str:
    claims = {
        "sub": principal.user_id,
        "unit": principal.unit_code,
        "role": principal.role,
        "exp": int(time.time()) + ttl_seconds,
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def verify_token(secret: str, token: str) -> Principal:
    try:
        body, signature = token.split(".")
        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise InvalidToken("bad signature")
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidToken("malformed token") from exc
    if claims.get("exp", 0) < time.time():
        raise InvalidToken("expired")
    if claims.get("role") not in ("official", "unit_head", "province_supervisor"):
        raise InvalidToken("unknown role")
    return Principal(user_id=claims["sub"], unit_code=claims["unit"], role=claims["role"])


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2${PBKDF2_ROUNDS}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, rounds, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(rounds))
    return hmac.compare_digest(candidate, _unb64(digest))


def principal_from_header(secret: str, authorization: str | None) -> Principal:
    """The operator behind an ``Authorization: Bearer …`` header, or a 401 problem."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ProblemError(401, "Chưa đăng nhập", "A bearer token is required.")
    try:
        return verify_token(secret, authorization.removeprefix("Bearer "))
    except InvalidToken as exc:
        raise ProblemError(401, "Phiên đăng nhập không hợp lệ", str(exc)) from exc
