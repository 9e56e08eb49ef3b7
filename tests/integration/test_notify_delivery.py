"""Notify against real Kafka, PostgreSQL, an SMTP server and the gateway servers.

The notify service runs as its own process (so it can be killed), next to the dev servers
(aiosmtpd + the eSMS, Viettel and Zalo fakes, which send receipts to notify's callback
endpoints). Intake's contact endpoint is stood in for by a small server in this process;
events are published straight onto the topics, shaped as their producers shape them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI, HTTPException

from contracts.envelope import EventEnvelope
from contracts.events import SPEC_BY_TYPE
from services.notify.dev_defaults import DEV_OPT_OUT_LINK_SECRET, DEV_VIETTEL_RECEIPT_TOKEN
from services.notify.domain.opt_out_link import sign
from services.runtime.setup import ensure_topics
from tests.conftest import unique_prefix
from tests.support.credentials import OPS
from tests.support.infra import Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration
T = TypeVar("T")
PROCEDURE = "1.001193"  # Đăng ký khai sinh
PROCEDURE_NAME = "Đăng ký khai sinh"
COMMUNE = "000.01.01.H99"
QUIET_UNIT = "000.99.99.H99"  # a unit whose quiet hours are the hours around now


def _quiet_hours_around_now() -> str:
    local = datetime.now(UTC) + timedelta(hours=7)
    start, end = local - timedelta(hours=1), local + timedelta(hours=3)
    return f"{start:%H:%M}-{end:%H:%M}"


FINAL = {"delivered", "permanent_failure", "technical_failure"}


@dataclass
class Citizen:
    ref: str
    full_name: str
    phone: str  # local form 0xxxxxxxxx
    email: str | None

    @property
    def msisdn(self) -> str:
        return "84" + self.phone[1:]


def citizen(tag: str, email: bool = True) -> Citizen:
    digits = int(hashlib.sha256(tag.encode()).hexdigest(), 16) % 10**8
    return Citizen(
        ref=secrets.token_urlsafe(16),  # as intake issues them: opaque, not the dossier id
        full_name="Trần Văn Bình",
        phone=f"09{digits:08d}",
        email=f"{tag}@example.vn" if email else None,
    )


class ContactServer:
    """Intake's internal contact endpoint, in a thread (notify calls it while we wait)."""

    def __init__(self) -> None:
        self.contacts: dict[str, Citizen] = {}
        self.port = free_port()
        # What notify asked: one entry per request ("one", ref) or ("batch", refs).
        self.requests: list[tuple[str, tuple[str, ...]]] = []
        app = FastAPI()

        def answer(found: Citizen) -> dict[str, Any]:
            return {
                "full_name": found.full_name,
                "phone": found.phone,
                "email": found.email,
                "procedure_code": PROCEDURE,
            }

        @app.get("/internal/v1/contacts/{ref}")
        async def contact(ref: str) -> dict[str, Any]:
            self.requests.append(("one", (ref,)))
            found = self.contacts.get(ref)
            if found is None:
                raise HTTPException(404)
            return answer(found)

        @app.post("/internal/v1/contacts:batch")
        async def contacts(body: dict[str, list[str]]) -> dict[str, Any]:
            refs = body["refs"]
            self.requests.append(("batch", tuple(refs)))
            found = {r: answer(self.contacts[r]) for r in refs if r in self.contacts}
            return {"contacts": found, "missing": [r for r in refs if r not in found]}

        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Stack:
    prefix: str
    infra: Infra
    notify: ServiceProcess
    dev: ServiceProcess
    contacts: ContactServer
    producer: AIOKafkaProducer
    gateways: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return f"{self.prefix}notify"

    def add(self, person: Citizen) -> Citizen:
        self.contacts.contacts[person.ref] = person
        return person

    async def publish(
        self, event_type: str, dossier_id: UUID, payload: dict[str, Any], event_id: UUID | None
    ) -> UUID:
        env = EventEnvelope(
            event_id=event_id or uuid4(),
            event_type=event_type,
            dossier_id=dossier_id,
            correlation_id=dossier_id,
            producer="test",
            payload=payload,
        )
        topic = self.prefix + SPEC_BY_TYPE[event_type].topic
        await self.producer.send_and_wait(
            topic, env.model_dump_json().encode(), key=str(dossier_id).encode()
        )
        return env.event_id

    async def control(self, gateway: str, **body: Any) -> None:
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{self.gateways[gateway]}/_control", json=body, timeout=5)
            r.raise_for_status()

    async def gateway_messages(self, gateway: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{self.gateways[gateway]}/_messages", timeout=10)
            result: list[dict[str, Any]] = r.json()
            return result

    async def mail(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{self.dev.url}/_mail", timeout=10)
            result: list[dict[str, Any]] = r.json()
            return result

    async def view(self, dossier: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"{self.notify.url}/v1/notifications",
                params={"dossier": dossier},
                headers=OPS,
                timeout=10,
            )
            r.raise_for_status()
            result: list[dict[str, Any]] = r.json()["messages"]
            return result

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.infra.database_url)
        try:
            await conn.execute(f"SET search_path TO {self.schema}")
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 60.0, every: float = 0.2
) -> T:
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within}s; last value: {last!r}")


