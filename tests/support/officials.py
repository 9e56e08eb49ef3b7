"""The cast of the routing stories: a portal, officials of each unit, agency systems and
the citizen, each doing through the public APIs what they do in real life.

Officials log in as ``canbo@<unit code>`` (or ``lanhdao@<unit code>``, the unit head) with
the development password and act through routing's operator API. The citizen's later
actions (supplement, withdrawal, payment) go through intake's endpoint when intake has
one, else as the ``dossier.intake`` event intake would publish.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from contracts.events import DossierStatus, ObligationPaid, SupplementSubmitted, WithdrawalRequested
from services.routing.domain.status import LEGAL_MOVES, is_legal_move
from tests.support.credentials import AGENCY_TOKEN, PORTAL, access_token
from tests.support.processes import ServiceProcess
from tests.support.story import document, eventually

PASSWORD = "demo"
SERVICE_TOKEN = AGENCY_TOKEN  # agency systems answer with their own credential
TIMEOUT = 10.0

# Three-level reference province "Hà Sơn": district Đông Hà and its units.
DONG_LAM = "000.01.01.H99"  # UBND xã Đông Lâm (the desk in most stories)
DONG_PHU = "000.02.01.H99"  # UBND xã Đông Phú (a neighbouring commune)
DONG_LAM_POLICE = "CA0.01.01.H99"
DISTRICT_SOCIAL_INSURANCE = "BH0.00.01.H99"
DISTRICT_LABOUR = "003.00.01.H99"
DISTRICT_LAND_OFFICE = "DK0.00.01.H99"
DISTRICT_TAX = "CT0.00.01.H99"

APPLICANT = {
    "full_name": "Trần Văn Minh",
    "citizen_id": "001085006789",
    "phone": "0987654321",
    "email": "minh.tran@example.vn",
    "address": "Thôn Đông, xã Đông Lâm",
}

DOCUMENTS: dict[str, dict[str, str]] = {
    "1.001193": {"TK_KS": "Tờ khai đăng ký khai sinh", "GCS": "Giấy chứng sinh"},
    "1.004873": {
        "TK_XNHN": "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân",
        "GT_HN": "Giấy tờ chứng minh việc ly hôn",
    },
    "1.012601": {
        "TK_KS": "Tờ khai đăng ký khai sinh",
        "GCS": "Giấy chứng sinh",
        "CT01": "Tờ khai thay đổi thông tin cư trú",
        "TK1_TS": "Tờ khai tham gia BHXH, BHYT",
    },
    "1.012602": {
        "TK_KT": "Tờ khai đăng ký khai tử",
        "GBT": "Giấy báo tử",
        "CT01": "Tờ khai thay đổi thông tin cư trú",
        "TK_MT": "Tờ khai đề nghị hưởng trợ cấp mai táng",
        "TK_TT": "Tờ khai của thân nhân người chết",
    },
    "1.012603": {
        "DDK_11": "Đơn đăng ký biến động đất đai",
        "GCN": "Bản gốc Giấy chứng nhận",
        "HD_CN": "Hợp đồng chuyển quyền sử dụng đất",
        "TK_TNCN": "Tờ khai thuế thu nhập cá nhân",
        "TK_LPTB": "Tờ khai lệ phí trước bạ",
    },
}


def application(
    procedure_code: str,
    receiving_unit: str = DONG_LAM,
    chosen: list[str] | None = None,
    email: str = "minh.tran@example.vn",
    documents: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A complete dossier body for intake's POST /v1/dossiers."""
    papers = documents if documents is not None else DOCUMENTS[procedure_code]
    return {
        "procedure_code": procedure_code,
        "receiving_unit": receiving_unit,
        "channel": 2,
        "applicant": {**APPLICANT, "email": email},
        "documents": [document(code, name) for code, name in papers.items()],
        "chosen_subprocedures": chosen or [],
        "summary": f"Hồ sơ {procedure_code}",
    }


