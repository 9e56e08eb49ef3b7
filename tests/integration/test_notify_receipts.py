"""Forged delivery receipts: what an anonymous caller tries, and what the gateways do.

Notify runs as its own process next to the gateway stand-ins (which sign, token and
confirm their receipts as the real gateways do). Each attack names a real message and
is checked twice: the request is refused or ignored, and the message's status and
history are exactly what they were; a message that was waiting is then still sent.

A message "waiting" is one held by quiet hours (its unit's quiet window is the hours
around now); the test ends the night by moving it to a unit without quiet hours.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.notify.dev_defaults import (
    DEV_RECEIPT_TOKEN_SECRET,
    DEV_VIETTEL_RECEIPT_TOKEN,
    DEV_ZALO_APP_ID,
    DEV_ZALO_OA_SECRET_KEY,
)
from services.notify.domain.receipt_auth import receipt_token, zalo_signature
from services.notify.entrypoints.receipts import FORBIDDEN_SOURCE, STALE, UNAUTHENTICATED
from tests.integration.test_notify_delivery import (
    COMMUNE,
    QUIET_UNIT,
    Citizen,
    Processes,
    Stack,
    citizen,
    eventually,
    notify_processes_with,
    open_stack,
    opt_out_token,
    received,
    settled_by_channel,
    was_held,
)
from tests.support.infra import Infra

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def receipt_processes(infra: Infra) -> Iterator[Processes]:
    # The stand-ins call from this machine: allowed for eSMS and Zalo; Viettel's reports
    # are only taken from a network they cannot come from.
    with notify_processes_with(
        infra,
        ESMS_RECEIPT_CIDRS=json.dumps(["127.0.0.0/8"]),
        ZALO_RECEIPT_CIDRS=json.dumps(["127.0.0.0/8", "::1/128"]),
        VIETTEL_RECEIPT_CIDRS=json.dumps(["192.0.2.0/24"]),
    ) as processes:
        yield processes


@pytest.fixture
async def stack(infra: Infra, receipt_processes: Processes) -> AsyncIterator[Stack]:
    async with open_stack(infra, receipt_processes) as found:
        # SMS go through eSMS here: Viettel refuses every send.
        await found.control("viettel", mode="fail", failure="provider")
        try:
            yield found
        finally:
            await found.control("zalo", callback_url=f"{found.notify.url}/v1/callbacks/zalo")


# --- what the tests do ------------------------------------------------------------------


async def new_dossier(stack: Stack, person: Citizen, unit: str, tag: str) -> str:
    dossier, code = uuid4(), f"{unit}-261123-{tag}"
    payload = {**received(code, person, dossier), "receiving_unit": unit}
    await stack.publish("dossier.received", dossier, payload, None)
    return code


async def waiting_notice(stack: Stack, tag: str, channel: str) -> tuple[str, dict[str, Any]]:
    """A citizen's notice held by quiet hours (`channel` zalo or sms); the e-mail went."""
    person = stack.add(citizen(f"rc{tag}"))
    if channel == "sms":
        await opt_out(stack, person, "zalo")
    code = await new_dossier(stack, person, QUIET_UNIT, tag)
    messages = await settled_by_channel(
        stack, code, {"email": "sent", channel: "created"}, decided=was_held
    )
    return code, next(m for m in messages if m["channel"] == channel)


async def opt_out(stack: Stack, person: Citizen, channel: str) -> None:
    """The citizen follows the link of an earlier message on `channel`."""
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{stack.notify.url}/v1/opt-outs/confirm",
            params={"token": opt_out_token(person, channel)},
            timeout=5,
        )
        r.raise_for_status()


async def snapshot(stack: Stack, message_id: Any) -> dict[str, Any]:
    """Everything a receipt could change about a message."""
    [row] = await stack.sql(
        "SELECT status, provider, provider_message_id, sent_at, attempts, last_error,"
        " next_attempt_at, updated_at FROM messages WHERE id = $1",
        UUID(str(message_id)),
    )
    history = await stack.sql(
        "SELECT status, detail, at FROM message_status_history WHERE message_id = $1 ORDER BY id",
        UUID(str(message_id)),
    )
    return {**dict(row), "history": [dict(h) for h in history]}