Processes = tuple[str, ServiceProcess, ServiceProcess, ContactServer]


@contextlib.contextmanager
def notify_processes_with(infra: Infra, **settings: str) -> Iterator[Processes]:
    """Notify and its gateway stand-ins on topics and a schema of their own, with intake
    played by a ContactServer; ``settings`` add to or override the environment."""
    prefix = unique_prefix()
    asyncio.run(ensure_topics(infra.kafka_bootstrap, prefix))
    contacts = ContactServer()
    contacts.start()
    notify_port = free_port()
    env = {
        **isolated_env(infra, prefix),
        "QUIET_HOURS": "",
        "QUIET_HOURS_BY_UNIT": json.dumps({QUIET_UNIT: _quiet_hours_around_now()}),
        "INTAKE_URL": contacts.url,
        "NOTIFY_URL": f"http://127.0.0.1:{notify_port}",
        "NOTIFY_PUBLIC_URL": f"http://127.0.0.1:{notify_port}",
        "SMTP_PORT": str(free_port()),
        "ESMS_PORT": str(free_port()),
        "VIETTEL_PORT": str(free_port()),
        "ZALO_PORT": str(free_port()),
        "RETRY_BASE_SECONDS": "0.2",
        "RETRY_CAP_SECONDS": "1",
        "SENDER_INTERVAL_SECONDS": "0.05",
        "OTEL_EXPORTER": "none",
        **settings,
    }
    dev = ServiceProcess("notify-devservers", "services.notify.devservers", env, free_port())
    notify = ServiceProcess("notify", "services.notify", env, notify_port)
    dev.start()
    notify.start()
    try:
        dev.wait_ready(path="/healthz")
        notify.wait_ready()
        yield prefix, notify, dev, contacts
    finally:
        notify.stop()
        dev.stop()
        contacts.stop()


@contextlib.asynccontextmanager
async def open_stack(infra: Infra, processes: Processes) -> AsyncIterator[Stack]:
    """A test's handle on the processes; gateways are put back to normal afterwards."""
    prefix, notify, dev, contacts = processes
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    env = dev.env
    found = Stack(
        prefix,
        infra,
        notify,
        dev,
        contacts,
        producer,
        gateways={
            "esms": f"http://127.0.0.1:{env['ESMS_PORT']}",
            "viettel": f"http://127.0.0.1:{env['VIETTEL_PORT']}",
            "zalo": f"http://127.0.0.1:{env['ZALO_PORT']}",
        },
    )
    try:
        yield found
    finally:
        for gateway in found.gateways:
            await found.control(gateway, mode="ok", non_zalo_phones=[])
        await producer.stop()


