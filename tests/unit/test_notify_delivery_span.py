"""A message's delivery span covers its send, not its wait for a gateway session: under
load the wait is most of the time, and spans that held it would all be kept as slow."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from services.notify import sender as sender_module
from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.model import Contact
from services.notify.handlers import NotifyContext
from services.notify.sender import Sender
from tests.support.tracing import recording_tracer
from tests.unit.test_notify_core import UNIT, claimed


class OneSessionSmtp:
    """An SMTP pool of one session whose sends finish when the test says so."""

    connections = 1

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sending: list[str] = []
        self.active = 0

    async def send(self, message_id: str, to: str, *_: Any) -> str:
        # The sender's gate admits one at a time: a second send at once would be a bug.
        assert self.active == 0, "two sends on the only session"
        self.active += 1
        self.sending.append(message_id)
        try:
            await self.release.wait()
        finally:
            self.release.clear()
            self.active -= 1
        return f"<{message_id}@test>"


def context(smtp: OneSessionSmtp) -> NotifyContext:
    nothing = cast("Any", None)  # delivering an email reads none of these
    return NotifyContext(
        runtime=nothing,
        procedure_names={"1.001193": "Đăng ký khai sinh"},
        contacts=nothing,
        smtp=cast("Any", smtp),
        sms=nothing,
        unit_names={UNIT: "Ủy ban nhân dân xã Đông Lâm"},
        quiet_window=None,
        zalo_enabled=False,
    )


async def test_a_message_waiting_for_the_only_session_starts_its_span_when_it_gets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, tracer, exported = recording_tracer("notify")
    monkeypatch.setattr(sender_module, "tracer", lambda: tracer)
    smtp = OneSessionSmtp()
    sender = Sender(context(smtp))
    contact = Contact(full_name="Nguyễn Thị Lan", phone="0912345678", email="lan@example.vn")
    first, second = claimed("email"), claimed("email")

    one = asyncio.create_task(sender.deliver(first, contact))
    two = asyncio.create_task(sender.deliver(second, contact))
    while len(smtp.sending) < 1:
        await asyncio.sleep(0)
    for _ in range(20):  # the second is parked at the gate, not at the session
        await asyncio.sleep(0)
    assert smtp.sending == [str(first.id)]
    assert [s.name for s in exported.get_finished_spans()] == []
    smtp.release.set()
    assert (await one).status is DeliveryStatus.SENT
    while len(smtp.sending) < 2:
        await asyncio.sleep(0)
    smtp.release.set()
    assert (await two).status is DeliveryStatus.SENT

    done = sorted(exported.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert [s.name for s in done] == ["notify deliver email"] * 2
    earlier, later = done
    assert earlier.end_time is not None and later.start_time is not None
    # The second's span began only once the first had finished with the session ...
    assert later.start_time >= earlier.end_time
    # ... and says how long it had waited for it.
    waited = [dict(s.attributes or {}).get("onestop.slot_wait_ms") for s in (earlier, later)]
    assert all(isinstance(w, float) for w in waited)
    assert cast("float", waited[1]) > 0
    assert cast("float", waited[1]) >= cast("float", waited[0])
