"""Stories: every shipped chain, in both configurations, from the desk to the citizen."""

from __future__ import annotations

import pytest

from services.routing.domain import DossierStatus, QueueLevel, StepPhase, waiting_on
from services.routing.domain import commands as cmd
from services.routing.domain import events as ev
from tests.unit.test_routing_support import (
    CONFIGS,
    PLACES,
    Story,
    official,
    reference,
    types,
)

BIRTH_CHAIN = "1.012601"
BIRTH, RESIDENCE, HEALTH_CARD = "1.001193", "1.004194", "1.002183"
DEATH_CHAIN = "1.012602"
DEATH, REMOVE_RESIDENCE, FUNERAL, SURVIVORS = "1.000656", "1.004206", "1.001776", "1.002128"
LAND = "1.012603"
MARITAL_STATUS = "1.004873"

HAPPY_PATH = [
    DossierStatus.RECEIVED,
    DossierStatus.PROCESSING,
    DossierStatus.DONE,
    DossierStatus.RETURNED,
]

pytestmark = pytest.mark.parametrize("config", CONFIGS)


def test_birth_residence_and_health_card_reach_the_family(config: str) -> None:
    places = PLACES[config]
    story = Story.start(config, BIRTH_CHAIN, BIRTH, RESIDENCE, HEALTH_CARD)
    assert story.dossier.legal_hours == 24  # 3 working days
    (assigned,) = story.of_type(ev.StepAssigned)
    assert (assigned.step_id, assigned.unit_code) == ("khai_sinh", places.commune)
    assert (assigned.queue_level, assigned.allotment_hours) == (QueueLevel.COMMUNE, 8)

    # The commune's civil-status official registers the birth; police and social
    # insurance then work in parallel.
    after_birth = story.work("khai_sinh")
    handoffs = [e for e in after_birth if isinstance(e, ev.HandedOff)]
    assert {(h.from_unit, h.to_unit) for h in handoffs} == {
        (places.commune, places.police),
        (places.commune, places.social_insurance),
    }
    police_task = story.run("thuong_tru")
    assert (police_task.unit_code, police_task.allotment_hours) == (places.police, 16)
    assert police_task.queue_level is QueueLevel.DEPARTMENT
    (asked,) = [e for e in after_birth if isinstance(e, ev.ExternalRequested)]
    assert (asked.unit_code, asked.allotment_hours, asked.timeout_hours) == (
        places.social_insurance,
        16,
        8,
    )

    story.work("thuong_tru")  # the commune police officer registers residence
    assert story.dossier.status is DossierStatus.PROCESSING  # the card is still awaited
    answered = story.do(
        cmd.ExternalAnswered(correlation_id=asked.correlation_id, outcome="approved")
    )
    assert types(answered)[-1] == "ResultReady"
    assert story.dossier.status is DossierStatus.DONE

    story.return_result()
    assert story.statuses == HAPPY_PATH
    assert story.dossier.ended_at is not None


def test_birth_chain_needing_verification_gets_five_days(config: str) -> None:
    story = Story.start(
        config, BIRTH_CHAIN, BIRTH, RESIDENCE, conditions=frozenset({"verification_needed"})
    )
    assert story.dossier.legal_hours == 40
    assert story.run("khai_sinh").allotment_hours == 24
    assert "the_bhyt" not in story.dossier.graph  # the family did not ask for the card


def test_health_card_system_silent_then_officials_issue_it_by_hand(config: str) -> None:
    places = PLACES[config]
    story = Story.start(config, BIRTH_CHAIN, BIRTH, HEALTH_CARD)
    story.work("khai_sinh")
    correlation = story.run("the_bhyt").correlation_id
    assert correlation is not None
    story.do(cmd.ExternalTimedOut(correlation_id=correlation))
    assert story.run("the_bhyt").unit_code == places.social_insurance
    story.work("the_bhyt")  # an official of social insurance issues the card
    story.return_result()
    assert story.statuses == HAPPY_PATH