@pytest.fixture(scope="module")
def notify_processes(infra: Infra) -> Iterator[Processes]:
    with notify_processes_with(infra, MAX_ATTEMPTS="3", SEND_LEASE_SECONDS="3") as processes:
        yield processes


@pytest.fixture
async def stack(infra: Infra, notify_processes: Processes) -> AsyncIterator[Stack]:
    async with open_stack(infra, notify_processes) as found:
        yield found


# --- event payloads, as intake, routing and sla publish them ----------------------------


def _code(tag: str) -> str:
    return f"{COMMUNE}-261122-{tag}"


def received(code: str, person: Citizen, dossier_id: UUID) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "dossier_code": code,
        "procedure_code": PROCEDURE,
        "field_code": "HOTICH",
        "receiving_unit": COMMUNE,
        "channel": 2,
        "received_at": now.isoformat(),
        "clock_started_at": now.isoformat(),
        "appointment_at": "2026-11-25T09:00:00+00:00",
        "legal_hours": "24",
        "contact_ref": person.ref,
    }


def routing(code: str, status: int, **extra: Any) -> dict[str, Any]:
    """A routing event as routing publishes it (with the procedure code: topics arrive in
    no fixed order, so notify must not depend on having seen `dossier.received` first)."""
    return {
        "dossier_code": code,
        "procedure_code": PROCEDURE,
        "status": status,
        "at": datetime.now(UTC).isoformat(),
        **extra,
    }


def apology(code: str) -> dict[str, Any]:
    return {
        "dossier_code": code,
        "responsible_unit": COMMUNE,
        "reason": "cần xác minh thêm thông tin",
        "old_appointment_at": "2026-11-25T09:00:00+00:00",
        "new_appointment_at": "2026-11-27T09:00:00+00:00",
        "letter_id": str(uuid4()),
    }


async def settled(stack: Stack, code: str, expected: int) -> list[dict[str, Any]]:
    """The dossier's messages once there are `expected` and none is still moving."""

    async def probe() -> list[dict[str, Any]] | None:
        messages = await stack.view(code)
        done = all(
            m["status"] in FINAL or (m["status"] == "sent" and m["channel"] == "email")
            for m in messages
        )
        return messages if len(messages) == expected and done else None

    return await eventually(probe)


