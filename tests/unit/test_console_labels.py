"""Everything the console may show of an event or a message has a Vietnamese label: every
event type of the contracts, every delivery status and channel of notify."""

from __future__ import annotations

import re

from contracts.events import EVENT_SPECS
from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.template_model import Channel
from tests.support.infra import REPO

CONSOLE_JS = REPO / "services" / "routing" / "console" / "static" / "console.js"
VIETNAMESE = re.compile(
    r"[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]", re.I
)


def labels(name: str) -> dict[str, str]:
    """The entries of one ``const NAME = {...}`` table of console.js."""
    source = CONSOLE_JS.read_text(encoding="utf-8")
    body = re.search(r"const " + name + r" = \{(.*?)\n?\};", source, re.S)
    assert body is not None, name
    pairs = re.findall(r'"?([a-z_.]+)"?: "([^"]+)"', body.group(1))
    return dict(pairs)


def test_every_event_type_has_a_vietnamese_name() -> None:
    event = labels("EVENT")
    types = {spec.event_type for spec in EVENT_SPECS}
    assert types - set(event) == set()
    assert "step.claimed" in event
    assert all(VIETNAMESE.search(event[t]) for t in types), event


def test_every_delivery_status_and_channel_has_a_vietnamese_name() -> None:
    status = labels("MESSAGE_STATUS")
    assert {s.value for s in DeliveryStatus} - set(status) == set()
    assert all(VIETNAMESE.search(v) for v in status.values()), status
    channel = labels("MESSAGE_CHANNEL")
    assert {c.value for c in Channel} - set(channel) == set()
