"""The console's pure parts: role rules, urgency colours, report periods, metric parsing,
and the span attributes that let it find a dossier's trace (never personal data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.routing.console.access import can_see_stats, can_see_unit, is_supervisor, urgency
from services.routing.console.health import metric_samples
from services.routing.console.stats import VN, month_starts
from services.runtime.auth import Principal
from services.runtime.http import path_attributes
from services.runtime.telemetry import dossier_attributes, safe_attribute

OFFICIAL = Principal("canbo@X01", "X01", "official")
HEAD = Principal("lanhdao@X01", "X01", "unit_head")
SUPERVISOR = Principal("giamsat", "P00", "province_supervisor")


def test_officials_and_heads_see_their_own_unit_and_supervisors_see_all() -> None:
    assert can_see_unit(OFFICIAL, "X01") and not can_see_unit(OFFICIAL, "X02")
    assert can_see_unit(HEAD, "X01") and not can_see_unit(HEAD, "X02")
    assert can_see_unit(SUPERVISOR, "X01") and can_see_unit(SUPERVISOR, "X02")


def test_statistics_are_for_heads_and_supervisors_health_for_supervisors() -> None:
    assert not can_see_stats(OFFICIAL)
    assert can_see_stats(HEAD) and can_see_stats(SUPERVISOR)
    assert [is_supervisor(p) for p in (OFFICIAL, HEAD, SUPERVISOR)] == [False, False, True]


@pytest.mark.parametrize(
    ("hours", "colour"),
    [
        (None, "none"),
        (-0.5, "overdue"),
        (0, "critical"),
        (7.9, "critical"),
        (8, "soon"),
        (23.9, "soon"),
        (24, "ok"),
        (200, "ok"),
    ],
)
def test_urgency_follows_the_working_time_left(hours: float | None, colour: str) -> None:
    assert urgency(hours) == colour


def test_report_periods_are_calendar_months_in_vietnam_time_across_a_new_year() -> None:
    # 31 Dec 2026 20:00 UTC is already 1 January 2027 in Hà Nội.
    starts = month_starts(datetime(2026, 12, 31, 20, 0, tzinfo=UTC), 3)
    assert [(s.year, s.month, s.day) for s in starts] == [
        (2026, 11, 1),
        (2026, 12, 1),
        (2027, 1, 1),
        (2027, 2, 1),
    ]
    assert all(s.tzinfo == VN and s.hour == 0 for s in starts)


def test_health_reads_only_the_gauges_it_shows_from_prometheus_text() -> None:
    text = (
        "# HELP consumer_lag Records behind.\n# TYPE consumer_lag gauge\n"
        'consumer_lag{consumer="sla",partition="3",topic="dossier.intake"} 7.0\n'
        "# HELP outbox_backlog Unpublished.\n# TYPE outbox_backlog gauge\noutbox_backlog 2.0\n"
        "# HELP python_gc_objects_collected_total x\n"
        "# TYPE python_gc_objects_collected_total counter\n"
        'python_gc_objects_collected_total{generation="0"} 5.0\n'
    )
    samples = metric_samples(text)
    assert samples == [
        {
            "name": "consumer_lag",
            "labels": {"consumer": "sla", "partition": "3", "topic": "dossier.intake"},
            "value": 7.0,
        },
        {"name": "outbox_backlog", "labels": {}, "value": 2.0},
    ]


def test_span_attributes_name_dossier_procedure_unit_step_and_event_only() -> None:
    payload = {
        "dossier_code": "000.01.01.H99-261122-0001",
        "procedure_code": "1.001193",
        "receiving_unit": "000.01.01.H99",
        "channel": 2,
        "contact_ref": "c-1",
        "full_name": "Nguyễn Thị Lan",
        "phone": "0912345678",
        "conditions": ["verification_needed"],
    }
    attributes = dossier_attributes("dossier.received", "d-1", payload)
    assert attributes == {
        "onestop.event_type": "dossier.received",
        "onestop.dossier_id": "d-1",
        "onestop.dossier_code": "000.01.01.H99-261122-0001",
        "onestop.procedure": "1.001193",
        "onestop.unit": "000.01.01.H99",
        "onestop.channel": 2,
    }
    handed = dossier_attributes(
        "step.handed_off", "d-1", {"step_id": "khai_sinh", "from_unit": "A", "to_unit": "B"}
    )
    assert handed["onestop.unit"] == "B" and handed["onestop.from_unit"] == "A"
    assert handed["onestop.step"] == "khai_sinh"


def test_stored_attributes_mask_free_text_but_keep_identifiers() -> None:
    assert safe_attribute("exception.message", "no phone 0912345678") == "no phone 091****78"
    assert safe_attribute("onestop.template", "dossier.received.email@1") == (
        "dossier.received.email@1"
    )
    task = "0b6f3a52-5d0e-4a43-9b1e-201190012345:khai_sinh:2"
    assert safe_attribute("onestop.task_id", task) == task
    assert safe_attribute("onestop.attempt", 2) == 2
    # A claimed parent is stored re-formatted from its hex ids: kept as it is, so a
    # client's report matches it, even where the hex reads like a phone number.
    claimed = "00-0912345678ab4da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert safe_attribute("onestop.untrusted_traceparent", claimed) == claimed
    assert safe_attribute("onestop.note", claimed) != claimed  # free text is masked


def test_a_request_path_names_its_dossier_task_and_step() -> None:
    task = "0B6F3A52-5D0E-4A43-9B1E-2F1F0D7C8A11:khai_sinh:2"
    assert path_attributes({"task_id": task}) == {
        "onestop.task_id": task,
        "onestop.dossier_id": "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11",
        "onestop.step": "khai_sinh",
    }
    assert path_attributes({"ref": "000.01.01.H99-261122-0001"}) == {
        "onestop.dossier_code": "000.01.01.H99-261122-0001"
    }
    uuid = "0b6f3a52-5d0e-4a43-9b1e-2f1f0d7c8a11"
    assert path_attributes({"dossier_id": uuid}) == {"onestop.dossier_id": uuid}
    assert path_attributes({"letter_id": "5"}) == {}


def test_the_names_map_marks_the_steps_that_end_with_a_financial_obligation() -> None:
    from reference import reference
    from reference.workflow import StepKind
    from services.routing.console.names import names_of

    marked = names_of("three_level")["assesses_payment"]
    assert marked == {"1.012603": ["xac_dinh_nghia_vu"]}  # land -> tax: the tax office
    workflow = reference("three_level").procedure("1.012603").workflows[-1]
    payment = [s for s in workflow.steps if s.kind is StepKind.PAYMENT]
    assert [s.after[0].step for s in payment] == marked["1.012603"]
