"""Results by post, the pure part: signed tracking callbacks, what each status does, the
order request, the sender's backoff, and the core returning a result the post delivered."""

from __future__ import annotations

import pytest

from contracts.events import DossierStatus
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from services.routing.domain import postal
from tests.unit.test_routing_support import PLACES, Story

SECRET = "mot-bi-mat-chung-du-dai-cho-buu-dien"
BODY = b'{"order_id":"VN1","status":"delivered","at":"2026-12-01T08:00:00+07:00"}'
NOW = 1_790_000_000.0


def signed(body: bytes = BODY, at: float = NOW, secret: str = SECRET) -> tuple[str, str]:
    timestamp = str(int(at))
    return timestamp, postal.sign(secret, timestamp, body)


def test_a_genuine_callback_verifies() -> None:
    timestamp, signature = signed()
    assert postal.verify(SECRET, timestamp, signature, BODY, NOW + 10)
    assert postal.verify(SECRET, timestamp, signature.upper(), BODY, NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body"),
    [
        (*signed(secret="doan-mo-mot-bi-mat-khac-dai"), BODY),  # another secret
        (*signed(), BODY.replace(b"delivered", b"in_transit")),  # the body changed
        (*signed(at=NOW - postal.TOLERANCE_SECONDS - 1), BODY),  # an old one replayed
        (*signed(at=NOW + postal.TOLERANCE_SECONDS + 1), BODY),  # from the future
        ("not-a-time", signed()[1], BODY),
        (signed()[0], "", BODY),  # unsigned
    ],
)
def test_a_forged_or_replayed_callback_does_not_verify(
    timestamp: str, signature: str, body: bytes
) -> None:
    assert not postal.verify(SECRET, timestamp, signature, body, NOW)


def test_delivered_returns_the_result_returned_to_sender_only_notes_it() -> None:
    assert postal.effect_of("delivered") == "return_result"
    assert postal.effect_of("returned_to_sender") == "note_returned_to_sender"
    assert {postal.effect_of(s) for s in ("accepted", "in_transit")} == {"note"}
    assert frozenset({"accepted", "in_transit", "delivered", "returned_to_sender"}) == (
        postal.TRACKING_STATUSES
    )


def test_the_sender_backs_off_doubling_up_to_a_cap() -> None:
    delays = [postal.backoff_seconds(n) for n in range(1, 12)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert max(delays) == 600.0
    assert delays == sorted(delays)
    assert postal.is_retryable(503) and postal.is_retryable(429)
    assert not postal.is_retryable(400) and not postal.is_retryable(401)


def test_the_order_request_names_the_receiver_and_the_papers_under_our_reference() -> None:
    ref = postal.order_ref("0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11")
    assert ref == "HS-0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11"
    request = postal.order_request(
        ref,
        dossier_code="000.00.01.H22-251103-0007",
        unit_code="X01",
        papers=["GKS-0001/2026", "CT-01"],
        receiver={"full_name": "Trần Văn Minh", "phone": "0987654321", "postal_address": "Huế"},
        callback_url="https://routing.example.vn/v1/postal/tracking",
    )
    assert request["partner_order_code"] == ref
    assert request["receiver"] == {"name": "Trần Văn Minh", "phone": "0987654321", "address": "Huế"}
    assert request["parcel"]["papers"] == ["GKS-0001/2026", "CT-01"]
    assert "000.00.01.H22-251103-0007" in request["parcel"]["content"]
    assert request["sender"]["unit_code"] == "X01"


def test_the_post_returns_a_ready_result_for_the_desk_and_closes_the_dossier() -> None:
    story = Story.start("three_level", "1.001193")
    desk = story.dossier.receiving_unit
    by_post = cmd.ReturnResult(official=cmd.Official(user_id="postal:VN1", unit_code=desk))
    assert "no result to return" in story.rejected(by_post)  # not before status 9
    story.work("khai_sinh")
    assert story.dossier.status is DossierStatus.DONE
    (returned,) = story.do(by_post)
    assert isinstance(returned, ev.Returned)
    assert (returned.unit_code, returned.official_id) == (desk, "postal:VN1")
    assert story.dossier.status is DossierStatus.RETURNED
    assert "closed" in story.rejected(by_post)  # a repeat changes nothing
    assert PLACES["three_level"].commune == desk


def test_production_refuses_the_development_postal_secrets() -> None:
    from services.routing.app import RoutingSettings

    dev = RoutingSettings(
        environment="production",
        postal_api_key=postal.DEV_API_KEY,
        postal_callback_secret=postal.DEV_CALLBACK_SECRET,
    )
    problems = dev.insecure_settings()
    assert "POSTAL_API_KEY is a known default value" in problems
    assert "POSTAL_CALLBACK_SECRET is a known default value" in problems
    real = RoutingSettings(
        environment="production", postal_api_key="k" * 32, postal_callback_secret=SECRET
    )
    assert not [p for p in real.insecure_settings() if "POSTAL" in p]
    assert RoutingSettings(environment="development").postal_secrets() == (
        postal.DEV_API_KEY,
        postal.DEV_CALLBACK_SECRET,
    )
