"""One consumed batch of every type notify hears: the units of its `step.assigned` events
are remembered together, and a fact (an opt-out) counts for the citizen events after it
in the batch, not for those before it."""

from __future__ import annotations

import asyncpg

from services.notify.handlers import on_events
from tests.integration.test_notify_dossier_lock import connect, context, schema
from tests.support.infra import Infra
from tests.unit.test_notify_core import UNIT, received, routing_event

__all__ = ["schema"]  # the fixture, used by name

POLICE = "CA0.01.01.H99"


async def test_a_batch_remembers_units_at_once_and_applies_a_fact_in_its_place(
    infra: Infra, schema: str
) -> None:
    told = received("ref-batch-1")
    dossier = told.dossier_id
    events = [
        told,
        routing_event("step.assigned", dossier, unit_code=UNIT, task_id="t1"),
        routing_event("step.assigned", dossier, unit_code=POLICE, task_id="t2"),
        routing_event(
            "dossier.opt_out_changed",
            dossier,
            channel="email",
            opted_out=True,
            portal_id="p-1",
        ),
        routing_event("dossier.supplement_requested", dossier, missing_documents=["GCS"]),
    ]
    conn: asyncpg.Connection = await connect(infra, schema)
    try:
        async with conn.transaction():
            await on_events(context(), conn, events, [{}] * len(events))
        units = {
            r["unit_code"]
            for r in await conn.fetch(
                "SELECT unit_code FROM dossier_units WHERE dossier_id = $1", dossier
            )
        }
        channels = {
            (r["event_type"], r["channel"])
            for r in await conn.fetch(
                "SELECT event_type, channel FROM messages WHERE dossier_id = $1", dossier
            )
        }
        opt_outs = await conn.fetch("SELECT contact_ref, channel FROM opt_outs")
    finally:
        await conn.close()
    assert {UNIT, POLICE} <= units
    assert [(r["contact_ref"], r["channel"]) for r in opt_outs] == [("ref-batch-1", "email")]
    # Before the opt-out the citizen still hears by e-mail; after it, no longer.
    assert ("dossier.received", "email") in channels
    supplement = {ch for event_type, ch in channels if event_type == "dossier.supplement_requested"}
    assert supplement and "email" not in supplement
