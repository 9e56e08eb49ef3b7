"""Stories of what may not happen, and of the ways off the happy path."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.routing.domain import (
    VIETNAM_TIME,
    DossierStatus,
    Rejected,
    StepPhase,
    decide,
    load_reference,
    waiting_on,
)
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from services.routing.domain.events import EVENT_ADAPTER
from services.routing.domain.fold import replay
from tests.unit.test_routing_support import (
    PLACES,
    Story,
    copy_config,
    edit_yaml,
    official,
    reference,
    types,
)

BIRTH_CHAIN, BIRTH, RESIDENCE, HEALTH_CARD = "1.012601", "1.001193", "1.004194", "1.002183"
LAND, MARITAL_STATUS = "1.012603", "1.004873"
CONFIG = "three_level"
HERE = PLACES[CONFIG]


def birth_story() -> Story:
    return Story.start(CONFIG, BIRTH_CHAIN, BIRTH, RESIDENCE, HEALTH_CARD)


def test_a_commune_official_cannot_act_on_another_communes_task() -> None:
    story = birth_story()
    neighbour = official(HERE.other_commune)
    task = story.task("khai_sinh")
    reason = story.rejected(cmd.Claim(task_id=task, official=neighbour, expected_version=2))
    assert f"belongs to {HERE.commune}" in reason
    story.work("khai_sinh")
    other_police = official(HERE.other_police)
    version = story.dossier.version
    claim = cmd.Claim(
        task_id=story.task("thuong_tru"), official=other_police, expected_version=version
    )
    assert f"belongs to {HERE.police}" in story.rejected(claim)


def test_claims_are_exclusive_and_completion_needs_the_claim() -> None:
    story = birth_story()
    task = story.task("khai_sinh")
    first, second = official(HERE.commune, "lan"), official(HERE.commune, "minh")
    assert "must be claimed" in story.rejected(cmd.Complete(task_id=task, official=first))
    stale = cmd.Claim(task_id=task, official=first, expected_version=story.dossier.version - 1)
    assert "reload" in story.rejected(stale)
    story.claim("khai_sinh", first)
    assert story.claim("khai_sinh", first) == []  # claiming one's own task again: no news
    again = cmd.Claim(task_id=task, official=second, expected_version=story.dossier.version)
    assert "claimed by lan@" in story.rejected(again)
    assert "claimed by lan@" in story.rejected(cmd.Complete(task_id=task, official=second))
    story.do(cmd.Complete(task_id=task, official=first))
    assert "no open task" in story.rejected(cmd.Complete(task_id=task, official=first))


def test_the_desk_refuses_an_incomplete_dossier_and_that_is_final() -> None:
    story = birth_story()
    assert "only the receiving unit" in story.rejected(
        cmd.Refuse(official=official(HERE.other_commune), reasons=("thiếu giấy chứng sinh",))
    )
    story.do(cmd.Refuse(official=official(HERE.commune), reasons=("thiếu giấy chứng sinh",)))
    assert story.dossier.status is DossierStatus.NOT_ACCEPTED
    assert story.dossier.ended_at is not None
    assert waiting_on(story.dossier) == []
    for late in (
        cmd.Withdraw(reason="thôi"),
        cmd.Stop(official=official(HERE.commune), reason="x"),
        cmd.Claim(
            task_id=story.run("khai_sinh").task_id or "",
            official=official(HERE.commune),
            expected_version=3,
        ),
    ):
        assert "closed" in story.rejected(late)


def test_refusal_is_for_reception_only_once_work_began_processing_stops() -> None:
    story = birth_story()
    story.claim("khai_sinh", official(HERE.commune))
    desk = official(HERE.commune, "desk")
    assert "stop it" in story.rejected(cmd.Refuse(official=desk, reasons=("sai mẫu",)))
    outsider = official(HERE.tax)
    assert "no step" in story.rejected(cmd.Stop(official=outsider, reason="x"))
    story.do(cmd.Stop(official=desk, reason="người yêu cầu không đủ điều kiện"))
    assert story.statuses == [
        DossierStatus.RECEIVED,
        DossierStatus.PROCESSING,
        DossierStatus.STOPPED,
    ]


def test_a_supplement_request_names_every_paper_once_and_pauses_everything() -> None:
    story = birth_story()
    clerk = official(HERE.commune)
    story.claim("khai_sinh", clerk)
    task = story.task("khai_sinh")
    with pytest.raises(ValidationError):
        cmd.RequestSupplement(task_id=task, official=clerk, missing_documents=(), reason="x")
    unknown = cmd.RequestSupplement(
        task_id=task, official=clerk, missing_documents=("HO_CHIEU",), reason="x"
    )
    assert "not documents" in story.rejected(unknown)
    request = cmd.RequestSupplement(
        task_id=task, official=clerk, missing_documents=("GCS", "CT01"), reason="bản chụp mờ"
    )
    story.do(request)
    assert story.dossier.status is DossierStatus.SUPPLEMENT_REQUESTED
    assert [w.party for w in waiting_on(story.dossier)] == ["citizen"]
    assert "already pending" in story.rejected(request)
    assert "waiting for the citizen" in story.rejected(cmd.Complete(task_id=task, official=clerk))
    assert "still missing: ['CT01']" in story.rejected(cmd.SupplementSubmitted(documents=("GCS",)))
    story.do(cmd.SupplementSubmitted(documents=("GCS", "CT01")))
    assert story.dossier.status is DossierStatus.PROCESSING
    assert story.run("khai_sinh").claimed_by == clerk.user_id  # same official carries on

    story.do(request)  # a second request is possible, and counted (late under 766/QĐ-TTg)
    assert story.of_type(ev.SupplementRequested)[-1].count == 2
    story.do(cmd.Withdraw(reason="gia đình rút hồ sơ"))
    assert story.statuses[-2:] == [DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.WITHDRAWN]
    assert story.dossier.ended_at is None  # a withdrawal is not an end of processing


def test_police_send_the_dossier_back_to_the_commune_once_the_card_branch_is_done() -> None:
    story = birth_story()
    story.work("khai_sinh")
    officer = official(HERE.police)
    story.claim("thuong_tru", officer)
    back = cmd.ReturnTo(
        task_id=story.task("thuong_tru"),
        official=officer,
        target_step="khai_sinh",
        reason="sai địa chỉ thường trú của mẹ",
    )
    assert "other branches" in story.rejected(back)
    sideways = back.model_copy(update={"target_step": "the_bhyt"})
    assert "not an earlier step" in story.rejected(sideways)
    card = story.run("the_bhyt").correlation_id or ""
    story.do(cmd.ExternalAnswered(correlation_id=card, outcome="approved"))

    returned = story.do(back)
    assert types(returned) == ["StepReturned", "HandedOff", "StepAssigned"]
    assert story.run("thuong_tru").phase is StepPhase.PENDING
    assert story.run("the_bhyt").phase is StepPhase.DONE  # not asked again
    story.work("khai_sinh")
    story.work("thuong_tru")
    story.return_result()
    assert story.dossier.status is DossierStatus.RETURNED


def test_agency_refusal_and_stale_callbacks() -> None:
    story = Story.start(CONFIG, BIRTH_CHAIN, BIRTH, HEALTH_CARD)
    story.work("khai_sinh")
    correlation = story.run("the_bhyt").correlation_id or ""
    assert "no pending" in story.rejected(cmd.ExternalTimedOut(correlation_id="bogus"))
    story.do(cmd.ExternalAnswered(correlation_id=correlation, outcome="rejected", note="trùng mã"))
    assert story.run("the_bhyt").phase is StepPhase.OPEN  # officials take over by hand
    late = cmd.ExternalAnswered(correlation_id=correlation, outcome="approved")
    assert "no pending" in story.rejected(late)


def test_obligation_only_where_the_workflow_has_a_payment_step() -> None:
    story = Story.start(CONFIG, MARITAL_STATUS)
    clerk = official(HERE.commune)
    story.claim("xac_nhan", clerk)
    ask = cmd.RequestObligation(task_id=story.task("xac_nhan"), official=clerk, amount_vnd=3000)
    assert "no financial obligation" in story.rejected(ask)
    assert "no financial obligation" in story.rejected(cmd.ObligationPaid(receipt_ref="x"))
    assert "no result" in story.rejected(cmd.ReturnResult(official=clerk))


def test_start_is_checked_against_the_reference() -> None:
    ref = reference(CONFIG)

    def start(now: datetime = HERE.first_day, **changes: object) -> str:
        command = cmd.Start(
            dossier_id="D", procedure_code=MARITAL_STATUS, receiving_unit=HERE.commune
        ).model_copy(update=changes)
        with pytest.raises(Rejected) as refusal:
            decide(None, command, now, ref)
        return refusal.value.reason

    assert "unknown procedure" in start(procedure_code="9.999999")
    assert "unknown unit" in start(receiving_unit="XYZ")
    assert "not received at district level" in start(receiving_unit=HERE.district)
    assert "unknown conditions" in start(conditions=frozenset({"urgent"}))
    assert "not a chain" in start(chosen_subprocedures=(BIRTH,))
    before_land_law = datetime(2024, 7, 15, 9, tzinfo=VIETNAM_TIME)
    assert "no workflow in force" in start(now=before_land_law, procedure_code=LAND)
    story = Story.start(CONFIG, MARITAL_STATUS)
    again = cmd.Start(dossier_id="D", procedure_code=MARITAL_STATUS, receiving_unit=HERE.commune)
    assert "already started" in story.rejected(again)
    assert "no such dossier" in story_without_dossier().rejected(cmd.Withdraw(reason="x"))
    with pytest.raises(ValueError, match="timezone"):
        decide(None, again, HERE.first_day.replace(tzinfo=None), ref)


def story_without_dossier() -> Story:
    return Story(reference(CONFIG), HERE.first_day)


def test_a_dossier_keeps_the_workflow_version_it_started_with(tmp_path: Path) -> None:
    def add_version_2(procedure: dict[str, Any]) -> None:
        v2 = copy.deepcopy(procedure["workflows"][0])
        v2.update(version=2, effective_from=date(2025, 6, 1))
        v2["steps"][0].update(hours=16, hours_if={"verification_needed": 152})
        v2["steps"].append(
            {
                "id": "ky_duyet",
                "name": "Lãnh đạo ký",
                "unit": "receiving_unit",
                "hours": 8,
                "after": ["xac_nhan"],
            }
        )
        procedure["workflows"].append(v2)

    root = copy_config(tmp_path, CONFIG)
    edit_yaml(root / "procedures" / "1.004873-xac-nhan-tinh-trang-hon-nhan.yaml", add_version_2)
    ref = load_reference(root)
    may = datetime(2025, 5, 30, 9, tzinfo=VIETNAM_TIME)
    old = Story.start(CONFIG, MARITAL_STATUS, ref=ref, now=may)
    new = Story.start(CONFIG, MARITAL_STATUS, ref=ref, now=may + timedelta(days=3))
    assert (old.dossier.workflow_version, new.dossier.workflow_version) == (1, 2)
    old.now = new.now
    old.work("xac_nhan")  # finished in June, still on version 1: no signing step
    assert old.dossier.status is DossierStatus.DONE
    new.work("xac_nhan")
    new.work("ky_duyet")
    assert new.of_type(ev.StepAssigned)[0].allotment_hours == 16


def test_land_may_also_be_received_at_the_district_desk() -> None:
    story = Story.start(CONFIG, LAND, receiving_unit=HERE.district)
    assert story.run("tiep_nhan").unit_code == HERE.district
    story.work("tiep_nhan")
    assert story.run("van_phong_dang_ky").unit_code == HERE.land_registry


def test_events_survive_a_round_trip_through_json() -> None:
    story = birth_story()
    story.work("khai_sinh")
    story.now += timedelta(days=1)
    wire = [EVENT_ADAPTER.dump_json(e) for e in story.history]
    assert replay(EVENT_ADAPTER.validate_json(raw) for raw in wire) == story.dossier


def test_a_workflow_removed_from_the_reference_is_named_not_guessed(tmp_path: Path) -> None:
    story = Story.start(CONFIG, MARITAL_STATUS)
    root = copy_config(tmp_path, CONFIG)
    (root / "procedures" / "1.004873-xac-nhan-tinh-trang-hon-nhan.yaml").unlink()
    story.ref = load_reference(root)
    claim = cmd.Claim(
        task_id=story.task("xac_nhan"),
        official=official(HERE.commune),
        expected_version=story.dossier.version,
    )
    assert "no longer in the reference data" in story.rejected(claim)


def test_the_holder_forwards_a_task_to_the_unit_head_who_then_completes_it() -> None:
    story = birth_story()
    task = story.task("khai_sinh")
    clerk, head = official(HERE.commune, "lan"), official(HERE.commune, "truong")
    forward = cmd.Forward(task_id=task, official=clerk, to_official_id=head.user_id)
    assert "must be claimed" in story.rejected(forward)
    story.claim("khai_sinh", clerk)
    outsider = official(HERE.other_commune, "x")
    assert "belongs to" in story.rejected(
        cmd.Forward(task_id=task, official=outsider, to_official_id=head.user_id)
    )
    assert "already held" in story.rejected(
        cmd.Forward(task_id=task, official=clerk, to_official_id=clerk.user_id)
    )
    assert types(story.do(forward)) == ["TaskForwarded"]
    assert story.run("khai_sinh").claimed_by == head.user_id
    assert "claimed by truong@" in story.rejected(cmd.Complete(task_id=task, official=clerk))
    story.do(cmd.Complete(task_id=task, official=head))
    assert story.run("khai_sinh").phase is StepPhase.DONE