async def status_events(stack: Stack, code: str, at_least: int) -> list[dict[str, Any]]:
    """The notification.status_changed events notify published for a dossier."""
    consumer = AIOKafkaConsumer(
        stack.prefix + "dossier.notify",
        bootstrap_servers=stack.infra.kafka_bootstrap,
        group_id=f"{stack.prefix}probe-{uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < at_least and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    env = EventEnvelope.model_validate_json(record.value or b"")
                    if env.payload.get("dossier_code") == code:
                        found.append(env.payload)
    finally:
        await consumer.stop()
    return found


# --- the tests --------------------------------------------------------------------------


async def test_every_citizen_facing_event_becomes_exactly_the_expected_messages(
    stack: Stack,
) -> None:
    person = stack.add(citizen("life"))
    dossier = uuid4()
    code = _code("0101")
    first = await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    await stack.publish("dossier.received", dossier, received(code, person, dossier), first)
    # Routing names papers by document type code; the citizen reads their names.
    missing = ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh hoặc giấy tờ thay thế Giấy chứng sinh"]
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "dossier.supplement_requested",
            routing(code, 5, task_id="t:1", unit_code=COMMUNE, missing_documents=["TK_KS", "GCS"]),
        ),
        ("dossier.obligation_requested", routing(code, 6, amount_vnd=1250000, unit_code=COMMUNE)),
        ("apology.issued", apology(code)),
        ("dossier.result_ready", routing(code, 9, unit_code=COMMUNE)),
    ]
    for event_type, payload in steps:
        await stack.publish(event_type, dossier, payload, None)

    messages = await settled(stack, code, expected=10)
    by_channel = Counter(m["channel"] for m in messages)
    assert by_channel == {"email": 5, "zalo": 5}
    assert {m["event_type"] for m in messages} == {
        "dossier.received",
        "dossier.supplement_requested",
        "dossier.obligation_requested",
        "apology.issued",
        "dossier.result_ready",
    }
    for m in messages:
        expected_final = "sent" if m["channel"] == "email" else "delivered"
        assert m["status"] == expected_final, m
        statuses = [h["status"] for h in m["history"]]
        assert statuses[0] == "created"
        assert "sending" in statuses
        # The result's templates are version 3 (they carry the rating link).
        assert m["template_version"] == (3 if m["event_type"] == "dossier.result_ready" else 2)
    # No personal data is stored: the apology's name is filled in only when sending.
    rows = await stack.sql("SELECT body_text, params::text AS params FROM messages")
    assert all(person.full_name not in (r["body_text"] + r["params"]) for r in rows)

    mails = [m for m in await stack.mail() if code in m["subject"]]
    assert len(mails) == 5
    assert all(m["to"] == [person.email] for m in mails)
    subjects = {m["subject"] for m in mails}
    assert f"Đã tiếp nhận hồ sơ {code}" in subjects
    supplement = next(m for m in mails if "bổ sung" in m["subject"])
    assert all(paper in supplement["text"] for paper in missing)
    assert f"<li>{missing[1]}</li>" in supplement["html"]
    obligation = next(m for m in mails if "nghĩa vụ tài chính" in m["subject"])
    assert "1.250.000 đồng" in obligation["text"]
    sorry = next(m for m in mails if "xin lỗi" in m["subject"])
    assert f"Kính gửi Ông/Bà {person.full_name}" in sorry["text"]
    assert "27/11/2026" in sorry["text"]
    assert "Ủy ban nhân dân xã Đông Lâm" in sorry["text"]
    received_mail = next(m for m in mails if "Đã tiếp nhận" in m["subject"])
    assert PROCEDURE_NAME in received_mail["text"] and "25/11/2026" in received_mail["text"]

    zns = [m for m in await stack.gateway_messages("zalo") if m["phone"] == person.msisdn]
    assert sorted(m["template_id"] for m in zns) == [
        "400201",
        "400202",
        "400203",
        "400205",
        "400214",  # the result, version 3 (its rating link needs a new ZNS registration)
    ]
    assert (
        next(m for m in zns if m["template_id"] == "400205")["template_data"]["ten_cong_dan"]
        == person.full_name
    )
    changes = await status_events(stack, code, at_least=15)
    # Each message announced each change once: sent, and delivered for the phone ones.
    assert Counter((e["message_id"], e["status"]) for e in changes).most_common(1)[0][1] == 1
    assert {(e["channel"], e["status"]) for e in changes} == {
        ("email", "sent"),
        ("zalo", "sent"),
        ("zalo", "delivered"),
    }


async def test_refused_and_stopped_dossiers_are_announced_with_their_reason(stack: Stack) -> None:
    for tag, event_type, phrase in (
        ("0201", "dossier.refused", "không được tiếp nhận"),
        ("0202", "dossier.stopped", "đã dừng xử lý"),
    ):
        person = stack.add(citizen(f"closed{tag}"))
        dossier, code = uuid4(), _code(tag)
        await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
        await stack.publish(
            event_type, dossier, routing(code, 3, unit_code=COMMUNE, reason="Thiếu tờ khai"), None
        )
        await settled(stack, code, expected=4)
        mails = [m for m in await stack.mail() if code in m["subject"]]
        closing = [m for m in mails if phrase in m["text"]]
        assert len(closing) == 1 and "Lý do: Thiếu tờ khai." in closing[0]["text"]


