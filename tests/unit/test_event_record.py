"""The outbox's envelopes serialised from their fields are the contract's envelopes:
every consumer parses them as ``EventEnvelope`` and reads what was written."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from contracts.envelope import EventEnvelope
from contracts.events import DossierStatus, QueueLevel, StepAssigned
from services.runtime.outbox import event_record


def test_an_event_record_parses_as_the_envelope_it_stands_for() -> None:
    dossier, cause, event_id = uuid4(), uuid4(), uuid4()
    at = datetime(2026, 12, 4, 2, 15, tzinfo=UTC)
    payload = StepAssigned(
        dossier_code="000.01.01.H99-261204-0001",
        procedure_code="1.001193",
        status=DossierStatus.PROCESSING,
        at=at,
        task_id=f"{dossier}:khai_sinh:1",
        step_id="khai_sinh",
        step_name="Thẩm định hồ sơ khai sinh",
        unit_code="000.01.01.H99",
        queue_level=QueueLevel.COMMUNE,
        allotment_hours=8,
    ).model_dump(mode="json")
    record = event_record(
        "dossier.routing",
        str(dossier),
        event_type="step.assigned",
        dossier_id=dossier,
        payload=payload,
        producer="routing",
        occurred_at=at.isoformat(),
        sequence=3,
        causation_id=cause,
        headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        event_id=event_id,
    )
    envelope = EventEnvelope.model_validate_json(record.value)
    assert envelope == EventEnvelope(
        event_id=event_id,
        event_type="step.assigned",
        occurred_at=at,
        dossier_id=dossier,
        sequence=3,
        correlation_id=dossier,  # the dossier's own unless another is given
        causation_id=cause,
        producer="routing",
        payload=payload,
    )
    assert (record.topic, record.key, record.event_id, record.event_type) == (
        "dossier.routing",
        str(dossier),
        event_id,
        "step.assigned",
    )
    assert record.headers == {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    assert "Thẩm định" in record.value.decode()  # UTF-8 as written, not escaped


def test_each_event_record_gets_its_own_id_and_keeps_a_given_correlation() -> None:
    dossier, request = uuid4(), uuid4()
    made = [
        event_record(
            "dossier.sla",
            str(dossier),
            event_type="deadline.opened",
            dossier_id=dossier,
            payload={},
            producer="sla",
            occurred_at="2026-12-04T02:15:00+00:00",
            correlation_id=request,
        )
        for _ in range(2)
    ]
    first, second = (EventEnvelope.model_validate_json(r.value) for r in made)
    assert first.event_id != second.event_id
    assert first.correlation_id == second.correlation_id == request
    assert first.causation_id is None
