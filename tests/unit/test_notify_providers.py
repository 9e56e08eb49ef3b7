"""Each gateway adapter against its fake, served for real by uvicorn on localhost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.notify.dev_defaults import (
    DEV_VIETTEL_RECEIPT_TOKEN,
    DEV_ZALO_APP_ID,
    DEV_ZALO_OA_SECRET_KEY,
)
from services.notify.domain import catalog
from services.notify.domain.lifecycle import DeliveryStatus, next_status
from services.notify.domain.receipt_auth import receipt_token, zalo_signature_ok
from services.notify.domain.templates import render
from services.notify.fakes import esms_app, receipt_sink, viettel_app, zalo_app
from services.notify.fakes.serving import serve
from services.notify.providers import esms, viettel_soap, zalo_zns
from services.notify.providers.base import DeliveryReceipt
from services.notify.providers.failover import WeightedFailover, WeightedProvider
from services.runtime.http_client import HttpClient

PHONE = "0912345678"
NON_ZALO_PHONE = "0987000111"
TEXT = "Hồ sơ 000.00.01.H22-251103-0007 đã được tiếp nhận. Hẹn trả kết quả ngày 06/11/2025."


@dataclass(frozen=True)
class Stack:
    sink: str
    esms: str
    viettel: str
    zalo: str
    client: httpx.AsyncClient  # the fakes' control routes
    gateway: HttpClient  # what the providers send with, as in the service

    @property
    def receipts_url(self) -> str:
        return f"{self.sink}/receipts"


@pytest_asyncio.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with serve(receipt_sink.create_app()) as sink:
        callback = f"{sink}/receipts"
        async with (
            serve(esms_app.create_app(callback, api_key="k", secret_key="s")) as esms_url,
            serve(viettel_app.create_app(callback, user="u", password="p")) as vt_url,
            serve(
                zalo_app.create_app(callback, access_token="t", non_zalo_phones=["84987000111"])
            ) as zalo_url,
            httpx.AsyncClient(timeout=5.0) as client,
        ):
            gateway = HttpClient(timeout=5.0)
            try:
                yield Stack(sink, esms_url, vt_url, zalo_url, client, gateway)
            finally:
                await gateway.aclose()


@pytest_asyncio.fixture(autouse=True)
async def clean(stack: Stack) -> None:
    # Fakes first: their reset waits for receipts in flight, then the sink is emptied.
    for base in (stack.esms, stack.viettel, stack.zalo, stack.sink):
        (await stack.client.post(f"{base}/_reset")).raise_for_status()


async def control(stack: Stack, base: str, **body: Any) -> None:
    (await stack.client.post(f"{base}/_control", json=body)).raise_for_status()


async def messages(stack: Stack, base: str) -> list[dict[str, Any]]:
    response = await stack.client.get(f"{base}/_messages")
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def receipts(stack: Stack, count: int) -> list[dict[str, Any]]:
    """Wait until the sink holds `count` receipts, then give them all."""
    async with asyncio.timeout(5):
        while True:
            received: list[dict[str, Any]] = (
                await stack.client.get(f"{stack.sink}/_received")
            ).json()
            if len(received) >= count:
                await asyncio.sleep(0.1)  # let any surplus arrive, to catch extras
                return list((await stack.client.get(f"{stack.sink}/_received")).json())
            await asyncio.sleep(0.02)


def settle(found: list[DeliveryReceipt]) -> DeliveryStatus:
    status = DeliveryStatus.SENDING
    for receipt in found:
        status = next_status(status, receipt.status)
    return status


def esms_provider(stack: Stack, **overrides: Any) -> esms.EsmsProvider:
    config = esms.EsmsConfig(
        base_url=stack.esms,
        api_key="k",
        secret_key="s",
        brandname="UBND-XA",
        callback_url=stack.receipts_url,
        **overrides,
    )
    return esms.EsmsProvider(stack.gateway, config)


def viettel_provider(stack: Stack, **overrides: Any) -> viettel_soap.ViettelSoapProvider:
    config = viettel_soap.ViettelConfig(
        url=f"{stack.viettel}{viettel_app.SEND_PATH}",
        user="u",
        password="p",
        cp_code="UBND",
        service_id="UBND-XA",
        **overrides,
    )
    return viettel_soap.ViettelSoapProvider(stack.gateway, config)


def zalo_provider(stack: Stack, token: str = "t") -> zalo_zns.ZaloZnsProvider:
    return zalo_zns.ZaloZnsProvider(stack.gateway, zalo_zns.ZaloConfig(token, base_url=stack.zalo))


# --- eSMS ---------------------------------------------------------------------------


async def test_esms_sends_unaccented_and_reports_delivery(stack: Stack) -> None:
    result = await esms_provider(stack).send("req-1", PHONE, TEXT, "ESMS_DVC_RECEIVED_V1")
    assert result.accepted and result.provider_message_id
    [sent] = await messages(stack, stack.esms)
    assert sent["Phone"] == PHONE
    assert sent["Content"].startswith("Ho so 000.00.01.H22-251103-0007 da duoc tiep nhan")
    assert sent["IsUnicode"] == "0"
    found = [esms.parse_callback(r["params"]) for r in await receipts(stack, 2)]
    assert [r.status for r in found] == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    assert {r.provider_message_id for r in found} == {result.provider_message_id}
    assert {r.request_id for r in found} == {"req-1"}
    assert settle(found) is DeliveryStatus.DELIVERED


async def test_esms_unicode_contract_keeps_accents(stack: Stack) -> None:
    result = await esms_provider(stack, allow_unicode=True).send("req-u", PHONE, TEXT, None)
    assert result.accepted
    [sent] = await messages(stack, stack.esms)
    assert (sent["Content"], sent["IsUnicode"]) == (TEXT, "1")


async def test_esms_dedupes_on_request_id(stack: Stack) -> None:
    provider = esms_provider(stack)
    first = await provider.send("req-dup", PHONE, TEXT, None)
    again = await provider.send("req-dup", PHONE, TEXT, None)
    assert first.accepted and again.accepted
    assert again.error_code == esms.CODE_DUPLICATE_REQUEST
    assert len(await messages(stack, stack.esms)) == 1
    assert len(await receipts(stack, 2)) == 2  # receipts of the first send only


async def test_esms_failures(stack: Stack) -> None:
    provider = esms_provider(stack)
    await control(stack, stack.esms, mode="fail")
    down = await provider.send("req-f1", PHONE, TEXT, None)
    assert (down.accepted, down.retryable, down.error_code) == (False, True, "503")
    await control(stack, stack.esms, mode="fail", failure="provider")
    broke = await provider.send("req-f2", PHONE, TEXT, None)
    assert (broke.accepted, broke.retryable) == (False, False)
    assert broke.error_code == esms.CODE_LOW_BALANCE and not broke.recipient_rejected
    await control(stack, stack.esms, mode="ok")
    bad_key = esms.EsmsProvider(stack.gateway, esms.EsmsConfig(stack.esms, "wrong", "s", "UBND-XA"))
    assert (await bad_key.send("req-f3", PHONE, TEXT, None)).error_code == esms.CODE_BAD_CREDENTIALS
    bad_phone = await provider.send("req-f4", "12345", TEXT, None)
    assert bad_phone.recipient_rejected and not bad_phone.accepted
    assert await messages(stack, stack.esms) == []


async def test_esms_duplicate_receipts_change_nothing(stack: Stack) -> None:
    await control(stack, stack.esms, mode="duplicate_receipts")
    assert (await esms_provider(stack).send("req-d", PHONE, TEXT, None)).accepted
    found = [esms.parse_callback(r["params"]) for r in await receipts(stack, 4)]
    assert len(found) == 4
    assert settle(found) is DeliveryStatus.DELIVERED


async def test_esms_reordered_receipts_still_end_delivered(stack: Stack) -> None:
    await control(stack, stack.esms, mode="reorder_receipts")
    assert (await esms_provider(stack).send("req-r", PHONE, TEXT, None)).accepted
    found = [esms.parse_callback(r["params"]) for r in await receipts(stack, 2)]
    assert [r.status for r in found] == [DeliveryStatus.DELIVERED, DeliveryStatus.SENT]
    assert settle(found) is DeliveryStatus.DELIVERED


async def test_esms_receipt_url_is_bound_to_the_message_and_the_status_query_confirms(
    stack: Stack,
) -> None:
    provider = esms_provider(stack, callback_secret="receipt-secret")
    result = await provider.send("req-q", PHONE, TEXT, None)
    assert result.accepted and result.provider_message_id
    token = receipt_token("receipt-secret", "esms", "req-q")
    [sent] = await messages(stack, stack.esms)
    assert sent["CallbackUrl"] == f"{stack.receipts_url}/req-q/{token}"
    paths = {r["path"] for r in await receipts(stack, 2)}
    assert paths == {f"/receipts/req-q/{token}"}

    confirmed = await provider.query_status(result.provider_message_id)
    assert confirmed is not None and confirmed.status is DeliveryStatus.DELIVERED
    assert confirmed.provider_message_id == result.provider_message_id
    await control(stack, stack.esms, query_status=esms.SEND_STATUS_AT_CARRIER)
    pending = await provider.query_status(result.provider_message_id)
    assert pending is not None and pending.status is DeliveryStatus.SENT
    # An id eSMS does not know, or wrong credentials, confirm nothing.
    assert await provider.query_status("no-such-sms") is None
    wrong = esms.EsmsProvider(stack.gateway, esms.EsmsConfig(stack.esms, "wrong", "s", "X"))
    assert await wrong.query_status(result.provider_message_id) is None


async def test_slow_gateway_times_out_as_retryable(stack: Stack) -> None:
    await control(stack, stack.esms, mode="slow", delay_ms=500)
    impatient = HttpClient(timeout=0.1)
    config = esms.EsmsConfig(stack.esms, "k", "s", "UBND-XA")
    try:
        result = await esms.EsmsProvider(impatient, config).send("req-s", PHONE, TEXT, None)
    finally:
        await impatient.aclose()
    assert (result.accepted, result.retryable) == (False, True)
    assert result.error is not None and "Timeout" in result.error
    # The gateway got it anyway; retrying with the same request id sends nothing twice.
    async with asyncio.timeout(5):
        while not await messages(stack, stack.esms):
            await asyncio.sleep(0.05)
    await control(stack, stack.esms, mode="ok")
    retry = await esms_provider(stack).send("req-s", PHONE, TEXT, None)
    assert retry.accepted and retry.error_code == esms.CODE_DUPLICATE_REQUEST
    assert len(await messages(stack, stack.esms)) == 1


# --- Viettel SOAP ----------------------------------------------------------------------


async def test_viettel_soap_send_and_receipts(stack: Stack) -> None:
    result = await viettel_provider(stack).send("vt-1", PHONE, TEXT, "VT_DVC_RECEIVED_V1")
    assert result.accepted and result.provider_message_id == "vt-1"
    [sent] = await messages(stack, stack.viettel)
    assert sent["ReceiverID"] == sent["UserID"] == "84912345678"
    assert sent["ServiceID"] == "UBND-XA"
    assert sent["CommandCode"] == "bulksms"
    assert sent["ContentType"] == "0" and sent["Content"].isascii()
    assert "Password" not in sent
    hooks = await receipts(stack, 2)
    found = [viettel_soap.parse_receipt(r["json"]) for r in hooks]
    assert [r.status for r in found] == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    assert {r.request_id for r in found} == {"vt-1"}
    assert {r["headers"]["authorization"] for r in hooks} == {f"Bearer {DEV_VIETTEL_RECEIPT_TOKEN}"}


async def test_viettel_accented_contract_and_xml_escaping(stack: Stack) -> None:
    text = "Hồ sơ <A&B> đã có kết quả."
    result = await viettel_provider(stack, allow_accented=True).send("vt-2", PHONE, text, None)
    assert result.accepted
    [sent] = await messages(stack, stack.viettel)
    assert (sent["ContentType"], sent["Content"]) == ("1", text)


async def test_viettel_dedupes_and_fails_on_command(stack: Stack) -> None:
    provider = viettel_provider(stack)
    assert (await provider.send("vt-3", PHONE, TEXT, None)).accepted
    assert (await provider.send("vt-3", PHONE, TEXT, None)).accepted
    assert len(await messages(stack, stack.viettel)) == 1
    await control(stack, stack.viettel, mode="fail", failure="provider")
    refused = await provider.send("vt-4", PHONE, TEXT, None)
    assert (refused.accepted, refused.retryable, refused.error_code) == (False, True, "0")
    await control(stack, stack.viettel, mode="fail")
    fault = await provider.send("vt-5", PHONE, TEXT, None)
    assert (fault.accepted, fault.error_code) == (False, "500")
    await control(stack, stack.viettel, mode="ok")
    wrong = viettel_soap.ViettelSoapProvider(
        stack.gateway,
        viettel_soap.ViettelConfig(f"{stack.viettel}/bulkapi", "u", "bad", "UBND", "UBND-XA"),
    )
    denied = await wrong.send("vt-6", PHONE, TEXT, None)
    assert not denied.accepted and denied.error is not None and "Authenticate" in denied.error


# --- Zalo ZNS ----------------------------------------------------------------------------


async def test_zalo_zns_send_and_webhook(stack: Stack) -> None:
    rendered = render(
        catalog.RECEIVED,
        "zalo",
        {
            "dossier_code": "000.00.01.H22-251103-0007",
            "procedure_name": "Đăng ký khai sinh",
            "appointment_date": "2025-11-06",
            "opt_out_url": "https://dvc.example.vn/o/token",
        },
    )
    assert rendered.zns_template_data is not None
    provider = zalo_provider(stack)
    result = await provider.send(
        "zl-1", PHONE, rendered.provider_template_ids["zalo"], rendered.zns_template_data
    )
    assert result.accepted and result.provider_message_id
    [sent] = await messages(stack, stack.zalo)
    assert sent["phone"] == "84912345678"
    assert sent["template_id"] == "400201"
    assert sent["template_data"]["ten_thu_tuc"] == "Đăng ký khai sinh"
    [hook] = await receipts(stack, 1)
    assert zalo_signature_ok(
        hook["headers"]["x-zevent-signature"],
        DEV_ZALO_APP_ID,
        hook["raw"].encode(),
        hook["json"]["timestamp"],
        DEV_ZALO_OA_SECRET_KEY,
    )
    receipt = zalo_zns.parse_webhook(hook["json"])
    assert receipt is not None
    assert receipt.status is DeliveryStatus.DELIVERED
    assert (receipt.provider_message_id, receipt.request_id) == (result.provider_message_id, "zl-1")
    again = await provider.send("zl-1", PHONE, "400201", rendered.zns_template_data)
    assert again.provider_message_id == result.provider_message_id
    assert len(await messages(stack, stack.zalo)) == 1


async def test_zalo_non_account_signals_sms_fallback(stack: Stack) -> None:
    result = await zalo_provider(stack).send("zl-2", NON_ZALO_PHONE, "400101", {"ma_ho_so": "X"})
    assert not result.accepted
    assert result.fallback_to_sms
    assert result.error_code == str(zalo_zns.NOT_A_ZALO_ACCOUNT)
    # The caller sends the same notice by SMS instead.
    sms = render(
        catalog.RESULT_READY,
        "sms",
        {
            "dossier_code": "X",
            "procedure_name": "Y",
            "opt_out_url": "https://dvc.example.vn/o/t",
            "rating_url": "https://dvc.example.vn/d/t",
        },
    )
    assert sms.sms is not None
    fallback = await esms_provider(stack).send(
        "zl-2/sms", NON_ZALO_PHONE, sms.sms.unaccented.text, None
    )
    assert fallback.accepted


async def test_zalo_errors(stack: Stack) -> None:
    bad_token = await zalo_provider(stack, token="expired").send("zl-3", PHONE, "1", {"a": "b"})
    assert bad_token.error_code == str(zalo_zns.INVALID_ACCESS_TOKEN)
    assert not bad_token.retryable and not bad_token.fallback_to_sms
    await control(stack, stack.zalo, mode="fail")
    down = await zalo_provider(stack).send("zl-4", PHONE, "1", {"a": "b"})
    assert (down.accepted, down.retryable) == (False, True)
    await control(stack, stack.zalo, mode="ok", non_zalo_phones=["84912345678"])
    gone = await zalo_provider(stack).send("zl-5", PHONE, "1", {"a": "b"})
    assert gone.fallback_to_sms


# --- Control API and failover -------------------------------------------------------------


async def test_control_endpoint_validates(stack: Stack) -> None:
    bad = await stack.client.post(f"{stack.esms}/_control", json={"mode": "explode"})
    assert bad.status_code == 422
    ok = await stack.client.post(f"{stack.esms}/_control", json={"mode": "slow", "delay_ms": 10})
    assert ok.json() == {"mode": "slow", "delay_ms": 10, "failure": "http", "fail_next": 0}


async def test_failover_moves_on_when_a_gateway_fails(stack: Stack) -> None:
    await control(stack, stack.esms, mode="fail")

    class Fixed:
        def random(self) -> float:
            return 0.5  # with weights 10:1 the eSMS gateway is always tried first

    failover = WeightedFailover(
        [WeightedProvider(esms_provider(stack), 10), WeightedProvider(viettel_provider(stack), 1)],
        rng=Fixed(),
    )
    outcome = await failover.send("fo-1", PHONE, TEXT, {"esms": "E1", "viettel": "V1"})
    assert outcome.provider == "viettel" and outcome.result.accepted
    assert [a.provider for a in outcome.attempts] == ["esms", "viettel"]
    assert not outcome.attempts[0].result.accepted
    assert len(await messages(stack, stack.viettel)) == 1
    assert await messages(stack, stack.esms) == []
    for n in range(2):  # two more failures open the eSMS breaker
        await failover.send(f"fo-{n + 2}", PHONE, TEXT)
    skipped = await failover.send("fo-4", PHONE, TEXT)
    assert [a.provider for a in skipped.attempts] == ["viettel"]
    assert failover.breaker("esms").open_until is not None


@pytest.mark.parametrize("mode", ["fail", "ok"])
async def test_failover_stops_on_a_bad_number(stack: Stack, mode: str) -> None:
    await control(stack, stack.esms, mode=mode)
    failover = WeightedFailover(
        [WeightedProvider(esms_provider(stack), 1), WeightedProvider(viettel_provider(stack), 1)]
    )
    outcome = await failover.send("fo-bad", "12345", TEXT)
    assert outcome.provider is None and outcome.result.recipient_rejected
    assert len(outcome.attempts) == 1
