"""Operator access tokens: JWTs signed with an asymmetric key, verified against a JWKS.

Routing is the default issuer (EdDSA, Ed25519); every service verifies with the public keys
it reads from the issuer's JWKS endpoint, so a province's own OIDC provider (Keycloak, …)
replaces routing's issuer by configuration alone: ``OIDC_ISSUER``, ``OIDC_AUDIENCE``,
``OIDC_JWKS_URL`` and the claim names. Signing and verification are PyJWT's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, cast
from uuid import uuid4

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.runtime.principal import ROLES, Principal, Role

CLOCK_SKEW_SECONDS = 30
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class OidcConfig:
    """What a verifier accepts: the issuer, the audience, algorithms and claim names."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("EdDSA", "RS256")
    user_claim: str = "sub"
    unit_claim: str = "unit"
    role_claim: str = "role"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of a public JWK: its ``kid``, stable across restarts."""
    members = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


class SigningKey:
    """The issuer's private key (Ed25519 or RSA), never leaving the issuer."""

    def __init__(self, private_key: Ed25519PrivateKey | RSAPrivateKey) -> None:
        self._private = private_key
        self.algorithm = "EdDSA" if isinstance(private_key, Ed25519PrivateKey) else "RS256"
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))
        self.kid = jwk_thumbprint(public)
        self._public_jwk = {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey | RSAPrivateKey):
            raise ValueError("the signing key must be Ed25519 or RSA")
        if isinstance(key, RSAPrivateKey) and key.key_size < 2048:
            raise ValueError("an RSA signing key needs at least 2048 bits")
        return cls(key)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._public_jwk)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private, algorithm=self.algorithm, headers={"kid": self.kid}
        )


def public_jwks_from_pem(pem: bytes) -> list[dict[str, Any]]:
    """Public JWKs of retired keys (PEM public keys, one after another) still published so
    that tokens they signed verify until they expire."""
    keys: list[dict[str, Any]] = []
    for block in pem.split(b"-----END PUBLIC KEY-----"):
        if b"-----BEGIN PUBLIC KEY-----" not in block:
            continue
        public = serialization.load_pem_public_key(block + b"-----END PUBLIC KEY-----\n")
        alg = "RS256" if hasattr(public, "public_numbers") else "EdDSA"
        jwk: dict[str, Any] = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(public))
        keys.append({**jwk, "kid": jwk_thumbprint(jwk), "alg": alg, "use": "sig"})
    return keys


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


class TokenIssuer:
    def __init__(self, key: SigningKey, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    def issue(self, principal: Principal, now: float | None = None) -> IssuedToken:
        issued_at = int(now if now is not None else time.time())
        jti = uuid4().hex
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.user_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl,
            "jti": jti,
            "unit": principal.unit_code,
            "role": principal.role,
        }
        return IssuedToken(self.key.sign(claims), jti, issued_at + self._ttl)


class KeySource(Protocol):
    async def key_for(self, kid: str) -> jwt.PyJWK | None: ...


class StaticKeys:
    """Keys known in-process (the issuer verifies its own tokens without a round trip)."""

    def __init__(self, jwks: list[dict[str, Any]]) -> None:
        self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks}

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


class RemoteJwks:
    """The issuer's JWKS over HTTP, cached; an unknown ``kid`` (a rotated key) refetches,
    at most every ``min_refresh_seconds`` so forged ``kid`` values cannot flood the issuer."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient | None = None,
        max_age_seconds: float = 600.0,
        min_refresh_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._client = client or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        age = time.monotonic() - self._fetched_at
        if kid not in self._keys or age > self._max_age:
            async with self._lock:
                age = time.monotonic() - self._fetched_at
                stale = age > self._max_age
                if stale or (kid not in self._keys and age > self._min_refresh):
                    await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            document = response.json()
            keys = {
                k["kid"]: jwt.PyJWK(k)
                for k in document.get("keys", [])
                if isinstance(k, dict) and k.get("use", "sig") == "sig" and "kid" in k
            }
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKError):
            # Keep what we had; retry after the short interval, not on every request.
            self._fetched_at = time.monotonic() - self._max_age + self._min_refresh
            return
        self._keys = keys
        self._fetched_at = time.monotonic()


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles`` in Keycloak's tokens)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _role(value: Any) -> Role:
    candidates = value if isinstance(value, list) else [value]
    known = [c for c in candidates if c in ROLES]
    if not known:
        raise InvalidToken("no known role")
    # An identity provider may grant several; the broadest one it granted applies.
    return cast("Role", max(known, key=ROLES.index))


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    jti: str | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token already verified, and the key object that verified it."""

    token: VerifiedToken
    kid: str
    key: jwt.PyJWK


class TokenVerifier:
    """Verifies operator tokens. A token seen before (an official sends the same one with
    every click) is answered from a bounded cache instead of checking its signature again
    (~170 µs of CPU): only while it has not expired and while the key source still hands
    out the very key object that verified it, so a rotated or withdrawn key (a refreshed
    JWKS makes new objects) verifies afresh. Failures are never cached."""

    def __init__(self, keys: KeySource, config: OidcConfig, cache_size: int = 4096) -> None:
        self._keys = keys
        self._config = config
        self._cache_size = cache_size
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def verify(self, token: str) -> VerifiedToken:
        seen = self._verified.get(token)
        if seen is not None:
            if (
                time.time() < seen.token.expires_at + CLOCK_SKEW_SECONDS  # as PyJWT
                and await self._keys.key_for(seen.kid) is seen.key
            ):
                self._verified.move_to_end(token)
                return seen.token
            self._verified.pop(token, None)
        cfg = self._config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") not in cfg.algorithms:
            raise InvalidToken("algorithm not accepted")
        kid = header.get("kid")
        key = await self._keys.key_for(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(kid, str):
            raise InvalidToken("unknown signing key")
        verified = self._verify_signed(token, key)
        if self._cache_size > 0:
            self._verified[token] = _Verified(verified, kid, key)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return verified

    def _verify_signed(self, token: str, key: jwt.PyJWK) -> VerifiedToken:
        cfg = self._config
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(cfg.algorithms),
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        user = _claim(claims, cfg.user_claim)
        unit = _claim(claims, cfg.unit_claim)
        if not isinstance(user, str) or not user or not isinstance(unit, str) or not unit:
            raise InvalidToken("token names no official or unit")
        principal = Principal(
            user_id=user, unit_code=unit, role=_role(_claim(claims, cfg.role_claim))
        )
        jti = claims.get("jti")
        return VerifiedToken(principal, jti if isinstance(jti, str) else None, int(claims["exp"]))