@pytest.mark.parametrize(
    "choices",
    [(DEATH, REMOVE_RESIDENCE), (DEATH, REMOVE_RESIDENCE, FUNERAL, SURVIVORS)],
    ids=["two", "four"],
)
def test_death_chain_with_the_procedures_the_family_picked(
    config: str, choices: tuple[str, ...]
) -> None:
    places = PLACES[config]
    story = Story.start(config, DEATH_CHAIN, *choices)
    story.work("khai_tu")
    expected_units = {
        "xoa_thuong_tru": places.police,
        "tro_cap_mai_tang": places.labour,
        "tu_tuat": places.social_insurance,
    }
    started = {s: r.unit_code for s, r in story.dossier.steps.items() if r.phase is StepPhase.OPEN}
    assert started == {s: u for s, u in expected_units.items() if s in story.dossier.graph}
    assert len(started) == len(choices) - 1
    for step_id in started:
        assert story.dossier.status is DossierStatus.PROCESSING
        story.work(step_id)  # each unit's own official
    assert story.dossier.status is DossierStatus.DONE
    story.return_result()
    assert story.statuses == HAPPY_PATH


@pytest.mark.parametrize(
    ("choices", "why"),
    [
        ((DEATH,), "between 2 and 4"),
        ((DEATH, REMOVE_RESIDENCE, FUNERAL, SURVIVORS, BIRTH), "between 2 and 4"),
        ((REMOVE_RESIDENCE, FUNERAL), "must be included"),
        ((DEATH, BIRTH), "not part of this chain"),
        ((DEATH, DEATH), "chosen twice"),
    ],
)
def test_death_chain_refuses_a_choice_outside_the_rules(
    config: str, choices: tuple[str, ...], why: str
) -> None:
    story = Story(reference(config), PLACES[config].first_day)
    reason = story.rejected(
        cmd.Start(
            dossier_id="D-2",
            procedure_code=DEATH_CHAIN,
            receiving_unit=PLACES[config].commune,
            chosen_subprocedures=choices,
        )
    )
    assert why in reason


def test_land_registration_waits_while_the_citizen_pays(config: str) -> None:
    places = PLACES[config]
    story = Story.start(config, LAND)
    assert story.dossier.legal_hours == 80  # 10 working days
    story.work("tiep_nhan")  # desk: 1 day
    story.work("van_phong_dang_ky")  # land registration office: 5 days
    tax_officer = official(places.tax)
    story.claim("xac_dinh_nghia_vu", tax_officer)
    task = story.task("xac_dinh_nghia_vu")
    assert "RequestObligation" in story.rejected(cmd.Complete(task_id=task, official=tax_officer))

    story.do(cmd.RequestObligation(task_id=task, official=tax_officer, amount_vnd=12_500_000))
    assert story.dossier.status is DossierStatus.FINANCIAL_OBLIGATION
    (owed,) = waiting_on(story.dossier)
    assert (owed.party, owed.reason) == ("citizen", "pay 12500000 VND")

    paid = story.do(cmd.ObligationPaid(receipt_ref="KBNN-2025-000123"))
    assert types(paid) == ["ObligationPaid", "StepAssigned"]
    assert story.dossier.status is DossierStatus.PROCESSING
    story.work("tra_ket_qua")  # desk: 1 day
    story.return_result()
    assert story.statuses == [
        DossierStatus.RECEIVED,
        DossierStatus.PROCESSING,
        DossierStatus.FINANCIAL_OBLIGATION,
        DossierStatus.PROCESSING,
        DossierStatus.DONE,
        DossierStatus.RETURNED,
    ]
    lines = [(h.from_unit, h.to_unit, h.allotment_hours) for h in story.of_type(ev.HandedOff)]
    assert lines == [
        (places.commune, places.land_registry, 8),
        (places.land_registry, places.tax, 40),
        (places.tax, places.commune, 24),
        (places.commune, places.commune, 8),
    ]
    assert sum(allotment for *_, allotment in lines) == story.dossier.legal_hours


def test_single_unit_certificate_at_the_commune(config: str) -> None:
    places = PLACES[config]
    story = Story.start(config, MARITAL_STATUS)
    clerk = official(places.commune, "tu-phap")
    story.claim("xac_nhan", clerk)
    story.do(
        cmd.RecordResult(task_id=story.task("xac_nhan"), official=clerk, papers=("XNHN-125/2025",))
    )
    done = story.do(cmd.Complete(task_id=story.task("xac_nhan"), official=clerk))
    assert types(done) == ["StepCompleted", "HandedOff", "ResultReady"]
    (ready,) = story.of_type(ev.ResultReady)
    assert ready.papers == ("XNHN-125/2025",)
    story.return_result()
    assert story.statuses == HAPPY_PATH
