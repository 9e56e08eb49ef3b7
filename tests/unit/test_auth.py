"""Operator tokens: EdDSA JWTs naming official, unit and role; forged, stale, re-signed or
mis-addressed ones are refused. Passwords: Argon2id, salted, legacy hashes still checked."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any, Literal

import jwt
import pytest
from argon2 import PasswordHasher

from services.runtime.auth import check_password, hash_password, needs_rehash
from services.runtime.credentials import ServiceCredentials, token_digest
from services.runtime.principal import Principal
from services.runtime.tokens import (
    InvalidToken,
    OidcConfig,
    SigningKey,
    StaticKeys,
    TokenIssuer,
    TokenVerifier,
    jwk_thumbprint,
)

ISSUER, AUDIENCE = "onestop-routing", "onestop"
COMMUNE_OFFICIAL = Principal(user_id="canbo@X01", unit_code="X01", role="official")
KEY = SigningKey.generate()
ISSUING = TokenIssuer(KEY, ISSUER, AUDIENCE, ttl_seconds=600)
VERIFIER = TokenVerifier(StaticKeys([KEY.public_jwk()]), OidcConfig(ISSUER, AUDIENCE))


async def test_a_token_names_the_official_their_unit_and_role() -> None:
    issued = ISSUING.issue(COMMUNE_OFFICIAL)
    verified = await VERIFIER.verify(issued.token)
    assert verified.principal == COMMUNE_OFFICIAL
    assert verified.jti == issued.jti
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "EdDSA", "kid": KEY.kid, "typ": "JWT"}
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert {"iss", "aud", "iat", "exp", "jti", "sub"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 600


class RotatingKeys:
    """A key source whose JWKS can be refreshed (new key objects) or lose a key."""

    def __init__(self, key: SigningKey) -> None:
        self.jwk = key.public_jwk()
        self.keys = {key.kid: jwt.PyJWK(self.jwk)}

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)


async def test_a_token_seen_before_is_not_verified_again_until_its_key_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = RotatingKeys(KEY)
    verifier = TokenVerifier(source, OidcConfig(ISSUER, AUDIENCE), cache_size=2)
    checked: list[str] = []
    decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    first, second, third = (ISSUING.issue(COMMUNE_OFFICIAL).token for _ in range(3))
    for token in (first, first, first, second):
        assert (await verifier.verify(token)).principal == COMMUNE_OFFICIAL
    assert checked == [first, second]  # the signature was checked once per token

    await verifier.verify(third)  # the cache holds two: the least recently used goes
    await verifier.verify(first)
    assert checked == [first, second, third, first]

    source.keys = {KEY.kid: jwt.PyJWK(source.jwk)}  # the JWKS was refreshed: verify afresh
    await verifier.verify(third)
    assert checked[-1] == third and len(checked) == 5
    source.keys = {}  # the key was withdrawn: its tokens stop working at once
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(third)

    source.keys = {KEY.kid: jwt.PyJWK(source.jwk)}
    short = TokenIssuer(KEY, ISSUER, AUDIENCE, ttl_seconds=60).issue(COMMUNE_OFFICIAL)
    await verifier.verify(short.token)
    before = len(checked)
    await verifier.verify(short.token)
    assert len(checked) == before  # still fresh: from the cache
    later = time.time() + 60 + 31  # past its expiry and the clock skew allowed
    monkeypatch.setattr(time, "time", lambda: later)
    # The cache no longer answers for it: PyJWT checks it again (against its own clock,
    # which this test does not move; an expired token is refused there, as tested above).
    await verifier.verify(short.token)
    assert checked[before:] == [short.token]


def test_an_official_acts_only_for_their_own_unit_a_supervisor_for_all() -> None:
    assert COMMUNE_OFFICIAL.may_act_for("X01")
    assert not COMMUNE_OFFICIAL.may_act_for("X02")
    supervisor = Principal(user_id="giamsat", unit_code="P", role="province_supervisor")
    assert supervisor.may_act_for("X02")


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_a_token_changed_to_another_unit_or_role_is_refused() -> None:
    header, _, signature = ISSUING.issue(COMMUNE_OFFICIAL).token.split(".")
    claims = jwt.decode(ISSUING.issue(COMMUNE_OFFICIAL).token, options={"verify_signature": False})
    forged = _b64({**claims, "unit": "X02", "role": "province_supervisor"})
    with pytest.raises(InvalidToken):
        await VERIFIER.verify(f"{header}.{forged}.{signature}")


async def test_a_token_signed_by_another_key_or_with_a_symmetric_or_no_algorithm_is_refused() -> (
    None
):
    other = TokenIssuer(SigningKey.generate(), ISSUER, AUDIENCE, 600)
    with pytest.raises(InvalidToken):
        await VERIFIER.verify(other.issue(COMMUNE_OFFICIAL).token)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "giamsat", "iat": now, "exp": now + 60}
    claims |= {"unit": "P", "role": "province_supervisor"}
    # The old scheme: HMAC with a shared (public default) secret.
    hs = jwt.encode(
        claims, "dev-only-secret-change-me", algorithm="HS256", headers={"kid": KEY.kid}
    )
    with pytest.raises(InvalidToken, match="algorithm"):
        await VERIFIER.verify(hs)
    unsigned = f"{_b64({'alg': 'none', 'kid': KEY.kid})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        await VERIFIER.verify(unsigned)


async def test_an_expired_mis_addressed_or_malformed_token_is_refused() -> None:
    stale = ISSUING.issue(COMMUNE_OFFICIAL, now=time.time() - 3600).token
    with pytest.raises(InvalidToken, match="Expired"):
        await VERIFIER.verify(stale)
    elsewhere = TokenIssuer(KEY, "https://someone-else", AUDIENCE, 600).issue(COMMUNE_OFFICIAL)
    with pytest.raises(InvalidToken, match="Issuer"):
        await VERIFIER.verify(elsewhere.token)
    other_audience = TokenIssuer(KEY, ISSUER, "another-app", 600).issue(COMMUNE_OFFICIAL)
    with pytest.raises(InvalidToken, match="Audience"):
        await VERIFIER.verify(other_audience.token)
    with pytest.raises(InvalidToken):
        await VERIFIER.verify("not-a-token")


async def test_an_identity_providers_token_maps_by_configured_claims() -> None:
    """A Keycloak-style token: username in preferred_username, roles in realm_access."""
    idp_key = SigningKey.generate()
    config = OidcConfig(
        "https://sso.example/realms/onestop",
        "onestop",
        user_claim="preferred_username",
        unit_claim="unit_code",
        role_claim="realm_access.roles",
    )
    verifier = TokenVerifier(StaticKeys([idp_key.public_jwk()]), config)
    now = int(time.time())
    token = idp_key.sign(
        {
            "iss": config.issuer,
            "aud": "onestop",
            "sub": "4b1c…",
            "iat": now,
            "exp": now + 300,
            "preferred_username": "lanhdao@X01",
            "unit_code": "X01",
            "realm_access": {"roles": ["offline_access", "official", "unit_head"]},
        }
    )
    verified = await verifier.verify(token)
    assert verified.principal == Principal("lanhdao@X01", "X01", "unit_head")


def test_the_key_id_is_the_rfc7638_thumbprint() -> None:
    jwk = KEY.public_jwk()
    assert jwk["kid"] == jwk_thumbprint(jwk) == KEY.kid
    assert "d" not in jwk  # never the private part
    assert SigningKey.from_pem(KEY.to_pem()).kid == KEY.kid


def test_passwords_are_argon2id_salted_and_checked() -> None:
    stored = hash_password("demo")
    assert stored.startswith("$argon2id$")
    assert "demo" not in stored
    assert stored != hash_password("demo")  # a new salt each time
    assert check_password("demo", stored)
    assert not check_password("Demo", stored)
    assert not check_password("demo", None)  # unknown account: same work, then no
    assert not needs_rehash(stored)


def test_a_legacy_pbkdf2_hash_still_checks_and_asks_for_a_rehash() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"demo", salt, 1000)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    legacy = f"pbkdf2$1000${b64(salt)}${b64(digest)}"
    assert check_password("demo", legacy)
    assert not check_password("other", legacy)
    assert needs_rehash(legacy)


def test_a_service_is_known_by_its_own_credential_only() -> None:
    credentials = ServiceCredentials(
        {"notify": token_digest("notify-secret-xyz"), "ops": token_digest("ops-secret-xyz")}
    )
    assert credentials.identify("notify-secret-xyz") == "notify"
    assert credentials.identify("ops-secret-xyz") == "ops"
    assert credentials.identify("routing-secret") is None
    assert credentials.identify("") is None
    assert credentials.require("ops-secret-xyz", ["ops"]) == "ops"
    with pytest.raises(Exception, match="X-Service-Token"):
        credentials.require("notify-secret-xyz", ["ops"])  # known, but not allowed here


def test_a_credential_being_rotated_is_accepted_old_and_new() -> None:
    from services.runtime.credentials import parse_trusted_tokens

    old, new = token_digest("notify-old-secret"), token_digest("notify-new-secret")
    credentials = ServiceCredentials(parse_trusted_tokens(f"notify={old}, notify={new}"))
    assert credentials.identify("notify-old-secret") == "notify"
    assert credentials.identify("notify-new-secret") == "notify"
    with pytest.raises(ValueError, match="sha256"):
        parse_trusted_tokens("notify=not-a-digest")


def test_an_unknown_account_costs_the_same_argon2_work_as_a_known_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No timing tells which usernames exist: both paths run exactly one Argon2 verify."""
    from services.runtime import auth

    stored = hash_password("demo")
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash).split("$")[1])
            return super().verify(hash, password)

    monkeypatch.setattr(auth, "_hasher", CountingHasher())
    assert not check_password("wrong", stored)
    assert not check_password("wrong", None)
    assert calls == ["argon2id", "argon2id"]
