"""Signed opt-out links: what they name, and every way a forged one is refused."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest

from services.notify.adapters.contacts import Contact
from services.notify.domain import opt_out_link as links
from services.notify.domain.opt_out_link import LinkRefusal, OptOutLink, OptOutLinks
from services.notify.domain.sms_text import GSM7_BASIC
from services.notify.handlers import LINK_PLACEHOLDER, NO_LINK, render_params
from services.runtime.logs import mask_personal_data

SECRET = b"a-test-secret-of-enough-length-0123"
TODAY = date(2026, 11, 24)


def ref() -> str:
    return secrets.token_urlsafe(16)


def test_a_link_names_the_contact_and_the_channel_until_its_last_day() -> None:
    contact = ref()
    token = links.sign(SECRET, contact, "sms", TODAY + timedelta(days=90))
    assert len(token) == links.TOKEN_LENGTH == 40
    assert all(ch in GSM7_BASIC for ch in token)  # one septet each in an SMS
    assert links.verify(SECRET, token, TODAY) == OptOutLink(
        contact, "sms", TODAY + timedelta(days=90)
    )
    assert isinstance(links.verify(SECRET, token, TODAY + timedelta(days=90)), OptOutLink)


def test_an_expired_link_is_refused() -> None:
    token = links.sign(SECRET, ref(), "email", TODAY - timedelta(days=1))
    assert links.verify(SECRET, token, TODAY) is LinkRefusal.EXPIRED


def test_a_link_signed_with_another_key_is_refused() -> None:
    token = links.sign(b"somebody-else's-key-0123456789", ref(), "sms", TODAY)
    assert links.verify(SECRET, token, TODAY) is LinkRefusal.BAD_SIGNATURE


@pytest.mark.parametrize("position", range(40))
def test_changing_any_character_of_a_link_voids_it(position: int) -> None:
    token = links.sign(SECRET, ref(), "zalo", TODAY + timedelta(days=30))
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + token[position + 1 :]
    assert links.verify(SECRET, tampered, TODAY) in (
        LinkRefusal.BAD_SIGNATURE,
        LinkRefusal.MALFORMED,
    )


def test_a_link_cannot_be_moved_to_another_channel_or_a_later_day() -> None:
    contact = ref()
    token = links.sign(SECRET, contact, "sms", TODAY)
    raw = links._b64decode(token)
    assert raw is not None
    other_channel = raw[:16] + b"e" + raw[17:]
    later = raw[:17] + (0xFFFF).to_bytes(2, "big") + raw[19:]
    for forged in (other_channel, later):
        assert links.verify(SECRET, links._b64encode(forged), TODAY) is LinkRefusal.BAD_SIGNATURE


@pytest.mark.parametrize("token", ["", "x", "A" * 39, "A" * 41, "*" * 40, "=" * 40, "é" * 40])
def test_malformed_tokens_are_refused(token: str) -> None:
    assert links.verify(SECRET, token, TODAY) is LinkRefusal.MALFORMED


def test_no_link_for_a_reference_intake_did_not_issue() -> None:
    maker = OptOutLinks(SECRET, "https://dvc.example.vn/", 90)
    assert maker.url("0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11", "sms", TODAY) is None
    assert maker.url(ref(), "fax", TODAY) is None
    url = maker.url(ref(), "sms", TODAY)
    assert url is not None and url.startswith("https://dvc.example.vn/o/")


def test_the_link_is_filled_at_send_time_and_never_in_the_stored_preview() -> None:
    person = Contact("Trần Văn Bình", "0912345678", None)
    assert render_params({}, {}, None)["opt_out_url"] == LINK_PLACEHOLDER
    assert render_params({}, {}, person, "https://x/o/t")["opt_out_url"] == "https://x/o/t"
    assert render_params({}, {}, person, None)["opt_out_url"] == NO_LINK


def test_officials_free_text_loses_phones_emails_id_numbers_and_names() -> None:
    reason = (
        "Thiếu giấy tờ, liên hệ ông Nguyễn Văn An (0912 345 678, an.nguyen@gmail.com,"
        " CCCD 001190012345) hoặc bà Lan: 0987.654.321"
    )
    masked = mask_personal_data(reason)
    for secret in ("Nguyễn", "Văn An", "345 678", "an.nguyen@", "001190012345", "Lan", "654.321"):
        assert secret not in masked
    assert masked.startswith("Thiếu giấy tờ, liên hệ ông ***")
    # Forms of address in the templates themselves stay.
    assert mask_personal_data("Mời Ông/Bà nhận kết quả") == "Mời Ông/Bà nhận kết quả"


def test_production_refuses_the_development_link_key() -> None:
    from services.notify.app import NotifySettings

    prod = NotifySettings(environment="production")
    assert "OPT_OUT_LINK_SECRET is a known default value" in prod.insecure_settings()
    short = NotifySettings(environment="production", opt_out_link_secret="short-but-real")
    assert any(p.startswith("OPT_OUT_LINK_SECRET is shorter") for p in short.insecure_settings())
    real = NotifySettings(environment="production", opt_out_link_secret=secrets.token_hex(32))
    assert not any("OPT_OUT_LINK_SECRET" in p for p in real.insecure_settings())
    assert NotifySettings(environment="development").insecure_settings() == []
