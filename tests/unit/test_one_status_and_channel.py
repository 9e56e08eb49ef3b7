"""One DossierStatus and one Channel across the services, and states stored before."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import Channel, DossierStatus
from reference import procedures
from services.routing.domain import DossierStatus as RoutingStatus
from services.routing.domain import commands as cmd
from services.routing.domain import execute
from services.routing.domain.state import DossierState
from tests.unit.test_routing_support import reference


def test_every_status_reads_in_vietnamese() -> None:
    assert DossierStatus.SUPPLEMENT_REQUESTED.label == "Yêu cầu bổ sung"
    assert all(status.label and status.label != status.name for status in DossierStatus)


def test_routing_and_the_reference_data_use_the_contract_enums() -> None:
    assert RoutingStatus is DossierStatus
    # The reference data reads the contract's channel (no enum of its own).
    assert vars(procedures)["Channel"] is Channel
    assert [c.slug for c in Channel] == ["in_person", "online", "post"]


def test_a_state_stored_with_the_channel_by_name_still_loads() -> None:
    ref = reference("three_level")
    start = cmd.Start(
        dossier_id="5b0c1a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
        procedure_code="1.001193",
        receiving_unit="000.01.01.H99",
        channel=Channel.ONLINE,
    )
    state, _ = execute(None, start, datetime(2026, 11, 17, 9, tzinfo=UTC), ref)
    assert state is not None
    stored = state.model_dump(mode="json")
    assert stored["channel"] == 2  # stored by code from now on
    stored["channel"] = "online"  # as states were stored before the enums were one
    loaded = DossierState.model_validate(stored)
    assert loaded.channel is Channel.ONLINE
    assert loaded == state
