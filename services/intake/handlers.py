"""Intake's use cases: load, decide with the pure rules, save state and events together."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import EventEnvelope
from contracts.events import ContactRefAssigned, DossierReceived, DossierStatus
from contracts.intake_api import Receipt, SubmitDossier
from contracts.vietnam import VN_TZ
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.config import IntakeSettings
from services.intake.domain.batch import counts, key_leaders, numbers, replays
from services.intake.domain.catalog import Catalog
from services.intake.domain.personal_data import flag_documents
from services.intake.domain.rules import (
    Appointment,
    Checked,
    appointment,
    check_submission,
    dossier_code,
)
from services.intake.groupcommit import GroupCommit, RetryBatch
from services.intake.views import status_callback
from services.runtime.data_access import BulkReadDetector
from services.runtime.outbox import OutboxRecord, append_records, name_dossier_on_current_span
from services.runtime.problems import ProblemError
from services.runtime.ratelimit import TokenBuckets
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers
from services.workcal.calendar import WorkingCalendar


@dataclass
class IntakeContext:
    runtime: Runtime
    catalog: Catalog
    calendars: dict[str, WorkingCalendar]
    settings: IntakeSettings = field(default_factory=IntakeSettings)
    # api-key hash -> (portal or None, expiry on the monotonic clock)
    portal_cache: dict[str, tuple[Portal | None, float]] = field(default_factory=dict)
    lookups: TokenBuckets = field(default_factory=lambda: TokenBuckets(5, 0.1))
    # Reads of personal data per caller, for the bulk-read alarm.
    reads: BulkReadDetector | None = None
    # The process's single writer of submissions (group commit), set when it starts.
    writer: GroupCommit[Submission, Outcome] | None = None

    def calendar_for(self, unit_code: str) -> WorkingCalendar:
        calendar = self.calendars.get(unit_code)
        if calendar is None:
            calendar = WorkingCalendar(self.catalog.units[unit_code].calendar)
            self.calendars[unit_code] = calendar
        return calendar


def new_contact_ref() -> str:
    """128 random bits, URL-safe base64 without padding (22 characters)."""
    return secrets.token_urlsafe(16)


def request_hash(body: SubmitDossier) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class SyncArrival:
    """A dossier received elsewhere (the national portal's sync): it keeps its received
    time, its appointment (None: computed here), its status and what the portal sent."""

    received_at: datetime
    appointment_at: datetime | None
    status: DossierStatus
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    national: dict[str, Any]


@dataclass(frozen=True)
class Submission:
    """A submission that passed the pure checks, waiting for its number."""

    portal_id: str
    idempotency_key: str | None
    digest: str
    body: SubmitDossier
    checked: Checked
    times: Appointment
    received_at: datetime
    external_code: str | None
    # The trace context of the request, stored with its event (the writer has none).
    trace_headers: dict[str, str]
    sync: SyncArrival | None = None
    dossier_id: UUID = field(default_factory=uuid4)
    contact_ref: str = field(default_factory=new_contact_ref)

    @property
    def key(self) -> tuple[str, str] | None:
        if self.idempotency_key is None:
            return None
        return (self.portal_id, self.idempotency_key)

    @property
    def agency_day(self) -> tuple[str, date]:
        return (self.checked.unit.agency_code, self.received_at.astimezone(VN_TZ).date())


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    # The event of the dossier this request created (None for a replayed answer).
    envelope: EventEnvelope | None = None


@dataclass(frozen=True)
class Received:
    receipt: dict[str, Any]
    envelope: EventEnvelope
    row: repo.ReceivedRow
    record: OutboxRecord


SubmissionWriter = GroupCommit[Submission, Outcome]


def new_writer(ctx: IntakeContext) -> SubmissionWriter:
    settings = ctx.settings

    async def store(batch: Sequence[Submission]) -> list[Outcome | Exception]:
        return await store_batch(ctx, batch)

    return GroupCommit(
        store,
        window_seconds=settings.submit_batch_window_ms / 1000,
        max_batch=settings.submit_batch_max,
        capacity=settings.submit_queue_max,
        timeout_seconds=settings.submit_timeout_seconds,
        retry_after_seconds=settings.submit_retry_after_seconds,
        max_wait_seconds=settings.submit_max_wait_seconds,
    )


def prepare_submission(
    ctx: IntakeContext,
    body: SubmitDossier,
    *,
    portal_id: str,
    idempotency_key: str | None,
    now: datetime,
    external_code: str | None = None,
    sync: SyncArrival | None = None,
) -> Submission:
    """The pure part of a submission: checks (SubmissionRefused) and the appointment.
    A synced dossier counts from its own received time and keeps its appointment."""
    checked = check_submission(ctx.catalog, body)
    if sync is not None:
        now = sync.received_at
    times = appointment(
        ctx.calendar_for(checked.unit.code), checked.procedure, body.channel, body.conditions, now
    )
    if sync is not None and sync.appointment_at is not None:
        times = replace(times, appointment_at=sync.appointment_at)
    return Submission(
        portal_id=portal_id,
        idempotency_key=idempotency_key,
        digest=request_hash(body),
        body=body,
        checked=checked,
        times=times,
        received_at=now,
        external_code=external_code,
        trace_headers=current_trace_headers(),
        sync=sync,
    )


async def submit_dossier(
    ctx: IntakeContext,
    body: SubmitDossier,
    *,
    portal_id: str,
    idempotency_key: str | None,
    now: datetime,
    external_code: str | None = None,
    sync: SyncArrival | None = None,
) -> tuple[int, dict[str, Any]]:
    """Check the submission, then hand it to the process's writer and wait for its batch
    to commit: the receipt (201), the stored receipt of a retry, or a refusal (409 for a
    key used with another body, 503 when overloaded or PostgreSQL is unreachable)."""
    submission = prepare_submission(
        ctx,
        body,
        portal_id=portal_id,
        idempotency_key=idempotency_key,
        now=now,
        external_code=external_code,
        sync=sync,
    )
    if ctx.writer is None:
        raise RuntimeError("intake's submission writer is not running")
    outcome = await ctx.writer.submit(submission)
    if outcome.envelope is not None:
        name_dossier_on_current_span(outcome.envelope)
    return outcome.status, outcome.body


def _applicant_json(body: SubmitDossier) -> str:
    """The applicant as stored; a postal return keeps its address with the other personal
    data (erased with it), for routing to fetch by contact reference."""
    if body.result_delivery != "post":
        return body.applicant.model_dump_json()
    data = body.applicant.model_dump(mode="json")
    data["postal_address"] = body.postal_address or body.applicant.address
    return json.dumps(data, ensure_ascii=False)


def received(sub: Submission, sequence: int, topic: str, producer: str) -> Received:
    """Everything stored for a new dossier once it has its number."""
    checked, times, body, now = sub.checked, sub.times, sub.body, sub.received_at
    agency, day = sub.agency_day
    code = dossier_code(agency, day, sequence)
    status = sub.sync.status if sub.sync is not None else DossierStatus.RECEIVED
    if sub.sync is not None:
        applicant = json.dumps(sub.sync.applicant, ensure_ascii=False)
        documents = sub.sync.documents
    else:
        applicant = _applicant_json(body)
        documents = flag_documents(d.model_dump() for d in body.documents)
    receipt = Receipt(
        id=sub.dossier_id,
        code=code,
        status=status,
        procedure_code=checked.procedure.code,
        receiving_unit=checked.unit.code,
        received_at=now.astimezone(VN_TZ),
        clock_started_at=times.clock_started_at.astimezone(VN_TZ),
        appointment_at=times.appointment_at.astimezone(VN_TZ),
        receipt_html_url=f"/v1/dossiers/{code}/receipt.html",
    ).model_dump(mode="json")
    event = DossierReceived(
        dossier_code=code,
        procedure_code=checked.procedure.code,
        field_code=checked.procedure.field_code,
        receiving_unit=checked.unit.code,
        channel=body.channel,
        received_at=now,
        clock_started_at=times.clock_started_at,
        appointment_at=times.appointment_at,
        legal_hours=times.legal_hours,
        chosen_subprocedures=body.chosen_subprocedures,
        conditions=body.conditions,
        contact_ref=sub.contact_ref,
        result_delivery=body.result_delivery,
    )
    envelope = EventEnvelope(
        event_type="dossier.received",
        dossier_id=sub.dossier_id,
        sequence=1,
        correlation_id=sub.dossier_id,
        producer=producer,
        payload=event.model_dump(mode="json"),
    )
    row = repo.ReceivedRow(
        id=sub.dossier_id,
        code=code,
        agency_code=agency,
        procedure_code=checked.procedure.code,
        field_code=checked.procedure.field_code,
        receiving_unit=checked.unit.code,
        channel=int(body.channel),
        applicant=applicant,
        documents=json.dumps(documents, ensure_ascii=False),
        fees=json.dumps([f.model_dump() for f in body.fees]),
        request=json.dumps({"summary": body.summary, "conditions": body.conditions}),
        received_at=now,
        clock_started_at=times.clock_started_at,
        appointment_at=times.appointment_at,
        status=int(status),
        portal_id=sub.portal_id,
        external_code=sub.external_code,
        contact_ref=sub.contact_ref,
        event_id=envelope.event_id,
        timeline_details=json.dumps(
            {"appointment_at": times.appointment_at.isoformat(), "dossier_code": code},
            default=str,
        ),
        callback=json.dumps(
            status_callback(sub.dossier_id, code, status, 1, checked.unit.code, now),
            default=str,
            ensure_ascii=False,
        ),
        idempotency_key=sub.idempotency_key,
        response=json.dumps(receipt),
        dvcqg=(json.dumps(sub.sync.national, ensure_ascii=False) if sub.sync is not None else None),
    )
    record = OutboxRecord(
        topic,
        str(sub.dossier_id),
        envelope.event_id,
        envelope.event_type,
        envelope.model_dump_json().encode(),
        headers=sub.trace_headers,
    )
    return Received(receipt, envelope, row, record)


def key_conflict() -> ProblemError:
    return ProblemError(
        409,
        "Idempotency-Key đã được dùng cho một hồ sơ khác",
        "This Idempotency-Key was already used with a different request body.",
    )


async def store_batch(ctx: IntakeContext, batch: Sequence[Submission]) -> list[Outcome | Exception]:
    """One transaction for a batch: claim its idempotency keys, number its new dossiers
    per agency and day, store them with their events; answers in batch order.

    Round trips do not grow with the batch: one statement each for the keys (plus one
    to read the keys other transactions hold), the numbers, the dossiers with their
    timeline, callbacks and stored answers, and the outbox.
    """
    rt = ctx.runtime
    leaders = key_leaders([s.key for s in batch])
    claims = [
        (s.portal_id, s.idempotency_key, s.digest)
        for i, s in enumerate(batch)
        if s.idempotency_key is not None and leaders[i] == i
    ]
    async with rt.pool.acquire() as conn, conn.transaction():
        owned = await repo.claim_idempotency_keys(conn, claims)
        held = [(portal, key) for portal, key, _ in claims if (portal, key) not in owned]
        stored = await repo.stored_idempotent(conn, held)
        if len(stored) != len(held):  # its holder rolled back after we looked: again
            raise RetryBatch("an idempotency key changed hands")
        new = [
            i for i, s in enumerate(batch) if leaders[i] == i and (s.key is None or s.key in owned)
        ]
        groups = [batch[i].agency_day for i in new]
        last_values = await repo.allocate_sequences(conn, counts(groups))
        topic, producer = rt.topic("dossier.intake"), rt.settings.service_name
        made = [
            received(batch[i], n, topic, producer)
            for i, n in zip(new, numbers(groups, last_values), strict=True)
        ]
        await repo.insert_received(
            conn, [m.row for m in made], push_national=ctx.settings.dvcqg_pushing
        )
        await append_records(conn, rt.schema, [m.record for m in made], {})
    # Committed: answer each request. A key's answer is its leader's new receipt or the
    # one stored before; a member of the batch with another body than that one gets 409.
    outcomes: dict[int, Outcome | Exception] = {}
    answers: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = dict(stored)
    for i, made_one in zip(new, made, strict=True):
        outcomes[i] = Outcome(201, made_one.receipt, made_one.envelope)
        key = batch[i].key
        if key is not None:
            answers[key] = (batch[i].digest, 201, made_one.receipt)
    for i, sub in enumerate(batch):
        if i in outcomes or sub.key is None:
            continue
        digest, status, body = answers[sub.key]
        outcomes[i] = Outcome(status, body) if replays(sub.digest, digest) else key_conflict()
    return [outcomes[i] for i in range(len(batch))]


async def announce_contact_refs(rt: Runtime, batch: int = 500) -> int:
    """Publish `dossier.contact_ref_assigned` for dossiers whose reference the migration
    assigned (they were received when the reference was the dossier id), so notify and
    SLA replace the id they hold. Returns how many were announced."""
    total = 0
    while True:
        async with rt.pool.acquire() as conn, conn.transaction():
            rows = await repo.unannounced_contact_refs(conn, batch)
            for row in rows:
                event = ContactRefAssigned(dossier_code=row["code"], contact_ref=row["contact_ref"])
                await rt.publish(
                    conn,
                    "dossier.intake",
                    "dossier.contact_ref_assigned",
                    row["id"],
                    event.model_dump(mode="json"),
                )
            await repo.mark_contact_refs_announced(conn, [r["id"] for r in rows])
        total += len(rows)
        if len(rows) < batch:
            return total
