"""The committed contract files are what the code produces: portal teams read those."""

from __future__ import annotations

from contracts.envelope import EventEnvelope
from contracts.events import EVENT_SPECS, SPEC_BY_TYPE
from contracts.topics import TOPICS
from tools.contracts_export import main as export_main


def test_committed_schema_files_are_up_to_date() -> None:
    assert export_main(["--check"]) == 0, "run `make contracts` and commit the result"


def test_every_event_type_belongs_to_a_declared_topic() -> None:
    topics = {t.name for t in TOPICS}
    assert {spec.topic for spec in EVENT_SPECS} <= topics
    assert len(SPEC_BY_TYPE) == len(EVENT_SPECS), "an event type is declared twice"


def test_consumers_ignore_fields_they_do_not_know() -> None:
    raw = (
        '{"event_id": "7a0c6a3e-1f0b-4c7e-9a57-2b8f6c1d9e01", "event_type": "dossier.received",'
        ' "dossier_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",'
        ' "correlation_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11", "producer": "intake",'
        ' "added_in_a_later_version": true}'
    )
    envelope = EventEnvelope.model_validate_json(raw)
    assert envelope.event_type == "dossier.received"
    assert not hasattr(envelope, "added_in_a_later_version")
