"""Fault drill: the system on a 3-broker Kafka cluster with two instances of every
service, under steady load, loses one broker and one instance of each service at once
(SIGKILL), gets them back, and still routes every accepted dossier once, opens every
deadline once, sends every citizen message once and never shows a status going back.

The load is a portal submitting dossiers (retrying with the same Idempotency-Key when
its connection is cut, as portals do) and officials of one commune working a share of
them through the operator API. Everything is counted through the public APIs and the
local SMTP/SMS stand-ins. The cluster is started by ``deploy/kafka/kafka.sh`` on ports of
its own; the shared single broker is not touched.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import all_topic_names
from tests.e2e.test_intake_webhooks import Receiver, serve
from tests.support.cluster import KafkaCluster
from tests.support.credentials import OPS, PORTAL
from tests.support.infra import REPO, Infra
from tests.support.officials import DONG_LAM, DONG_PHU, Official, application, never_backwards
from tests.support.story import eventually
from tests.support.system import Fleet, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

BIRTH = "1.001193"  # one step at the commune, then the result is handed over at the desk
STEP = "khai_sinh"
SUBMIT_EVERY = 0.3  # seconds between two submissions of the portal
WORKED_SHARE = 3  # officials work every third dossier of their commune to the end
BEFORE_FAULT = 20.0  # seconds of load before the kills
DOWN_FOR = 12.0  # longer than a consumer session (10 s): the groups rebalance without them
AFTER_RESTART = 20.0  # seconds of load once everything is back
KILLED_BROKER = 1  # the first bootstrap address: restarted clients must find the others
FINAL = {"sent", "delivered"}
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def cluster(infra: Infra) -> Iterator[KafkaCluster]:
    kafka = KafkaCluster(REPO / ".local" / f"kafka-drill-{uuid.uuid4().hex[:8]}")
    try:
        kafka.start()
        kafka.wait()
        yield kafka
    finally:
        try:
            kafka.stop()
        finally:
            kafka.remove()


@pytest.fixture(scope="module")
def fleet(infra: Infra, cluster: KafkaCluster) -> Iterator[Fleet]:
    extra = {
        # A crashed sender's claims come back sooner than in production (120 s, 35 s),
        # so the drill need not wait minutes for them.
        "SEND_LEASE_SECONDS": "15",
        "WEBHOOK_TIMEOUT_SECONDS": "3",
        "DB_POOL_MAX": "6",
    }
    with running_fleet(
        Infra(infra.database_url, cluster.bootstrap), instances=2, extra_env=extra
    ) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from serve()


# --------------------------------------------------------------------------- the load


@dataclass
class Portal:
    """Submits dossiers at a steady pace; a cut connection or a 5xx is retried with the
    same Idempotency-Key (on whichever instance the balancer picks) until it is answered."""

    intake: str
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            # A connection per request, so the balancer spreads them over the instances.
            fresh = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(timeout=TIMEOUT, limits=fresh) as client:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    unit = DONG_LAM if n % 2 else DONG_PHU
                    body = application(BIRTH, unit, email=f"drill{n}@example.vn")
                    self.receipts[f"drill-{n}"] = self._submit(client, f"drill-{n}", body)
                    time.sleep(SUBMIT_EVERY)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def _submit(self, client: httpx.Client, key: str, body: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        while True:
            try:
                response = client.post(
                    f"{self.intake}/v1/dossiers",
                    headers={**PORTAL, "Idempotency-Key": key},
                    json=body,
                )
                if response.status_code in (200, 201):
                    receipt: dict[str, Any] = response.json()
                    return receipt
                assert response.status_code >= 500, response.text
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{key} never accepted"
            self.retries += 1
            time.sleep(0.5)


@dataclass
class Officials:
    """The commune's official claims and completes the step of every third dossier; the
    unit head hands the result over. Any answer may be lost to a kill: the next round
    reads the inbox again and a repeated action is refused (409), never done twice."""

    routing: str
    portal: Portal
    done: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)

    def chosen(self) -> set[str]:
        ids = [r["id"] for r in list(self.portal.receipts.values())]
        return {d for i, d in enumerate(ids) if i % (2 * WORKED_SHARE) == 0}  # DONG_LAM's

    def run(self) -> None:
        clerk = Official(self.routing, DONG_LAM)
        head = clerk.head()
        while not (self.stop.is_set() and self.chosen() <= self.done):
            try:
                self._round(clerk, head)
            except (httpx.HTTPError, AssertionError, KeyError, ValueError):
                self.actions["interrupted"] += 1
            except BaseException as exc:
                self.errors.append(exc)
                return
            time.sleep(0.5)

    def _round(self, clerk: Official, head: Official) -> None:
        chosen = self.chosen() - self.done
        in_inbox: set[str] = set()
        for item in clerk.inbox(status="active", limit=500):
            if item["dossier_id"] not in chosen or item["step_id"] != STEP:
                continue
            in_inbox.add(item["dossier_id"])
            if item["status"] == "open":
                self._count("claim", clerk.try_claim(item))
            completed = clerk.post(f"/v1/tasks/{item['task_id']}/complete")
            self._count("complete", completed)
            if completed.status_code == 200:
                self.completed.add(item["dossier_id"])
        # A task that left the inbox was completed, even if the answer was lost.
        self.completed |= (self.listed - in_inbox) & chosen
        self.listed |= in_inbox
        for dossier in self.completed - self.done:
            answer = head.return_result(dossier)
            self._count("return", answer)
            if answer.status_code == 200 or (
                answer.status_code == 409 and head.workflow(dossier).json()["status"] == 10
            ):
                self.done.add(dossier)

    def _count(self, action: str, response: httpx.Response) -> None:
        self.actions[f"{action} {response.status_code}"] += 1


@dataclass
class StatusWatch:
    """What a citizen polling intake sees, dossier after dossier."""

    intake: str
    portal: Portal
    seen: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while not self.stop.is_set():
                for receipt in list(self.portal.receipts.values()):
                    if self.stop.is_set():
                        return
                    try:
                        response = client.get(
                            f"{self.intake}/v1/dossiers/{receipt['code']}", headers=PORTAL
                        )
                    except httpx.HTTPError:
                        continue
                    if response.status_code == 200:
                        statuses = self.seen[receipt["code"]]
                        status = int(response.json()["status"])
                        if not statuses or statuses[-1] != status:
                            statuses.append(status)


# --------------------------------------------------------------------------- the counts


def get(url: str, headers: dict[str, str], **params: Any) -> Any:
    response = httpx.get(url, headers=headers, params=params, timeout=TIMEOUT)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
    return response.json()


def timeline_counts(intake: str, code: str) -> tuple[int, Counter[tuple[str, str]]]:
    view = get(f"{intake}/v1/dossiers/{code}", PORTAL)
    kinds = Counter((e["source"], e["event_type"]) for e in view["timeline"])
    return int(view["status"]), kinds


def replication_of(bootstrap: str, prefix: str) -> list[tuple[str, int, str]]:
    """(topic, replicas of each partition, min.insync.replicas) of the run's topics."""

    async def describe() -> list[tuple[str, int, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            names = [prefix + name for name, _ in all_topic_names()]
            topics = await admin.describe_topics(names)
            configs = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None})
                    for n in names
                ]
            )
            insync = {
                resource["resource_name"]: entry["config_value"]
                for response in configs
                for resource in response.to_object()["resources"]
                for entry in resource["config_entries"]
                if entry["config_names"] == "min.insync.replicas"
            }
            return [
                (t["topic"], min(len(p["replicas"]) for p in t["partitions"]), insync[t["topic"]])
                for t in topics
            ]
        finally:
            await admin.close()

    return asyncio.run(describe())