async def morning(stack: Stack, message_id: Any) -> None:
    """The night is over for this message: it is due now, at a unit without quiet hours."""
    await stack.sql(
        "UPDATE messages SET unit_code = $2, next_attempt_at = now() WHERE id = $1",
        UUID(str(message_id)),
        COMMUNE,
    )


async def finally_delivered(stack: Stack, code: str, message_id: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = next(m for m in await stack.view(code) if m["id"] == str(message_id))
        return found if found["status"] == "delivered" else None

    return await eventually(probe)


def webhook(msg_id: str, tracking_id: str, *, age_seconds: float = 0) -> bytes:
    at = str(int((time.time() - age_seconds) * 1000))
    return json.dumps(
        {
            "app_id": DEV_ZALO_APP_ID,
            "event_name": "user_received_message",
            "sender": {"id": "oa"},
            "recipient": {"id": "someone"},
            "message": {"msg_id": msg_id, "tracking_id": tracking_id, "delivery_time": at},
            "timestamp": at,
        }
    ).encode()


def zalo_mac(body: bytes, key: str = DEV_ZALO_OA_SECRET_KEY) -> str:
    return "mac=" + zalo_signature(DEV_ZALO_APP_ID, body, json.loads(body)["timestamp"], key)


async def post_zalo(stack: Stack, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-ZEvent-Signature"] = signature
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{stack.notify.url}/v1/callbacks/zalo", content=body, headers=headers, timeout=5
        )


async def get_esms(stack: Stack, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"{stack.notify.url}{path}", params=params, timeout=10)


def esms_path(message_id: Any, secret: str = DEV_RECEIPT_TOKEN_SECRET) -> str:
    token = receipt_token(secret, "esms", str(message_id))
    return f"/v1/callbacks/esms/{message_id}/{token}"


async def post_viettel(stack: Stack, body: dict[str, str], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{stack.notify.url}/v1/callbacks/viettel", json=body, headers=headers, timeout=5
        )


def refused(response: httpx.Response, status: int = 401, title: str = UNAUTHENTICATED) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["title"] == title


def ignored(response: httpx.Response) -> None:
    """Acknowledged as the gateway expects, with nothing changed."""
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "status": None}


def delivered_esms(status: str = "5") -> dict[str, str]:
    return {"SMSID": uuid4().hex, "SendStatus": status, "SendSuccess": "1", "SendFailed": "0"}


# --- Zalo -------------------------------------------------------------------------------


async def test_an_unsigned_zalo_receipt_cannot_mark_a_waiting_notice_delivered(
    stack: Stack,
) -> None:
    code, notice = await waiting_notice(stack, "0101", "zalo")
    before = await snapshot(stack, notice["id"])

    forged = webhook(uuid4().hex, notice["id"])
    refused(await post_zalo(stack, forged, None))
    refused(await post_zalo(stack, forged, ""))
    assert await snapshot(stack, notice["id"]) == before

    # Morning: the notice goes out after all, and Zalo's signed receipt is taken.
    await morning(stack, notice["id"])
    done = await finally_delivered(stack, code, notice["id"])
    assert [h["status"] for h in done["history"]] == ["created", "sending", "sent", "delivered"]
    assert done["history"][-1]["detail"] == "receipt zalo"
    sent = [m for m in await stack.gateway_messages("zalo") if m["tracking_id"] == notice["id"]]
    assert len(sent) == 1


async def test_a_zalo_receipt_with_a_wrong_signature_or_an_old_one_is_refused(
    stack: Stack,
) -> None:
    code, notice = await waiting_notice(stack, "0201", "zalo")
    before = await snapshot(stack, notice["id"])

    forged = webhook(uuid4().hex, notice["id"])
    refused(await post_zalo(stack, forged, zalo_mac(forged, key="guessed-oa-key")))
    refused(await post_zalo(stack, forged, "mac=" + "0" * 64))
    # A genuine signature over another body does not carry over.
    other = webhook(uuid4().hex, str(uuid4()))
    refused(await post_zalo(stack, forged, zalo_mac(other)))
    # A correctly signed webhook replayed an hour later is too old.
    replay = webhook(uuid4().hex, notice["id"], age_seconds=3600)
    refused(await post_zalo(stack, replay, zalo_mac(replay)), title=STALE)
    assert await snapshot(stack, notice["id"]) == before

    await morning(stack, notice["id"])
    await finally_delivered(stack, code, notice["id"])


