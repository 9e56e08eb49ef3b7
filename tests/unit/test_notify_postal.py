"""Notify tells the citizen the tracking number once, when the parcel's order is made;
the parcel's later moves are timeline events only."""

from __future__ import annotations

from uuid import uuid4

import pytest

from services.notify.domain.model import DossierFacts, NewMessage, Prefs
from services.notify.domain.plan import plan
from services.notify.domain.templates import render
from tests.unit.test_notify_core import CODE, NOON, RULES, UNIT, routing_event

TRACKING = "EH123456789VN"


def tracking(status: str) -> list[NewMessage]:
    event = routing_event(
        "dossier.postal_tracking",
        uuid4(),
        procedure_code="1.001193",
        status=9,
        order_ref="HS-x",
        order_id="VN1",
        tracking_number=TRACKING,
        postal_status=status,
        unit_code=UNIT,
    )
    facts = DossierFacts(CODE, "1.001193", UNIT, "ref-7")
    return list(plan(event, facts, Prefs(zalo_enabled=False), NOON, RULES))


def test_the_order_s_creation_tells_the_tracking_number_by_email_and_sms() -> None:
    messages = tracking("created")
    by_channel = {m.channel: m for m in messages}
    assert set(by_channel) == {"email", "sms"}
    for message in by_channel.values():
        assert TRACKING in message.body_text
        assert message.contact_ref == "ref-7"
    assert "bưu chính công ích" in by_channel["email"].body_text
    assert "buu dien" in by_channel["sms"].body_text  # unaccented: one SMS, not three
    assert by_channel["email"].subject == f"Kết quả hồ sơ {CODE} đã được gửi qua bưu điện"


@pytest.mark.parametrize("status", ["accepted", "in_transit", "delivered", "returned_to_sender"])
def test_later_moves_of_the_parcel_send_nothing(status: str) -> None:
    assert tracking(status) == []


def test_the_sms_has_an_unaccented_variant_with_the_number() -> None:
    params = {
        "dossier_code": CODE,
        "procedure_name": "Đăng ký khai sinh",
        "tracking_number": TRACKING,
        "opt_out_url": "https://n.example.vn/o/abc",
    }
    sms = render("dossier.postal_tracking", "sms", params).sms
    assert sms is not None
    assert "Mã vận đơn" in sms.accented.text
    assert sms.unaccented.text.startswith(f"Ket qua ho so {CODE} da duoc gui qua buu dien.")
    assert TRACKING in sms.unaccented.text
