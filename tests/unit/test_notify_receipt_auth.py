"""Who may report a delivery and which message a report may move: the pure rules."""

from __future__ import annotations

import hashlib

import pytest

from services.notify.domain.receipt_auth import (
    Ignore,
    MessageFacts,
    bearer,
    parse_networks,
    receipt_target,
    receipt_token,
    secret_ok,
    source_allowed,
    timestamp_fresh,
    zalo_signature,
    zalo_signature_ok,
    zalo_signed_text,
)

APP, SECRET, TS = "app-1", "oa-secret", "1718000000000"
BODY = b'{"event_name":"user_received_message","timestamp":"1718000000000"}'


def test_zalo_signs_app_id_body_timestamp_and_oa_secret_in_that_order() -> None:
    assert zalo_signed_text(APP, BODY, TS, SECRET) == b"app-1" + BODY + b"1718000000000oa-secret"
    expected = hashlib.sha256(b"app-1" + BODY + b"1718000000000oa-secret").hexdigest()
    assert zalo_signature(APP, BODY, TS, SECRET) == expected


def test_zalo_signature_accepts_the_right_mac_in_either_header_form() -> None:
    mac = zalo_signature(APP, BODY, TS, SECRET)
    assert zalo_signature_ok(mac, APP, BODY, TS, SECRET)
    assert zalo_signature_ok(f"mac={mac}", APP, BODY, TS, SECRET)
    assert zalo_signature_ok(mac.upper(), APP, BODY, TS, SECRET)


@pytest.mark.parametrize(
    ("header", "body", "timestamp", "secret"),
    [
        (None, BODY, TS, SECRET),  # unsigned
        ("", BODY, TS, SECRET),
        ("mac=" + "0" * 64, BODY, TS, SECRET),  # made up
        ("SIGNED", BODY.replace(b"received", b"seen"), TS, SECRET),  # body changed after
        ("SIGNED", BODY, "1718000000001", SECRET),  # timestamp changed after
        ("SIGNED", BODY, TS, "another-oa"),  # signed with another key
        ("SIGNED", BODY, TS, ""),  # no key configured: nothing verifies
        ("chữ ký giả", BODY, TS, SECRET),  # not even ASCII
    ],
)
def test_zalo_signature_refuses_anything_else(
    header: str | None, body: bytes, timestamp: str, secret: str
) -> None:
    if header == "SIGNED":
        header = zalo_signature(APP, BODY, TS, SECRET)
    assert not zalo_signature_ok(header, APP, body, timestamp, secret)


def test_stale_or_far_future_timestamps_are_refused() -> None:
    now = 1_718_000_000_000
    assert timestamp_fresh(str(now - 299_000), now, 300)
    assert timestamp_fresh(str(now + 5_000), now, 300)
    assert not timestamp_fresh(str(now - 301_000), now, 300)
    assert not timestamp_fresh(str(now + 3_600_000), now, 300)
    assert not timestamp_fresh("", now, 300)
    assert not timestamp_fresh("hôm qua", now, 300)


def test_receipt_tokens_are_per_message_per_provider_and_need_the_secret() -> None:
    token = receipt_token("s1", "esms", "m1")
    assert token == receipt_token("s1", "esms", "m1")
    assert len(token) == 64
    others = {
        receipt_token("s1", "esms", "m2"),
        receipt_token("s1", "viettel", "m1"),
        receipt_token("s2", "esms", "m1"),
    }
    assert token not in others and len(others) == 3
    assert secret_ok(token, receipt_token("s1", "esms", "m1"))
    assert not secret_ok(token[:-1] + "0", token)
    assert not secret_ok(None, token)
    assert not secret_ok("", "")  # an unset secret accepts nothing
    assert not secret_ok("anything", "")


def test_bearer_token_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer") is None
    assert bearer(None) is None


def test_source_allow_list() -> None:
    assert source_allowed("198.51.100.7", ())  # empty: anyone
    nets = parse_networks(["203.0.113.0/24", " 2001:db8::/32 ", ""])
    assert source_allowed("203.0.113.9", nets)
    assert source_allowed("2001:db8::1", nets)
    assert not source_allowed("198.51.100.7", nets)
    assert not source_allowed("127.0.0.1", nets)
    assert not source_allowed(None, nets)
    assert not source_allowed("not-an-ip", nets)
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks(["203.0.113.0/33"])


SENT_ZALO = MessageFacts(channel="zalo", provider="zalo", provider_message_id="z1", sent=True)


@pytest.mark.parametrize(
    ("message", "provider", "provider_id", "why"),
    [
        (SENT_ZALO, "zalo", "z1", None),
        (None, "zalo", "z1", Ignore.UNKNOWN),
        (
            MessageFacts(channel="email", provider="smtp", provider_message_id="<x>", sent=True),
            "zalo",
            "<x>",
            Ignore.EMAIL,
        ),
        (
            MessageFacts(channel="email", provider="esms", provider_message_id="e1", sent=True),
            "esms",
            "e1",
            Ignore.EMAIL,  # whatever the row says, e-mail is never a gateway's to move
        ),
        (SENT_ZALO, "esms", "z1", Ignore.OTHER_PROVIDER),
        (
            MessageFacts(channel="zalo", provider="esms", provider_message_id="z1", sent=True),
            "esms",
            "z1",
            Ignore.OTHER_PROVIDER,  # eSMS cannot report on a Zalo message
        ),
        (
            MessageFacts(channel="zalo", provider="zalo", provider_message_id=None, sent=False),
            "zalo",
            "z1",
            Ignore.NOT_SENT,
        ),
        (
            MessageFacts(channel="sms", provider="esms", provider_message_id=None, sent=True),
            "esms",
            None,
            Ignore.NOT_SENT,
        ),
        (SENT_ZALO, "zalo", "z2", Ignore.OTHER_ID),
        (SENT_ZALO, "zalo", None, Ignore.OTHER_ID),
    ],
)
def test_a_receipt_moves_only_a_message_handed_to_that_gateway_under_that_id(
    message: MessageFacts | None, provider: str, provider_id: str | None, why: Ignore | None
) -> None:
    assert receipt_target(message, provider, provider_id) is why