def last_callbacks(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """The callback of each dossier's highest version: what a portal keeps."""
    last: dict[str, dict[str, Any]] = {}
    for delivery in list(receiver.received):
        body = json.loads(delivery["raw"])
        if body["version"] >= last.get(body["dossier_code"], {}).get("version", -1):
            last[body["dossier_code"]] = body
    return last


def phase(started: float, what: str) -> None:
    """The drill's timeline, on the test's output (pytest -s) and in the report."""
    print(f"[drill {time.monotonic() - started:6.1f}s] {what}", flush=True)


def start_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_broker_and_one_instance_of_each_service_killed_under_load_lose_and_repeat_nothing(
    cluster: KafkaCluster, fleet: Fleet, receiver: Receiver
) -> None:
    started = time.monotonic()
    intake, routing, notify, sla = (fleet.urls[s] for s in ("intake", "routing", "notify", "sla"))
    prefix = fleet.env["TOPIC_PREFIX"]
    assert {(rf, isr) for _, rf, isr in replication_of(cluster.bootstrap, prefix)} == {(3, "2")}
    hooked = httpx.post(
        f"{intake}/v1/webhooks", headers=PORTAL, json={"url": receiver.url}, timeout=TIMEOUT
    )
    assert hooked.status_code in (200, 201), hooked.text

    portal = Portal(intake)
    officials = Officials(routing, portal)
    watch = StatusWatch(intake, portal)
    threads = [start_thread(portal.run), start_thread(officials.run), start_thread(watch.run)]

    phase(started, "load running")
    time.sleep(BEFORE_FAULT)
    accepted_before = len(portal.receipts)
    victims = [fleet.instances[s][0] for s in ("intake", "routing", "sla", "notify")]
    cluster.kill(KILLED_BROKER)
    for victim in victims:
        victim.kill()
    phase(started, f"killed broker {KILLED_BROKER} and {', '.join(v.name for v in victims)}")
    time.sleep(DOWN_FOR)
    for victim in victims:  # they bootstrap while the first broker is still down
        victim.start()
    cluster.start(KILLED_BROKER)
    for victim in victims:
        victim.wait_ready(timeout=180)
        phase(started, f"{victim.name} back")
    time.sleep(AFTER_RESTART)
    cluster.wait()  # the broker is back in the cluster's metadata
    phase(started, f"broker {KILLED_BROKER} back")
    portal.stop.set()
    officials.stop.set()
    threads[0].join(120)
    assert not portal.errors, portal.errors
    receipts = list(portal.receipts.values())
    assert len(receipts) > accepted_before > 0
    assert len({r["code"] for r in receipts}) == len(receipts), "one key, one dossier"

    # Wait for the system to settle: every dossier routed, timed and announced, the
    # officials' dossiers handed over, every message final, every status called back.
    def settled(called_back: bool = False) -> dict[str, Any] | None:
        views: dict[str, Any] = {}
        last = last_callbacks(receiver) if called_back else {}
        for receipt in receipts:
            status, kinds = timeline_counts(intake, receipt["code"])
            if not kinds[("routing", "step.assigned")] or kinds[("sla", "deadline.opened")] < 2:
                return None
            messages = get(f"{notify}/v1/notifications", OPS, dossier=receipt["code"])
            statuses = [m["status"] for m in messages["messages"]]
            if not statuses or not set(statuses) <= FINAL:
                return None
            if called_back and last.get(receipt["code"], {}).get("status") != status:
                return None
            views[receipt["id"]] = (receipt, status, kinds, messages["messages"])
        return views

    phase(started, f"load stopped: {len(receipts)} dossiers")
    views = eventually(settled, timeout=240, every=2.0)
    phase(started, "settled")
    threads[1].join(120)
    assert not officials.errors, officials.errors
    assert officials.chosen() <= officials.done, (
        f"the officials could not finish their share (their answers: {dict(officials.actions)})"
    )
    time.sleep(5)  # a late duplicate would land now
    watch.stop.set()
    threads[2].join(30)
    views = eventually(lambda: settled(called_back=True), timeout=90, every=1.0)
    phase(started, "officials done, callbacks in; counting")

    mails = httpx.get(f"{fleet.devservers.url}/_mail", timeout=TIMEOUT).json()
    mail_copies = Counter(m["message_id"] for m in mails)
    # What the SMS and Zalo stand-ins sent, by the request id notify gave them.
    gateway_copies = {
        provider: Counter(
            m[request_id]
            for m in httpx.get(
                f"http://127.0.0.1:{fleet.env[port]}/_messages", timeout=TIMEOUT
            ).json()
        )
        for provider, port, request_id in (
            ("esms", "ESMS_PORT", "RequestId"),
            ("zalo", "ZALO_PORT", "tracking_id"),
            ("viettel", "VIETTEL_PORT", "RequestID"),
        )
    }
    callbacks: dict[tuple[str, int], set[str]] = defaultdict(set)
    for delivery in receiver.received:
        body = json.loads(delivery["raw"])
        callbacks[(body["dossier_code"], body["version"])].add(
            delivery["headers"]["x-onestop-delivery"]
        )
    last_callback = last_callbacks(receiver)

    resent_emails = 0
    worked = officials.chosen()
    for dossier_id, (receipt, status, kinds, messages) in views.items():
        code = receipt["code"]
        # Routed once: one start, so one first assignment, which intake heard once.
        assert kinds[("routing", "step.assigned")] == 1, (code, kinds)
        # Every deadline opened once: SLA holds one for the dossier and one for its step,
        # and published each opening once.
        deadlines = get(f"{sla}/v1/dossiers/{dossier_id}/deadlines", OPS)["deadlines"]
        assert sorted(d["kind"] for d in deadlines) == ["dossier", "step"], (code, deadlines)
        assert kinds[("sla", "deadline.opened")] == 2, (code, kinds)
        # Every citizen message planned once and sent once.
        planned = Counter((m["event_id"], m["channel"], m["template_id"]) for m in messages)
        assert max(planned.values()) == 1, (code, planned)
        for message in messages:
            if message["channel"] == "email":
                copies = mail_copies[str(message["id"])]
                # SMTP has no request id: an email whose 250 came just before its sender
                # was killed goes again after the lease, with the same Message-ID.
                assert copies == 1 or 1 < copies <= message["attempts"], (code, message)
                resent_emails += copies - 1
            else:  # a gateway that dedupes on the request id: exactly once
                sent = gateway_copies[message["provider"]][str(message["id"])]
                assert sent == 1, (code, message, sent)
        # Statuses never went back, neither polled nor called back.
        seen = watch.seen[code]
        assert never_backwards(seen), (code, seen)
        assert last_callback[code]["status"] == status, (code, last_callback[code], status)
        if dossier_id in worked:
            assert status == 10, (code, status)
    # Each status change called back once (a retried delivery keeps its id).
    duplicates = {k: ids for k, ids in callbacks.items() if len(ids) > 1}
    assert not duplicates, duplicates

    print(
        f"\nfault drill: {len(receipts)} dossiers ({portal.retries} portal retries),"
        f" {len(worked)} worked to the end, {len(mails)} mails ({resent_emails} re-sent"
        f" after the kill), {sum(gateway_copies['esms'].values())} SMS,"
        f" {sum(gateway_copies['zalo'].values())} Zalo, {len(receiver.received)}"
        f" callbacks; officials {dict(officials.actions)};"
        f" {time.monotonic() - started:.0f}s"
    )
