"""Intake's use cases: load, decide with the pure rules, save state and events together."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

from contracts.events import ContactRefAssigned, DossierReceived, DossierStatus
from contracts.intake_api import Receipt, SubmitDossier
from contracts.vietnam import VN_TZ
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.config import IntakeSettings
from services.intake.domain.catalog import Catalog
from services.intake.domain.personal_data import flag_documents
from services.intake.domain.rules import appointment, check_submission, dossier_code
from services.intake.views import status_callback
from services.runtime.data_access import BulkReadDetector
from services.runtime.problems import ProblemError
from services.runtime.ratelimit import TokenBuckets
from services.runtime.service import Runtime
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


async def submit_dossier(
    ctx: IntakeContext,
    body: SubmitDossier,
    *,
    portal_id: str,
    idempotency_key: str | None,
    now: datetime,
    external_code: str | None = None,
) -> tuple[int, dict[str, Any]]:
    rt = ctx.runtime
    digest = request_hash(body)
    if idempotency_key is not None:
        replay = await _replay(ctx, portal_id, idempotency_key, digest)
        if replay is not None:
            return replay
    checked = check_submission(ctx.catalog, body)
    times = appointment(
        ctx.calendar_for(checked.unit.code), checked.procedure, body.channel, body.conditions, now
    )
    dossier_id = uuid4()
    contact_ref = new_contact_ref()
    async with rt.pool.acquire() as conn, conn.transaction():
        day = now.astimezone(VN_TZ).date()
        sequence = await repo.next_sequence(conn, checked.unit.agency_code, day)
        code = dossier_code(checked.unit.agency_code, day, sequence)
        receipt = Receipt(
            id=dossier_id,
            code=code,
            status=DossierStatus.RECEIVED,
            procedure_code=checked.procedure.code,
            receiving_unit=checked.unit.code,
            received_at=now.astimezone(VN_TZ),
            clock_started_at=times.clock_started_at.astimezone(VN_TZ),
            appointment_at=times.appointment_at.astimezone(VN_TZ),
            receipt_html_url=f"/v1/dossiers/{code}/receipt.html",
        )
        await conn.execute(
            "INSERT INTO dossiers (id, code, agency_code, procedure_code, field_code,"
            " receiving_unit, channel, applicant, documents, fees, request, received_at,"
            " clock_started_at, appointment_at, status, status_version, current_unit, portal_id,"
            " external_code, contact_ref)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9::jsonb,$10::jsonb,$11::jsonb,$12,$13,$14,"
            " $15, 1, $6, $16, $17, $18)",
            dossier_id,
            code,
            checked.unit.agency_code,
            checked.procedure.code,
            checked.procedure.field_code,
            checked.unit.code,
            int(body.channel),
            body.applicant.model_dump_json(),
            json.dumps(flag_documents(d.model_dump() for d in body.documents)),
            json.dumps([f.model_dump() for f in body.fees]),
            json.dumps({"summary": body.summary, "conditions": body.conditions}),
            now,
            times.clock_started_at,
            times.appointment_at,
            int(DossierStatus.RECEIVED),
            portal_id,
            external_code,
            contact_ref,
        )
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
            contact_ref=contact_ref,
        )
        envelope = await rt.publish(
            conn,
            "dossier.intake",
            "dossier.received",
            dossier_id,
            event.model_dump(mode="json"),
            sequence=1,
        )
        await repo.append_timeline(
            conn,
            event_id=envelope.event_id,
            dossier_id=dossier_id,
            source="intake",
            event_type="dossier.received",
            sequence=1,
            occurred_at=now,
            details={"appointment_at": times.appointment_at.isoformat(), "dossier_code": code},
        )
        await repo.enqueue_status_callbacks(
            conn,
            dossier_id,
            1,
            status_callback(dossier_id, code, DossierStatus.RECEIVED, 1, checked.unit.code, now),
        )
        body_out = receipt.model_dump(mode="json")
        if idempotency_key is not None and not await repo.save_idempotent(
            conn, portal_id, idempotency_key, digest, 201, body_out
        ):
            # A concurrent retry with the same key won the race: undo ours, answer with theirs.
            raise _LostIdempotencyRace
    return 201, body_out


class _LostIdempotencyRace(Exception):
    pass


async def _replay(
    ctx: IntakeContext, portal_id: str, key: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    async with ctx.runtime.pool.acquire() as conn:
        stored = await repo.find_idempotent(conn, portal_id, key)
    if stored is None:
        return None
    if stored["request_hash"] != digest:
        raise ProblemError(
            409,
            "Idempotency-Key đã được dùng cho một hồ sơ khác",
            "This Idempotency-Key was already used with a different request body.",
        )
    return int(stored["status_code"]), dict(stored["response"])


async def submit_with_race_retry(
    ctx: IntakeContext,
    body: SubmitDossier,
    *,
    portal_id: str,
    idempotency_key: str | None,
    now: datetime,
    external_code: str | None = None,
) -> tuple[int, dict[str, Any]]:
    try:
        return await submit_dossier(
            ctx,
            body,
            portal_id=portal_id,
            idempotency_key=idempotency_key,
            now=now,
            external_code=external_code,
        )
    except _LostIdempotencyRace:
        assert idempotency_key is not None
        replay = await _replay(ctx, portal_id, idempotency_key, request_hash(body))
        assert replay is not None
        return replay


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
