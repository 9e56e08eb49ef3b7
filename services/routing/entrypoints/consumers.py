"""Routing listens to intake (citizen actions) and SLA."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events import DeadlineOpened, DossierReceived, Payload
from services.routing.adapters import postal, store
from services.routing.domain import Rejected
from services.routing.domain import commands as cmd
from services.routing.handlers import Actor, Arrival, Routing
from services.runtime import clock
from services.runtime.consumer import BatchHandler, ConsumerConfig, Envelope, Handler
from services.runtime.db import DbConn
from services.runtime.service import Runtime


class RoutingConsumers:
    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    async def on_received(self, conn: DbConn, batch: Sequence[Envelope[DossierReceived]]) -> None:
        await self.routing.start_many(conn, [_arrival(env) for env in batch])
        by_post = [e for e in batch if e.payload.result_delivery == "post"]
        await postal.remember(conn, [(e.dossier_id, e.payload.contact_ref) for e in by_post])

    async def on_supplement(self, conn: DbConn, env: EventEnvelope) -> None:
        docs = _document_codes(env.payload.get("documents"))
        if not docs:
            # Intake checked the papers against the request (its event carries only a
            # count): the citizen brought what was asked for.
            loaded = await store.load_for_update(conn, env.dossier_id)
            pending = loaded[0].supplement if loaded is not None else None
            docs = pending.missing_documents if pending is not None else ("bổ sung",)
        await self._citizen(conn, env, cmd.SupplementSubmitted(documents=docs))

    async def on_withdrawal(self, conn: DbConn, env: EventEnvelope) -> None:
        await self._citizen(conn, env, cmd.Withdraw(reason=env.payload.get("reason") or "rút"))

    async def on_paid(self, conn: DbConn, env: EventEnvelope) -> None:
        receipt = str(env.payload.get("receipt_ref") or env.event_id)
        await self._citizen(conn, env, cmd.ObligationPaid(receipt_ref=receipt))

    async def _citizen(self, conn: DbConn, env: EventEnvelope, command: object) -> None:
        at = datetime.fromisoformat(
            env.payload.get("submitted_at")
            or env.payload.get("requested_at")
            or env.payload.get("paid_at")
            or env.occurred_at.isoformat()
        )
        try:
            await self.routing.handle(conn, env.dossier_id, command, Actor.system("citizen"), at=at)
        except Rejected as refused:
            # The citizen's action came too late (e.g. already returned): recorded, not retried.
            entry = store.AuditEntry(
                dossier_id=env.dossier_id,
                task_id=None,
                actor="citizen",
                role="citizen",
                unit_code=None,
                action="rejected",
                at=clock.now(),
                details={"reason": str(refused)},
            )
            await store.audit(conn, [entry])

    async def on_deadline_opened(
        self, conn: DbConn, batch: Sequence[Envelope[DeadlineOpened]]
    ) -> None:
        """Step deadlines onto their tasks (the dossier's own deadline has no task)."""
        await store.set_due(
            conn, [(e.payload.task_id, e.payload.due_at) for e in batch if e.payload.task_id]
        )

    async def on_deadline_alerts(self, conn: DbConn, batch: Sequence[Envelope[Payload]]) -> None:
        """SLA's warnings and overdue notices go into the dossiers' audit trails (and a
        step that overran its allotment is flagged in its unit's inbox): one statement
        for the flags, one for the audit lines, whatever the batch's size."""
        flags: dict[str, bool] = {}
        for e in batch:
            p = e.event.payload
            if e.event.event_type in ALARM_FLAGS and p.get("task_id"):
                # In order: a withdrawn alarm (the step ended in time, heard late) clears it.
                flags[str(p["task_id"])] = e.event.event_type == "step.overdue"
        await store.flag_overdue(conn, flags)
        # A dossier routing does not run (another profile's, or not yet started): no line.
        known = await store.started(conn, list(dict.fromkeys(e.event.dossier_id for e in batch)))
        await store.audit(
            conn, [_alert_entry(e.event) for e in batch if e.event.dossier_id in known]
        )


ALERTS = (
    "deadline.due_soon",
    "step.overdue",
    "dossier.overdue",
    "step.escalated",
    "deadline.overdue_withdrawn",
)
ALARM_FLAGS = ("step.overdue", "deadline.overdue_withdrawn")
_ALERT_DETAILS = (
    "due_at",
    "deadline_id",
    "supervisor_unit",
    "overdue_working_hours",
    "completed_at",
    "withdrawn",
)


def _alert_entry(env: EventEnvelope) -> store.AuditEntry:
    p = env.payload
    return store.AuditEntry(
        dossier_id=env.dossier_id,
        task_id=p.get("task_id"),
        actor="sla",
        role="system",
        unit_code=p.get("unit_code"),
        action=env.event_type,
        at=env.occurred_at,
        details={k: p[k] for k in _ALERT_DETAILS if k in p},
    )


def _document_codes(raw: Any) -> tuple[str, ...]:
    """Type codes from a list of codes or of documents ({"type_code": ...})."""
    if not isinstance(raw, list):
        return ()
    codes = [d.get("type_code") if isinstance(d, dict) else d for d in raw]
    return tuple(str(c) for c in codes if c)


def _arrival(env: Envelope[DossierReceived]) -> Arrival:
    p = env.payload
    command = cmd.Start(
        dossier_id=str(env.dossier_id),
        procedure_code=p.procedure_code,
        receiving_unit=p.receiving_unit,
        chosen_subprocedures=tuple(p.chosen_subprocedures),
        conditions=frozenset(p.conditions),
        channel=p.channel,
    )
    return Arrival(env.dossier_id, p.dossier_code, command, p.received_at, env.trace or None)


def consumers(rt: Runtime) -> list[ConsumerConfig]:
    c: RoutingConsumers = rt.state["consumers"]
    intake: dict[str, Handler] = {
        "dossier.supplement_submitted": c.on_supplement,
        "dossier.withdrawal_requested": c.on_withdrawal,
        "dossier.obligation_paid": c.on_paid,
    }
    alerts = BatchHandler(Payload, c.on_deadline_alerts)
    batched: dict[str, BatchHandler[Any]] = {
        "dossier.received": BatchHandler(DossierReceived, c.on_received),
        "deadline.opened": BatchHandler(DeadlineOpened, c.on_deadline_opened),
        **dict.fromkeys(ALERTS, alerts),
    }
    # The level queues are for agency systems: routing writes its inboxes in the
    # transaction that decides the hand-off, so it does not read them back.
    return [rt.consumer("routing", ["dossier.intake", "dossier.sla"], intake, batched)]


def dossier_uuid(value: str) -> UUID:
    return UUID(value)
