"""The signed rating link and the rating form's rules (pure)."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.notify.domain import opt_out_link
from services.notify.domain.catalog import RESULT_READY
from services.notify.domain.opt_out_link import LinkRefusal
from services.notify.domain.plan import RATING_PLACEHOLDER, render_params
from services.notify.domain.rating import (
    COMMENT_MAX,
    TOKEN_LENGTH,
    RatingError,
    RatingLink,
    RatingLinks,
    parse_form,
    sign,
    verify,
)
from services.notify.domain.templates import render

SECRET = b"a-test-rating-secret-of-enough-length"
TODAY = date(2026, 11, 20)
FULL = {"timeliness": "5", "attitude": "4", "clarity": "3", "outcome": "2"}


def test_a_link_names_its_dossier_until_its_last_day() -> None:
    dossier = uuid4()
    token = sign(SECRET, dossier, TODAY + timedelta(days=30))
    assert len(token) == TOKEN_LENGTH
    assert verify(SECRET, token, TODAY + timedelta(days=30)) == RatingLink(
        dossier, TODAY + timedelta(days=30)
    )
    assert verify(SECRET, token, TODAY + timedelta(days=31)) is LinkRefusal.EXPIRED


def test_a_forged_or_tampered_link_is_refused() -> None:
    dossier = uuid4()
    token = sign(SECRET, dossier, TODAY + timedelta(days=30))
    assert verify(b"another-secret-of-enough-length!!", token, TODAY) is LinkRefusal.BAD_SIGNATURE
    for i in range(len(token)):  # every single-character change is refused
        swapped = "A" if token[i] != "A" else "B"
        tampered = token[:i] + swapped + token[i + 1 :]
        assert not isinstance(verify(SECRET, tampered, TODAY), RatingLink)
    # Pushing the expiry forward without the key breaks the MAC.
    later = sign(b"attacker-key-000000000000000000000", dossier, TODAY + timedelta(days=3000))
    assert verify(SECRET, later, TODAY) is LinkRefusal.BAD_SIGNATURE
    assert verify(SECRET, token[:-1], TODAY) is LinkRefusal.MALFORMED
    assert verify(SECRET, token[:-2] + "+/", TODAY) is LinkRefusal.MALFORMED


def test_an_opt_out_token_is_not_a_rating_token_under_the_same_key() -> None:
    ref = "q2Hc0m1bX4yV9sWkP7dLfA"
    opt_out = opt_out_link.sign(SECRET, ref, "email", TODAY + timedelta(days=30))
    assert not isinstance(verify(SECRET, opt_out[:TOKEN_LENGTH], TODAY), RatingLink)


def test_the_form_wants_every_criterion_from_1_to_5() -> None:
    rating = parse_form(FULL)
    assert rating.scores == {"timeliness": 5, "attitude": 4, "clarity": 3, "outcome": 2}
    assert rating.comment is None
    for bad in ("0", "6", "", "4.5", "-1", "٣"):
        with pytest.raises(RatingError, match="Thái độ phục vụ"):
            parse_form({**FULL, "attitude": bad})
    with pytest.raises(RatingError):
        parse_form({k: v for k, v in FULL.items() if k != "outcome"})


def test_the_comment_is_bounded_and_masked() -> None:
    rating = parse_form({**FULL, "comment": " Gọi tôi số 0912345678, email an@vi.vn "})
    assert rating.comment is not None
    assert "0912345678" not in rating.comment and "an@vi.vn" not in rating.comment
    assert parse_form({**FULL, "comment": "x" * COMMENT_MAX}).comment == "x" * COMMENT_MAX
    with pytest.raises(RatingError, match="dài quá"):
        parse_form({**FULL, "comment": "x" * (COMMENT_MAX + 1)})


def test_the_result_message_carries_the_rating_link() -> None:
    links = RatingLinks(SECRET, "https://thongbao.tinh.gov.vn", 30)
    url = links.url(uuid4(), TODAY)
    assert url.startswith("https://thongbao.tinh.gov.vn/d/")
    token = url.rsplit("/", 1)[1]
    assert isinstance(links.verify(token, TODAY), RatingLink)
    stored = {"dossier_code": "000.00.01.H22-251103-0007"}
    for channel in ("sms", "zalo", "email"):
        preview = render(RESULT_READY, channel, render_params(stored, {}, None))
        assert preview.template_version == 3
        assert RATING_PLACEHOLDER in (preview.text + str(preview.zns_template_data))
    email = render(RESULT_READY, "email", {**render_params(stored, {}, None), "rating_url": url})
    assert url in email.text and url in (email.html or "")


def test_production_refuses_the_development_rating_key() -> None:
    from services.notify.app import NotifySettings

    prod = NotifySettings(environment="production")
    assert "RATING_LINK_SECRET is a known default value" in prod.insecure_settings()
    short = NotifySettings(environment="production", rating_link_secret="short-but-real")
    assert any(p.startswith("RATING_LINK_SECRET is shorter") for p in short.insecure_settings())
    real = NotifySettings(environment="production", rating_link_secret=secrets.token_hex(32))
    assert not any("RATING_LINK_SECRET" in p for p in real.insecure_settings())