# --- eSMS -------------------------------------------------------------------------------


async def test_esms_receipts_without_or_with_a_wrong_token_are_refused(stack: Stack) -> None:
    code, sms = await waiting_notice(stack, "0301", "sms")
    before = await snapshot(stack, sms["id"])
    report = {**delivered_esms(), "RequestId": sms["id"]}

    refused(await get_esms(stack, "/v1/callbacks/esms", **report))  # the old way: no token
    token = receipt_token(DEV_RECEIPT_TOKEN_SECRET, "esms", sms["id"])
    another_message = receipt_token(DEV_RECEIPT_TOKEN_SECRET, "esms", str(uuid4()))
    another_gateway = receipt_token(DEV_RECEIPT_TOKEN_SECRET, "viettel", sms["id"])
    another_secret = receipt_token("dev-only-secret-change-me", "esms", sms["id"])
    for wrong in ("0" * 64, token[:-1], another_message, another_gateway, another_secret):
        refused(await get_esms(stack, f"/v1/callbacks/esms/{sms['id']}/{wrong}", **report))
    assert await snapshot(stack, sms["id"]) == before

    await morning(stack, sms["id"])
    done = await finally_delivered(stack, code, sms["id"])
    assert done["provider"] == "esms"
    sent = [m for m in await stack.gateway_messages("esms") if m["RequestId"] == sms["id"]]
    assert len(sent) == 1


async def test_an_esms_receipt_counts_only_once_esms_confirms_it(stack: Stack) -> None:
    person = stack.add(citizen("rc0401"))
    await opt_out(stack, person, "zalo")
    code = await new_dossier(stack, person, COMMUNE, "0401")
    messages = await settled_by_channel(stack, code, {"email": "sent", "sms": "delivered"})
    sms = next(m for m in messages if m["channel"] == "sms")
    assert sms["provider"] == "esms"
    assert sms["history"][-1]["detail"] == "receipt esms"
    [at_gateway] = [m for m in await stack.gateway_messages("esms") if m["RequestId"] == sms["id"]]
    assert at_gateway["CallbackUrl"] == f"{stack.notify.url}{esms_path(sms['id'])}"

    # eSMS's status query says the next one is still at the carrier: its "delivered"
    # receipt is not taken (a leaked token alone cannot end a message either).
    await stack.control("esms", query_status="7")
    later = stack.add(citizen("rc0402"))
    await opt_out(stack, later, "zalo")
    code = await new_dossier(stack, later, COMMUNE, "0402")
    messages = await settled_by_channel(stack, code, {"email": "sent", "sms": "sent"})
    pending = next(m for m in messages if m["channel"] == "sms")

    async def both_receipts_arrived() -> bool:
        async with httpx.AsyncClient() as client:
            state = await client.get(f"{stack.gateways['esms']}/_receipts", timeout=5)
        sent = state.json()["sent"]
        return sum(1 for r in sent if r["params"]["RequestId"] == pending["id"]) == 2

    await eventually(both_receipts_arrived)
    before = await snapshot(stack, pending["id"])
    assert before["status"] == "sent"
    leaked = {**delivered_esms(), "SMSID": before["provider_message_id"]}
    ignored(await get_esms(stack, esms_path(pending["id"]), **leaked))
    assert await snapshot(stack, pending["id"]) == before

    # Once eSMS's status query reports it delivered, the same receipt is taken.
    await stack.control("esms", mode="ok")
    r = await get_esms(stack, esms_path(pending["id"]), **leaked)
    assert r.status_code == 200 and r.json()["status"] == "delivered"
    await finally_delivered(stack, code, pending["id"])


# --- receipts that name the wrong message ------------------------------------------------


