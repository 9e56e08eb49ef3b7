"""Where a portal's status callbacks may go (threat: SSRF into the province's network)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from pydantic import ValidationError

from services.intake.config import IntakeSettings
from services.intake.domain.callback_targets import (
    NetworkPolicy,
    RefusedTarget,
    address_category,
    address_refusal,
    destination_refusal,
    parse_callback_url,
    parse_networks,
)

INSIDE = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),  # ULA
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),  # limited broadcast
    ("192.0.2.10", "private"),  # documentation range
    ("::7f00:1", "reserved"),  # IPv4-compatible ::127.0.0.1
    ("fec0::1", "site-local"),
]
PUBLIC = ["8.8.8.8", "203.113.131.1", "14.225.0.1", "2606:4700::1111", "2001:4860::8888"]


@pytest.mark.parametrize(("address", "category"), INSIDE)
def test_an_address_inside_is_named_for_what_it_is_and_refused(address: str, category: str) -> None:
    parsed = ip_address(address)
    assert address_category(parsed) == category
    refusal = address_refusal(parsed)
    assert refusal is not None
    assert category in refusal


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_may_receive_callbacks(address: str) -> None:
    assert address_category(ip_address(address)) is None
    assert address_refusal(ip_address(address)) is None


@pytest.mark.parametrize(
    ("mapped", "inner"),
    [
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:100.64.0.1", "CGNAT"),
    ],
)
def test_ipv4_mapped_forms_are_judged_by_the_ipv4_address_they_reach(
    mapped: str, inner: str
) -> None:
    refusal = address_refusal(ip_address(mapped))
    assert refusal is not None
    assert inner in refusal


def test_a_mapped_public_address_is_public_and_6to4_of_an_inside_one_is_not() -> None:
    assert address_refusal(ip_address("::ffff:8.8.8.8")) is None
    sixtofour_loopback = ip_address("2002:7f00:1::1")  # 6to4 wrapping 127.0.0.1
    refusal = address_refusal(sixtofour_loopback)
    assert refusal is not None
    assert "embedded 127.0.0.1" in refusal
    assert address_refusal(ip_address("2002:808:808::1")) is None  # 6to4 of 8.8.8.8


def test_allowing_private_networks_lifts_all_but_multicast_and_unspecified() -> None:
    dev = NetworkPolicy(allow_private=True)
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "100.64.0.1"):
        assert address_refusal(ip_address(address), dev) is None
    for address in ("0.0.0.0", "::", "224.0.0.1", "ff02::1"):
        assert address_refusal(ip_address(address), dev) is not None


def test_an_allow_list_lets_exactly_its_networks_through() -> None:
    policy = NetworkPolicy(allowed_networks=parse_networks("10.20.0.0/16, fd00:1::/64"))
    assert policy.allowed_networks == (ip_network("10.20.0.0/16"), ip_network("fd00:1::/64"))
    assert address_refusal(ip_address("10.20.3.4"), policy) is None
    assert address_refusal(ip_address("::ffff:10.20.3.4"), policy) is None
    assert address_refusal(ip_address("fd00:1::5"), policy) is None
    assert address_refusal(ip_address("10.21.0.1"), policy) is not None
    assert address_refusal(ip_address("127.0.0.1"), policy) is not None
    assert address_refusal(ip_address("169.254.169.254"), policy) is not None


def test_a_malformed_allow_list_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        parse_networks("10.20.0.0/16, not-a-network")
    assert parse_networks("") == ()


def test_a_name_pointing_partly_inside_is_refused_as_a_whole() -> None:
    assert destination_refusal(["8.8.8.8", "2606:4700::1111"]) is None
    mixed = destination_refusal(["8.8.8.8", "127.0.0.1"])
    assert mixed is not None
    assert "loopback" in mixed
    assert destination_refusal([]) == "the host resolves to no address"
    assert destination_refusal(["fe80::1%eth0"]) is not None  # zone id dropped, link-local
    assert destination_refusal(["not-an-address"]) is not None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_SET",
        "ftp://portal.example.vn/cb",
        "dict://127.0.0.1:11211/",
        "javascript:alert(1)",
        "http://",
        "http:///cb",
        "portal.example.vn/cb",
        "",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_callbacks(url: str) -> None:
    with pytest.raises(RefusedTarget):
        parse_callback_url(url)


def test_a_callback_url_is_parsed_as_the_http_client_parses_it() -> None:
    target = parse_callback_url("HTTPS://Portal.Example.VN/cb?x=1")
    assert (target.scheme, target.host, target.port, target.literal) == (
        "https",
        "portal.example.vn",
        443,
        None,
    )
    assert parse_callback_url("http://[::1]:8080/cb").literal == ip_address("::1")
    assert parse_callback_url("http://10.0.0.1/").port == 80
    # userinfo tricks: the host is what comes after the last "@"
    tricked = parse_callback_url("http://portal.example.vn@127.0.0.1/cb")
    assert tricked.literal == ip_address("127.0.0.1")


def test_settings_refuse_private_callbacks_in_production_and_malformed_networks() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOWED_NETWORKS"):
        IntakeSettings(
            environment="production",
            service_token="a-real-secret",
            webhook_allow_private_networks=True,
        )
    with pytest.raises(ValidationError, match=r"10\.0\.0\.0/33"):
        IntakeSettings(webhook_allowed_networks="10.0.0.0/33")
    production = IntakeSettings(
        environment="production",
        service_token="a-real-secret",
        webhook_allowed_networks="10.20.0.0/16",
    )
    assert production.webhook_policy == NetworkPolicy(
        allow_private=False, allowed_networks=(ip_network("10.20.0.0/16"),)
    )
    assert IntakeSettings().webhook_policy == NetworkPolicy()  # public addresses only
