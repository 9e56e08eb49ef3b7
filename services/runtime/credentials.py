"""Service-to-service credentials: each calling service has its own secret.

A service sends its own secret in ``X-Service-Token``; the receiver knows only the SHA-256
of each caller's secret (``TRUSTED_SERVICE_TOKENS``), so no service can act as another and
no signing key doubles as a credential. Comparison is in constant time and always runs over
every trusted caller, so the answer's timing does not tell which caller nearly matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from services.runtime.problems import ProblemError

# Who may call: the four services, the province's operators (scripts, runbooks) and the
# agency systems that answer routing's requests (police, social insurance, ...).
CALLERS = ("intake", "routing", "sla", "notify", "ops", "agency")
SERVICE_TOKEN_HEADER = "X-Service-Token"


def dev_service_token(caller: str) -> str:
    """The development credential of a caller: public, refused outside development."""
    return f"dev-{caller}-token-change-me"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def dev_trusted_tokens() -> dict[str, list[str]]:
    return {caller: [token_digest(dev_service_token(caller))] for caller in CALLERS}


def parse_trusted_tokens(text: str) -> dict[str, list[str]]:
    """``name=sha256hex,name=sha256hex`` (whitespace ignored) as a mapping; a name may
    appear twice while its credential is being rotated (old and new both accepted)."""
    found: dict[str, list[str]] = {}
    for raw in text.replace("\n", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, digest = item.partition("=")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"TRUSTED_SERVICE_TOKENS: '{name.strip()}' needs name=<sha256 hex>")
        found.setdefault(name.strip(), []).append(digest)
    return found


class ServiceCredentials:
    """Tells which trusted caller presented a credential, if any."""

    def __init__(self, trusted: Mapping[str, str | list[str]]) -> None:
        self._trusted = [
            (name, bytes.fromhex(digest))
            for name, digests in trusted.items()
            for digest in ([digests] if isinstance(digests, str) else digests)
        ]

    def identify(self, presented: str | None) -> str | None:
        if not presented:
            return None
        candidate = hashlib.sha256(presented.encode()).digest()
        found: str | None = None
        for name, digest in self._trusted:
            if hmac.compare_digest(candidate, digest) and found is None:
                found = name
        return found

    def require(self, presented: str | None, allowed: Iterable[str]) -> str:
        """The caller's name, or a 403 problem when it is unknown or not allowed here."""
        caller = self.identify(presented)
        if caller is None or caller not in set(allowed):
            raise ProblemError(
                403,
                "Không có quyền",
                "A valid X-Service-Token of a caller allowed on this endpoint is required.",
            )
        return caller