async def test_a_receipt_for_a_message_not_sent_yet_changes_nothing(stack: Stack) -> None:
    zcode, notice = await waiting_notice(stack, "0501", "zalo")
    scode, sms = await waiting_notice(stack, "0502", "sms")
    before = {m["id"]: await snapshot(stack, m["id"]) for m in (notice, sms)}

    # Authenticated as the gateways authenticate, but nothing was handed to them yet.
    body = webhook(uuid4().hex, notice["id"])
    ignored(await post_zalo(stack, body, zalo_mac(body)))
    ignored(await get_esms(stack, esms_path(sms["id"]), **delivered_esms(), RequestId=sms["id"]))
    ignored(await get_esms(stack, esms_path(sms["id"]), **delivered_esms("4")))
    for m in (notice, sms):
        assert await snapshot(stack, m["id"]) == before[m["id"]]

    for m in (notice, sms):
        await morning(stack, m["id"])
    await finally_delivered(stack, zcode, notice["id"])
    await finally_delivered(stack, scode, sms["id"])


async def test_a_receipt_naming_another_gateways_message_changes_nothing(stack: Stack) -> None:
    # A Zalo notice that went out but whose receipt was lost: it stays 'sent'.
    await stack.control("zalo", callback_url="http://127.0.0.1:9/lost")
    person = stack.add(citizen("rc0601"))
    code = await new_dossier(stack, person, COMMUNE, "0601")
    messages = await settled_by_channel(stack, code, {"email": "sent", "zalo": "sent"})
    notice = next(m for m in messages if m["channel"] == "zalo")
    before = await snapshot(stack, notice["id"])
    zalo_id = before["provider_message_id"]
    assert before["provider"] == "zalo" and zalo_id

    # eSMS and Viettel, authenticated, name the Zalo message by its ids.
    report = {**delivered_esms("4"), "SMSID": zalo_id}
    ignored(await get_esms(stack, esms_path(notice["id"]), **report))
    # Viettel's reports are only taken from its allow-listed network (here one the
    # stand-ins cannot call from), whatever they carry.
    failed = {"RequestID": notice["id"], "Status": "UNDELIV"}
    refused(await post_viettel(stack, failed, DEV_VIETTEL_RECEIPT_TOKEN), 403, FORBIDDEN_SOURCE)
    refused(await post_viettel(stack, failed, None), 403, FORBIDDEN_SOURCE)
    assert await snapshot(stack, notice["id"]) == before

    # Zalo, signed, naming an SMS that eSMS carried.
    await stack.control("zalo", callback_url=f"{stack.notify.url}/v1/callbacks/zalo")
    other = stack.add(citizen("rc0602"))
    await opt_out(stack, other, "zalo")
    scode = await new_dossier(stack, other, COMMUNE, "0602")
    sms_messages = await settled_by_channel(stack, scode, {"email": "sent", "sms": "delivered"})
    sms = next(m for m in sms_messages if m["channel"] == "sms")
    sms_before = await snapshot(stack, sms["id"])
    body = webhook(sms_before["provider_message_id"], sms["id"])
    ignored(await post_zalo(stack, body, zalo_mac(body)))
    assert await snapshot(stack, sms["id"]) == sms_before
    assert await snapshot(stack, notice["id"]) == before


async def test_no_receipt_can_mark_a_sent_email_failed(stack: Stack) -> None:
    person = stack.add(citizen("rc0701"))
    code = await new_dossier(stack, person, COMMUNE, "0701")
    messages = await settled_by_channel(stack, code, {"email": "sent", "zalo": "delivered"})
    email = next(m for m in messages if m["channel"] == "email")
    before = await snapshot(stack, email["id"])
    assert before["status"] == "sent" and before["provider"] == "smtp"

    # The attack as it worked before: an anonymous eSMS report naming the e-mail.
    failed = {"SMSID": "x", "SendStatus": "4", "RequestId": email["id"]}
    refused(await get_esms(stack, "/v1/callbacks/esms", **failed))
    refused(await post_zalo(stack, webhook(before["provider_message_id"], email["id"]), None))
    # Even with every gateway's credentials, a receipt never touches an e-mail.
    ignored(await get_esms(stack, esms_path(email["id"]), **failed))
    body = webhook(before["provider_message_id"], email["id"])
    ignored(await post_zalo(stack, body, zalo_mac(body)))
    assert await snapshot(stack, email["id"]) == before
    view = next(m for m in await stack.view(code) if m["id"] == email["id"])
    assert view["status"] == "sent" and [h["status"] for h in view["history"]] == [
        "created",
        "sending",
        "sent",
    ]
