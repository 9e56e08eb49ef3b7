"""Where status callbacks may go: a pure decision on a URL and the addresses it resolves to.

Intake POSTs to URLs that portals give it, from inside the province's network. Unchecked,
a portal (or whoever holds its key) could make intake call the cloud metadata service,
a database's admin port or any internal host, and read the outcome in the delivery log
(SSRF). So a callback URL must be http(s) and its host must resolve to public unicast
addresses only. Registration checks it; the sender checks again at connect time, on the
very address it then connects to, so a DNS answer that changes in between (rebinding)
gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
CGNAT = IPv4Network("100.64.0.0/10")  # RFC 6598 shared address space
# Never a callback destination, whatever the settings allow (the allow-list aside).
NEVER_ALLOWED = frozenset({"unspecified", "multicast"})


class RefusedTarget(ValueError):
    """The URL or address may not receive callbacks; ``reason`` says why (English)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NetworkPolicy:
    """Which non-public addresses callbacks may reach anyway.

    ``allow_private`` lifts the refusal of loopback, private, link-local, CGNAT and
    reserved addresses (tests and development on one machine; never in production);
    ``allowed_networks`` lets exactly these networks through (a portal inside the
    province's own network, say ``10.20.0.0/16``).
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True)
class CallbackTarget:
    scheme: str
    host: str
    port: int
    literal: IPAddress | None  # the host, when it is an IP address rather than a name


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.20.0.0/16, fd00:1::/64"`` → networks; a malformed entry raises ValueError."""
    return tuple(ip_network(part.strip()) for part in text.split(",") if part.strip())


def parse_address(text: str) -> IPAddress | None:
    """An IP address (IPv6 zone id dropped), or None when ``text`` is not one."""
    try:
        return ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def parse_callback_url(url: str) -> CallbackTarget:
    """Scheme, host and port of a callback URL, parsed as the sender's HTTP client does."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise RefusedTarget("not a valid URL") from exc
    scheme = parsed.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedTarget(f"scheme {scheme or '(none)'!r} is not http or https")
    host = parsed.host
    if not host:
        raise RefusedTarget("the URL has no host")
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
    return CallbackTarget(scheme=scheme, host=host, port=port, literal=parse_address(host))


def _embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """IPv4 addresses an IPv6 address carries and may be routed to (6to4, Teredo)."""
    found = [address.sixtofour] if address.sixtofour is not None else []
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def address_category(address: IPAddress) -> str | None:
    """Why the address is not public (``"loopback"``, ``"private"``, …), or None if it is."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, IPv4Address) and address in CGNAT:
        return "shared (CGNAT)"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


def address_refusal(address: IPAddress, policy: NetworkPolicy = NetworkPolicy()) -> str | None:
    """Why callbacks may not go to ``address`` under ``policy``, or None if they may."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket
    inner = _embedded_ipv4(address) if isinstance(address, IPv6Address) else []
    if any(a in net for net in policy.allowed_networks for a in (address, *inner)):
        return None
    for candidate in (address, *inner):
        category = address_category(candidate)
        if category is None:
            continue
        if policy.allow_private and category not in NEVER_ALLOWED:
            continue
        shown = "" if candidate == address else f", embedded {candidate}"
        return f"{address} is not a public address ({category}{shown})"
    return None


def destination_refusal(
    addresses: Iterable[str | IPAddress], policy: NetworkPolicy = NetworkPolicy()
) -> str | None:
    """Why a host resolving to ``addresses`` may not receive callbacks, or None.

    Every address must pass: a name that points partly inside is refused as a whole.
    """
    seen = False
    for raw in addresses:
        seen = True
        address = raw if isinstance(raw, IPv4Address | IPv6Address) else parse_address(raw)
        if address is None:
            return f"{raw!r} is not an IP address"
        if refusal := address_refusal(address, policy):
            return refusal
    return None if seen else "the host resolves to no address"