async def test_a_number_without_zalo_gets_sms_and_a_failing_gateway_forces_failover(
    stack: Stack,
) -> None:
    person = stack.add(citizen("failover", email=False))
    await stack.control("zalo", non_zalo_phones=[person.msisdn])
    await stack.control("esms", mode="fail", failure="provider")
    dossier, code = uuid4(), _code("0301")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)

    messages = await settled(stack, code, expected=3)
    zalo = next(m for m in messages if m["channel"] == "zalo")
    sms = next(m for m in messages if m["channel"] == "sms")
    email = next(m for m in messages if m["channel"] == "email")
    assert zalo["status"] == "permanent_failure"
    assert "falling back to SMS" in zalo["history"][-1]["detail"]
    assert sms["fallback_of"] == zalo["id"]
    assert sms["status"] == "delivered" and sms["provider"] == "viettel"
    assert email["status"] == "permanent_failure" and email["last_error"] == "no email address"
    viettel = [m for m in await stack.gateway_messages("viettel") if m["RequestID"] == sms["id"]]
    assert len(viettel) == 1 and viettel[0]["ReceiverID"] == person.msisdn
    assert viettel[0]["Content"].startswith(f"Ho so {code}")  # unaccented brandname text
    esms = [m for m in await stack.gateway_messages("esms") if m["Phone"] == person.phone]
    assert esms == []