def submit(intake: str, body: dict[str, Any]) -> dict[str, Any]:
    """The portal hands in a complete dossier; answers the receipt (form 01)."""
    response = httpx.post(f"{intake}/v1/dossiers", headers=PORTAL, json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def public_view(intake: str, dossier: str) -> dict[str, Any]:
    view: dict[str, Any] = httpx.get(
        f"{intake}/v1/dossiers/{dossier}", headers=PORTAL, timeout=TIMEOUT
    ).json()
    return view


def _token(routing: str, username: str) -> str:
    return access_token(routing, username, PASSWORD)


@dataclass
class Official:
    """An official of one unit, logged in to the operator API."""

    routing: str
    unit_code: str
    role: str = "canbo"

    @property
    def username(self) -> str:
        return f"{self.role}@{self.unit_code}"

    def head(self) -> Official:
        """The head of this official's unit (``lanhdao@…``), who signs refusals, stops
        and the result handed back."""
        return Official(self.routing, self.unit_code, role="lanhdao")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {_token(self.routing, self.username)}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.routing}{path}", headers=self.headers, params=params, timeout=TIMEOUT
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.routing}{path}", headers=self.headers, json=body or {}, timeout=TIMEOUT
        )

    def inbox(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/v1/inbox", **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    def task_of(self, dossier_id: str, step_id: str, status: str = "active") -> dict[str, Any]:
        """Wait until the dossier's step shows in this unit's inbox."""

        def find() -> dict[str, Any] | None:
            for item in self.inbox(status=status, limit=500):
                if item["dossier_id"] == dossier_id and item["step_id"] == step_id:
                    return item
            return None

        return eventually(find)

    def must(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, f"{self.username}: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def claim(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.must(self.try_claim(task))

    def try_claim(self, task: dict[str, Any], version: int | None = None) -> httpx.Response:
        expected = task["dossier_version"] if version is None else version
        return self.post(f"/v1/tasks/{task['task_id']}/claim", {"expected_version": expected})

    def complete(self, task: dict[str, Any], note: str = "") -> dict[str, Any]:
        return self.must(self.post(f"/v1/tasks/{task['task_id']}/complete", {"note": note}))

    def record_result(self, task: dict[str, Any], *papers: str) -> dict[str, Any]:
        return self.must(self.post(f"/v1/tasks/{task['task_id']}/result", {"papers": papers}))

    def ask_supplement(self, task: dict[str, Any], missing: list[str], reason: str) -> Any:
        body = {"missing_documents": missing, "reason": reason}
        return self.must(self.post(f"/v1/tasks/{task['task_id']}/supplement", body))

    def assess_obligation(self, task: dict[str, Any], amount_vnd: int) -> dict[str, Any]:
        body = {"amount_vnd": amount_vnd}
        return self.must(self.post(f"/v1/tasks/{task['task_id']}/obligation", body))

    def work(self, dossier_id: str, step_id: str, *papers: str) -> dict[str, Any]:
        """Take the step from the inbox, record its papers if any, and finish it."""
        task = self.task_of(dossier_id, step_id)
        self.claim(task)
        if papers:
            self.record_result(task, *papers)
        return self.complete(task, note=f"{step_id} xong")

    def refuse(self, dossier_id: str, *reasons: str) -> httpx.Response:
        return self.post(f"/v1/dossiers/{dossier_id}/refuse", {"reasons": reasons})

    def stop(self, dossier_id: str, reason: str) -> httpx.Response:
        return self.post(f"/v1/dossiers/{dossier_id}/stop", {"reason": reason})

    def return_result(self, dossier_id: str) -> httpx.Response:
        return self.post(f"/v1/dossiers/{dossier_id}/return-result")

    def workflow(self, dossier_id: str) -> httpx.Response:
        return self.get(f"/v1/dossiers/{dossier_id}/workflow")


def agency_answers(
    routing: str, correlation_id: str, outcome: str = "approved", token: str = SERVICE_TOKEN
) -> httpx.Response:
    """An agency system (social insurance, ...) answers its step by callback."""
    return httpx.post(
        f"{routing}/v1/external/{correlation_id}/answer",
        json={"outcome": outcome, "note": "đã cấp"},
        headers={"X-Service-Token": token},
        timeout=TIMEOUT,
    )


def publish_event(
    service: ServiceProcess, topic: str, event_type: str, dossier_id: str, payload: dict[str, Any]
) -> None:
    """Put on ``topic`` the event ``service`` would publish (same envelope, same key)."""
    envelope = EventEnvelope(
        event_type=event_type,
        dossier_id=UUID(dossier_id),
        correlation_id=UUID(dossier_id),
        producer=service.name,
        payload=payload,
    )

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=service.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all"
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                service.env["TOPIC_PREFIX"] + topic,
                envelope.model_dump_json().encode(),
                key=dossier_id.encode(),
            )
        finally:
            await producer.stop()

    asyncio.run(send())


@dataclass
class Citizen:
    """What the applicant does after submission. Uses intake's endpoints when intake has
    them; otherwise publishes the event intake would (routing consumes it)."""

    intake: ServiceProcess

    def _endpoint(self, suffix: str) -> str | None:
        spec = httpx.get(f"{self.intake.url}/openapi.json", timeout=TIMEOUT).json()
        for path in spec.get("paths", {}):
            if path.startswith("/v1/dossiers/{") and path.endswith(suffix):
                return str(path)
        return None

    def _publish(self, event_type: str, dossier_id: str, payload: dict[str, Any]) -> None:
        publish_event(self.intake, "dossier.intake", event_type, dossier_id, payload)

    def _call(self, suffix: str, receipt: dict[str, Any], body: dict[str, Any]) -> bool:
        path = self._endpoint(suffix)
        if path is None:
            return False
        url = self.intake.url + path.split("{", 1)[0] + receipt["code"] + path.split("}", 1)[1]
        response = httpx.post(url, json=body, headers=PORTAL, timeout=TIMEOUT)
        assert response.status_code < 300, response.text
        return True

    def brings_papers(self, receipt: dict[str, Any], codes: list[str]) -> None:
        papers = [document(code, code) for code in codes]
        if self._call("/supplements", receipt, {"documents": papers}):
            return
        payload = SupplementSubmitted(
            dossier_code=receipt["code"],
            submitted_at=datetime.now(UTC),
            document_count=len(codes),
            documents=codes,
        ).model_dump(mode="json")
        self._publish("dossier.supplement_submitted", receipt["id"], payload)

    def withdraws(self, receipt: dict[str, Any], reason: str) -> None:
        if self._call("/withdrawal", receipt, {"reason": reason}):
            return
        payload = WithdrawalRequested(
            dossier_code=receipt["code"], requested_at=datetime.now(UTC), reason=reason
        ).model_dump(mode="json")
        self._publish("dossier.withdrawal_requested", receipt["id"], payload)

    def pays(self, receipt: dict[str, Any], amount_vnd: int) -> None:
        receipt_ref = f"KBNN-{receipt['code']}"
        if self._call("/payment", receipt, {"amount_vnd": amount_vnd, "receipt_ref": receipt_ref}):
            return
        payload = ObligationPaid(
            dossier_code=receipt["code"],
            paid_at=datetime.now(UTC),
            amount_vnd=amount_vnd,
            receipt_ref=receipt_ref,
        ).model_dump(mode="json")
        self._publish("dossier.obligation_paid", receipt["id"], payload)


@dataclass
class StatusWatch:
    """What the citizen sees at intake, step by step: each status it shows must be
    reachable from the one shown before (it never goes back except as the law allows)."""

    intake: str
    receipt: dict[str, Any]
    seen: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen.append(int(self.receipt["status"]))

    def reaches(self, status: int) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            view = public_view(self.intake, self.receipt["code"])
            current = int(view["status"])
            if current != self.seen[-1]:
                previous = DossierStatus(self.seen[-1])
                assert reachable(previous, DossierStatus(current)), (
                    f"intake showed {previous} then {current}: {self.seen}"
                )
                self.seen.append(current)
            return view if current == status else None

        return eventually(probe)

    def routing_statuses_in_order(self) -> list[int]:
        """The statuses routing's events carried, in the order intake recorded them."""
        view = public_view(self.intake, self.receipt["code"])
        return [
            int(e["details"]["status"])
            for e in view["timeline"]
            if e["source"] == "routing" and "status" in e["details"]
        ]


def reachable(old: DossierStatus, new: DossierStatus) -> bool:
    """Whether the law lets a dossier get from ``old`` to ``new`` (in one or more moves);
    a poller may miss the statuses in between, but never sees one go back."""
    seen, todo = {old}, [old]
    while todo:
        current = todo.pop()
        for a, b in LEGAL_MOVES:
            if a is current and b not in seen:
                seen.add(b)
                todo.append(b)
    return new in seen


def never_backwards(statuses: list[int]) -> bool:
    return all(
        reachable(DossierStatus(a), DossierStatus(b)) for a, b in itertools.pairwise(statuses)
    )


def legal_path(statuses: list[int]) -> bool:
    """Each status follows the one before by a single legal move (or stays)."""
    return all(
        is_legal_move(DossierStatus(a), DossierStatus(b)) for a, b in itertools.pairwise(statuses)
    )
