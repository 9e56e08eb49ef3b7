"""From contract events to stored params, and params to what the citizen reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from contracts.envelope import EventEnvelope
from services.notify.adapters.contacts import Contact
from services.notify.domain.rate_limit import RateLimit
from services.notify.domain.templates import render
from services.notify.handlers import (
    DEFAULT_REASON,
    MASKED,
    event_params,
    parse_quiet_hours,
    parse_rate_limits,
    phone_channel,
    preview,
    render_params,
)
from services.notify.providers.base import ProviderResult, transport_failure
from services.notify.providers.failover import WeightedFailover, WeightedProvider
from services.runtime.http_client import HttpClient, TransportError
from tests.support.processes import free_port

CODE = "000.01.01.H99-261122-0001"
UNITS = {"000.01.01.H99": "Ủy ban nhân dân xã Đông Lâm"}
NAMES = {"1.001193": "Đăng ký khai sinh"}


def envelope(event_type: str, payload: dict[str, object]) -> EventEnvelope:
    dossier = uuid4()
    return EventEnvelope(
        event_type=event_type,
        dossier_id=dossier,
        correlation_id=dossier,
        producer="test",
        payload={"dossier_code": CODE, **payload},
    )


def test_the_appointment_is_the_date_in_vietnam_not_in_utc() -> None:
    env = envelope(
        "dossier.received",
        {
            "procedure_code": "1.001193",
            "receiving_unit": "000.01.01.H99",
            "appointment_at": "2026-11-24T18:30:00+00:00",
        },
    )
    params, unit = event_params(env, UNITS)
    assert params == {
        "dossier_code": CODE,
        "procedure_code": "1.001193",
        "appointment_date": "2026-11-25",  # 01:30 on the 25th in Hà Nội
    }
    assert unit == "000.01.01.H99"


def test_each_routing_event_keeps_what_its_template_needs() -> None:
    supplement, _ = event_params(
        envelope("dossier.supplement_requested", {"missing_documents": ["GCS"], "unit_code": "U"}),
        UNITS,
    )
    assert supplement["missing_papers"] == ["GCS"]
    obligation, unit = event_params(
        envelope("dossier.obligation_requested", {"amount_vnd": 1_250_000, "unit_code": "U"}),
        UNITS,
    )
    assert obligation["amount"] == 1_250_000 and unit == "U"
    refused, _ = event_params(envelope("dossier.refused", {"reason": None}), UNITS)
    assert refused["reason"] == DEFAULT_REASON


def test_an_apology_names_the_unit_and_leaves_the_citizen_name_for_send_time() -> None:
    params, unit = event_params(
        envelope(
            "apology.issued",
            {
                "responsible_unit": "000.01.01.H99",
                "reason": "cần xác minh",
                "old_appointment_at": "2026-11-25T02:00:00+00:00",
                "new_appointment_at": "2026-11-27T02:00:00+00:00",
                "letter_id": str(uuid4()),
            },
        ),
        UNITS,
    )
    assert unit == "000.01.01.H99"
    assert params["responsible_unit"] == "Ủy ban nhân dân xã Đông Lâm"
    assert "citizen_name" not in params
    stored = preview("apology.issued", "email", params, NAMES)
    assert "Kính gửi Ông/Bà ***," in stored.text

    contact = Contact("Nguyễn Thị Lan", "0912345678", "lan@example.vn", "1.001193")
    sent = render("apology.issued", "sms", render_params(params, NAMES, contact))
    assert "Nguyễn Thị Lan" in sent.text
    assert sent.sms is not None and "Nguyen Thi Lan" in sent.sms.unaccented.text


def test_the_procedure_name_comes_from_the_contact_when_the_event_lacks_it() -> None:
    contact = Contact("A", "0912345678", None, "1.001193")
    params = render_params({"dossier_code": CODE}, NAMES, contact)
    assert params["procedure_name"] == "Đăng ký khai sinh"
    assert render_params({"dossier_code": CODE}, NAMES, None)["citizen_name"] == MASKED


def test_a_contact_never_prints_the_person() -> None:
    assert "0912345678" not in repr(Contact("Nguyễn Thị Lan", "0912345678", "a@b.vn"))


@pytest.mark.parametrize(
    ("zalo", "opted", "expected"),
    [
        (True, set(), "zalo"),
        (False, set(), "sms"),
        (True, {"zalo"}, "sms"),
        (True, {"zalo", "sms"}, None),
        (False, {"sms"}, None),
    ],
)
def test_the_phone_channel(zalo: bool, opted: set[str], expected: str | None) -> None:
    assert phone_channel(zalo, opted) == expected


def test_settings_parsers() -> None:
    assert parse_rate_limits("5/600, 20/86400") == (
        RateLimit(5, timedelta(minutes=10)),
        RateLimit(20, timedelta(days=1)),
    )
    assert parse_rate_limits("") == ()
    assert parse_quiet_hours("") is None
    window = parse_quiet_hours("21:30-07:00")
    assert window is not None and window[0].hour == 21 and window[0].minute == 30


async def test_a_timeout_is_ambiguous_but_a_refused_connection_is_not() -> None:
    # Real errors from the gateways' client: a server that takes the request and never
    # answers, and a port where nothing listens.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HttpClient(timeout=0.2)
    try:
        with pytest.raises(TransportError) as slow:
            await client.post(f"http://127.0.0.1:{port}/send", json={"x": 1})
        server.close()
        await server.wait_closed()
        with pytest.raises(TransportError) as down:
            await client.post(f"http://127.0.0.1:{free_port()}/send", json={"x": 1})
    finally:
        await client.aclose()
    assert transport_failure(slow.value).ambiguous
    assert not transport_failure(down.value).ambiguous
    assert "Timeout" in (transport_failure(slow.value).error or "")


class Gateway:
    def __init__(self, name: str, result: ProviderResult) -> None:
        self.name = name
        self.result = result
        self.calls = 0

    async def send(
        self, request_id: str, phone: str, text: str, template_id: str | None
    ) -> ProviderResult:
        self.calls += 1
        return self.result


async def test_failover_tries_the_named_gateway_first() -> None:
    ok = ProviderResult(accepted=True, provider_message_id="x")
    a, b = Gateway("a", ok), Gateway("b", ok)
    failover = WeightedFailover([WeightedProvider(a, 100.0), WeightedProvider(b, 0.01)])
    outcome = await failover.send("r", "0912345678", "t", first="b")
    assert outcome.provider == "b" and (a.calls, b.calls) == (0, 1)


async def test_failover_stops_after_an_ambiguous_answer_so_no_copy_goes_elsewhere() -> None:
    unclear = ProviderResult(accepted=False, retryable=True, error="timeout", ambiguous=True)
    a, b = Gateway("a", unclear), Gateway("b", ProviderResult(accepted=True))
    failover = WeightedFailover([WeightedProvider(a, 1.0), WeightedProvider(b, 1.0)])
    outcome = await failover.send("r", "0912345678", "t", first="a")
    assert outcome.provider is None and outcome.result.ambiguous
    assert b.calls == 0


def test_quiet_hours_can_differ_per_unit() -> None:
    from datetime import UTC, datetime

    from services.notify.handlers import NotifyContext, quiet_hours_defer_for

    ctx = NotifyContext.__new__(NotifyContext)
    ctx.quiet_window = parse_quiet_hours("22:00-07:00")
    ctx.quiet_by_unit = {"LATE": parse_quiet_hours("23:00-06:00"), "NEVER": None}
    at_2230_vn = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
    deferred = quiet_hours_defer_for(ctx, at_2230_vn, "sms", "ANY")
    assert deferred is not None and deferred.hour == 7
    assert quiet_hours_defer_for(ctx, at_2230_vn, "sms", "LATE") is None
    assert quiet_hours_defer_for(ctx, at_2230_vn, "sms", "NEVER") is None
    assert quiet_hours_defer_for(ctx, at_2230_vn, "email", "ANY") is None