async def test_duplicated_and_reordered_receipts_leave_the_right_final_status(
    stack: Stack,
) -> None:
    person = stack.add(citizen("receipts", email=False))
    await stack.control("zalo", non_zalo_phones=[person.msisdn])
    await stack.control("esms", mode="fail", failure="provider")  # all SMS through Viettel
    await stack.control("viettel", mode="reorder_receipts")  # DELIVRD before ACCEPTD
    dossier, code = uuid4(), _code("0401")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    messages = await settled(stack, code, expected=3)
    sms = next(m for m in messages if m["channel"] == "sms")
    assert sms["status"] == "delivered"

    await stack.control("viettel", mode="duplicate_receipts")
    await stack.publish("dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None)
    messages = await settled(stack, code, expected=6)
    later = next(
        m for m in messages if m["channel"] == "sms" and m["event_type"] == "dossier.result_ready"
    )
    assert later["status"] == "delivered"

    # A late "accepted" and a failure report after delivery change nothing (the reports
    # authenticate as the agreed Viettel report channel does).
    async with httpx.AsyncClient() as client:
        for status in ("ACCEPTD", "DELIVRD", "UNDELIV", "ACCEPTD"):
            r = await client.post(
                f"{stack.notify.url}/v1/callbacks/viettel",
                json={"RequestID": str(sms["id"]), "ReceiverID": person.msisdn, "Status": status},
                headers={"Authorization": f"Bearer {DEV_VIETTEL_RECEIPT_TOKEN}"},
                timeout=5,
            )
            assert r.status_code == 200
    for m in (sms, later):
        view = next(v for v in await stack.view(code) if v["id"] == m["id"])
        assert view["status"] == "delivered"
        statuses = [h["status"] for h in view["history"]]
        assert statuses.count("delivered") == 1
        assert statuses[-1] == "delivered"
        ranks = {"created": 0, "sending": 1, "sent": 2, "delivered": 4}
        assert [ranks[s] for s in statuses] == sorted(ranks[s] for s in statuses)


async def test_gateways_that_keep_failing_end_in_technical_failure_and_a_dead_letter(
    stack: Stack,
) -> None:
    person = stack.add(citizen("down", email=False))
    await stack.control("zalo", non_zalo_phones=[person.msisdn])
    await stack.control("esms", mode="fail", failure="http")
    await stack.control("viettel", mode="fail", failure="http")
    dossier, code = uuid4(), _code("0501")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    messages = await settled(stack, code, expected=3)
    sms = next(m for m in messages if m["channel"] == "sms")
    assert sms["status"] == "technical_failure"
    assert sms["attempts"] == 3
    statuses = [h["status"] for h in sms["history"]]
    assert statuses.count("temporary_failure") == 2
    dead = await stack.sql("SELECT * FROM message_dead_letters WHERE message_id = $1", sms["id"])
    assert len(dead) == 1 and dead[0]["attempts"] == 3


def opt_out_token(person: Citizen, channel: str) -> str:
    """The token of the link in a message to `person` on `channel` (the dev key)."""
    expires = datetime.now(UTC).date() + timedelta(days=30)
    return sign(DEV_OPT_OUT_LINK_SECRET.encode(), person.ref, channel, expires)


async def test_opted_out_channels_get_nothing(stack: Stack) -> None:
    person = stack.add(citizen("optout"))
    dossier, code = uuid4(), _code("0601")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    await settled(stack, code, expected=2)  # email and Zalo
    async with httpx.AsyncClient() as client:
        for channel in ("zalo", "sms"):  # the province's operators, at the citizen's request
            r = await client.post(
                f"{stack.notify.url}/v1/opt-outs",
                json={"dossier": code, "channel": channel},
                headers=OPS,
                timeout=5,
            )
            assert r.status_code == 201, r.text
        listed = await client.get(
            f"{stack.notify.url}/v1/opt-outs", params={"dossier": code}, headers=OPS, timeout=5
        )
        assert {o["channel"] for o in listed.json()["opt_outs"]} == {"sms", "zalo"}
        assert {o["source"] for o in listed.json()["opt_outs"]} == {"service:ops"}
        assert person.ref not in listed.text
    await stack.publish("dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None)
    messages = await settled(stack, code, expected=3)
    later = [m for m in messages if m["event_type"] == "dossier.result_ready"]
    assert [m["channel"] for m in later] == ["email"]


async def test_the_link_in_a_message_stops_its_channel_and_nothing_else(stack: Stack) -> None:
    person = stack.add(citizen("link"))
    dossier, code = uuid4(), _code("0602")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    await settled(stack, code, expected=2)
    [mail] = [m for m in await stack.mail() if code in m["subject"]]
    link = mail["text"].rsplit("Ngừng nhận thư về hồ sơ này: ", 1)[1].strip()
    assert link.startswith(f"{stack.notify.url}/o/")
    assert f'href="{link}"' in mail["html"]
    [zns] = [m for m in await stack.gateway_messages("zalo") if m["phone"] == person.msisdn]
    assert zns["template_data"]["link_ngung_nhan"].startswith(f"{stack.notify.url}/o/")
    assert zns["template_data"]["link_ngung_nhan"] != link  # one link per channel
    stored = await stack.sql("SELECT body_text FROM messages WHERE dossier_code = $1", code)
    assert all(link not in r["body_text"] for r in stored)  # the link is made at send time
    async with httpx.AsyncClient() as client:
        page = await client.get(link, headers={"Accept": "text/html"}, timeout=5)
        assert page.status_code == 200 and "Xác nhận ngừng nhận tin" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert await stack.sql("SELECT * FROM opt_outs WHERE contact_ref = $1", person.ref) == []
        done = await client.post(link, timeout=5)
        assert done.status_code == 200 and "Đã ngừng nhận thông báo" in done.text
    rows = await stack.sql(
        "SELECT channel, source FROM opt_outs WHERE contact_ref = $1", person.ref
    )
    assert [(r["channel"], r["source"]) for r in rows] == [("email", "link")]
    await stack.publish("dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None)
    messages = await settled(stack, code, expected=3)
    later = [m for m in messages if m["event_type"] == "dossier.result_ready"]
    assert [m["channel"] for m in later] == ["zalo"]


async def test_events_before_intake_s_wait_for_the_contact_and_never_use_the_dossier_id(
    stack: Stack,
) -> None:
    person = stack.add(citizen("early"))
    dossier, code = uuid4(), _code("0603")
    # Intake would answer nothing for the dossier id; make sure it is not even asked.
    stack.contacts.contacts[str(dossier)] = citizen("impostor")
    await stack.publish("dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None)

    async def waiting() -> list[dict[str, Any]] | None:
        messages = await stack.view(code)
        return messages if len(messages) == 2 else None

    messages = await eventually(waiting)
    await asyncio.sleep(1.0)
    rows = await stack.sql("SELECT status, contact_ref FROM messages WHERE dossier_code = $1", code)
    assert {(r["status"], r["contact_ref"]) for r in rows} == {("created", "")}
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    messages = await settled(stack, code, expected=4)
    rows = await stack.sql("SELECT contact_ref FROM messages WHERE dossier_code = $1", code)
    assert {r["contact_ref"] for r in rows} == {person.ref}
    mails = [m for m in await stack.mail() if code in m["subject"]]
    assert len(mails) == 2 and all(m["to"] == [person.email] for m in mails)
    assert all(m["status"] != "permanent_failure" for m in messages)


async def test_the_sixth_notice_in_ten_minutes_waits_and_quiet_hours_hold_sms_and_zalo(
    stack: Stack,
) -> None:
    person = stack.add(citizen("busy"))
    dossier, code = uuid4(), _code("0701")
    await stack.publish("dossier.received", dossier, received(code, person, dossier), None)
    for _ in range(5):
        await stack.publish(
            "dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None
        )

    async def twelve() -> list[dict[str, Any]] | None:
        messages = await stack.view(code)
        moved = [m for m in messages if m["status"] != "created"]
        # A message is written due now and held when the sender claims it: wait for that.
        decided = all(was_held(m) for m in messages if m["status"] == "created")
        return messages if len(messages) == 12 and len(moved) == 10 and decided else None

    messages = await eventually(twelve)
    waiting = [m for m in messages if m["status"] == "created"]
    assert sorted(m["channel"] for m in waiting) == ["email", "zalo"]  # 5 per 10 minutes
    for m in waiting:
        due = datetime.fromisoformat(m["next_attempt_at"])
        assert due > datetime.now(UTC) + timedelta(minutes=5)

    night = stack.add(citizen("night"))
    dossier, code = uuid4(), _code("0702")
    payload = {**received(code, night, dossier), "receiving_unit": QUIET_UNIT}
    await stack.publish("dossier.received", dossier, payload, None)
    messages = await settled_by_channel(
        stack, code, {"email": "sent", "zalo": "created"}, decided=was_held
    )
    zalo = next(m for m in messages if m["channel"] == "zalo")
    assert datetime.fromisoformat(zalo["next_attempt_at"]) > datetime.now(UTC) + timedelta(hours=2)


def was_held(message: dict[str, Any]) -> bool:
    """A waiting message the sender has looked at and put off (not one still due now)."""
    return datetime.fromisoformat(message["next_attempt_at"]) > datetime.now(UTC)


async def settled_by_channel(
    stack: Stack,
    code: str,
    wanted: dict[str, str],
    decided: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        messages = await stack.view(code)
        found = {m["channel"]: m["status"] for m in messages}
        waiting = [m for m in messages if m["status"] == "created"]
        return messages if found == wanted and all(decided(m) for m in waiting) else None

    return await eventually(probe)


async def test_killing_notify_mid_batch_and_restarting_sends_no_duplicate(stack: Stack) -> None:
    people = [stack.add(citizen(f"kill{i}")) for i in range(120)]
    # Half have no Zalo account: their notice goes by SMS.
    await stack.control("zalo", non_zalo_phones=[p.msisdn for p in people[::2]])
    for gateway in ("esms", "viettel", "zalo"):
        await stack.control(gateway, mode="slow", delay_ms=400)
    dossiers = [(uuid4(), _code(f"9{i:03d}"), p) for i, p in enumerate(people)]
    for dossier, code, person in dossiers:
        await stack.publish("dossier.received", dossier, received(code, person, dossier), None)

    async def some_in_flight() -> int | None:
        rows = await stack.sql(
            "SELECT count(*) AS n FROM messages WHERE status = 'sending' AND channel <> 'email'"
        )
        return int(rows[0]["n"]) or None

    await eventually(some_in_flight)
    stack.notify.kill()  # SIGKILL while gateway requests are in flight
    for gateway in ("esms", "viettel", "zalo"):
        await stack.control(gateway, mode="ok")
    stack.notify.start()
    await asyncio.get_running_loop().run_in_executor(None, stack.notify.wait_ready)

    async def all_done() -> list[asyncpg.Record] | None:
        rows = await stack.sql(
            "SELECT id::text AS id, channel, status FROM messages WHERE dossier_code LIKE $1",
            f"{COMMUNE}-261122-9%",
        )
        moving = [r for r in rows if r["status"] not in ("sent", "delivered", "permanent_failure")]
        phone = [
            r
            for r in rows
            if r["channel"] in ("sms", "zalo") and r["status"] != "permanent_failure"
        ]
        return rows if not moving and len(phone) == len(people) else None

    rows = await eventually(all_done, within=120)
    phone_ids = {r["id"] for r in rows if r["channel"] in ("sms", "zalo")}
    # Receipts the fakes sent while notify was down are lost (the fakes do not retry
    # callbacks), so a message the gateway took during the outage may stay 'sent'.
    delivered_ids = {
        r["id"]
        for r in rows
        if r["channel"] in ("sms", "zalo") and r["status"] in ("sent", "delivered")
    }
    received_ids = Counter(
        [m["RequestId"] for m in await stack.gateway_messages("esms")]
        + [m["RequestID"] for m in await stack.gateway_messages("viettel")]
        + [m["tracking_id"] for m in await stack.gateway_messages("zalo")]
    )
    ours = {k: n for k, n in received_ids.items() if k in phone_ids}
    assert all(n == 1 for n in ours.values()), {k: n for k, n in ours.items() if n > 1}
    assert set(ours) == delivered_ids
    assert len(delivered_ids) == len(people)  # one notice per citizen, by Zalo or SMS
    # The same phone got exactly one text per dossier across all three gateways.
    sent_to = Counter(
        [m["Phone"] for m in await stack.gateway_messages("esms") if m["RequestId"] in ours]
        + [
            "0" + m["ReceiverID"][2:]
            for m in await stack.gateway_messages("viettel")
            if m["RequestID"] in ours
        ]
        + [
            "0" + m["phone"][2:]
            for m in await stack.gateway_messages("zalo")
            if m["tracking_id"] in ours
        ]
    )
    assert all(sent_to[p.phone] == 1 for p in people)


async def test_a_reassigned_contact_reference_replaces_the_dossier_id_everywhere(
    stack: Stack,
) -> None:
    """A dossier notify learnt of when intake still used the dossier id as reference."""
    person = stack.add(citizen("legacy"))
    dossier, code = uuid4(), _code("0604")
    await stack.sql(
        "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code, receiving_unit,"
        " contact_ref) VALUES ($1, $2, $3, $4, $5)",
        dossier,
        code,
        PROCEDURE,
        COMMUNE,
        str(dossier),
    )
    await stack.sql("INSERT INTO opt_outs (contact_ref, channel) VALUES ($1, 'zalo')", str(dossier))
    await stack.publish(
        "dossier.contact_ref_assigned",
        dossier,
        {"dossier_code": code, "contact_ref": person.ref},
        None,
    )

    async def moved() -> list[asyncpg.Record] | None:
        rows = await stack.sql(
            "SELECT contact_ref FROM dossier_facts WHERE dossier_id = $1", dossier
        )
        return rows if rows[0]["contact_ref"] == person.ref else None

    await eventually(moved)
    opted = await stack.sql(
        "SELECT contact_ref, channel FROM opt_outs WHERE contact_ref = ANY($1::text[])",
        [str(dossier), person.ref],
    )
    assert [(r["contact_ref"], r["channel"]) for r in opted] == [(person.ref, "zalo")]
    await stack.publish("dossier.result_ready", dossier, routing(code, 9, unit_code=COMMUNE), None)
    messages = await settled(stack, code, expected=2)
    assert sorted(m["channel"] for m in messages) == ["email", "sms"]  # still no Zalo
    assert all(m["status"] in ("sent", "delivered") for m in messages)
    mails = [m for m in await stack.mail() if code in m["subject"]]
    assert [m["to"] for m in mails] == [[person.email]]
