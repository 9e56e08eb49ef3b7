"""What the console offers each operator on a dossier agrees with what the core accepts:
every offered action is taken without refusal, and what is not offered is refused (or
is not the operator's to sign)."""

from __future__ import annotations

from typing import Any

from services.routing.console.offers import offers, visible_subprocedures
from services.routing.domain import StepKind, execute
from services.routing.domain import commands as cmd
from services.runtime.auth import Principal
from tests.unit.test_routing_support import PLACES, Story, official

P = PLACES["three_level"]
LAND_TAX, DEATH_CHAIN, BIRTH_CHAIN, BIRTH = "1.012603", "1.012602", "1.012601", "1.001193"


def who(unit: str, role: str = "official", name: str = "a") -> Principal:
    user = f"{'lanhdao' if role == 'unit_head' else name}@{unit}"
    return Principal(user_id=user, unit_code=unit, role=role)  # type: ignore[arg-type]


def offered(story: Story, operator: Principal) -> dict[str, Any]:
    return offers(operator, story.dossier, story.ref.procedure(story.dossier.procedure_code))


def task_offer(story: Story, operator: Principal, step: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = offered(story, operator)["tasks"]
    return next(t for t in found if t["step_id"] == step)


def test_at_the_desk_an_official_may_claim_and_sees_that_the_head_signs_a_refusal() -> None:
    story = Story.start("three_level", BIRTH)
    clerk = offered(story, who(P.commune))
    assert [t["actions"] for t in clerk["tasks"]] == [["claim"]]
    assert clerk["dossier"] == []
    assert clerk["head_signs"] == ["refuse", "stop"]
    head = offered(story, who(P.commune, "unit_head"))
    assert head["dossier"] == ["refuse", "stop"]
    assert head["head_signs"] == []
    # Another commune's official and head are offered nothing.
    for stranger in (who(P.other_commune), who(P.other_commune, "unit_head")):
        other = offered(story, stranger)
        assert [t["actions"] for t in other["tasks"]] == [[]]
        assert other["dossier"] == [] and other["head_signs"] == []


def test_the_tax_step_offers_the_obligation_not_completion_and_the_core_agrees() -> None:
    story = Story.start("three_level", LAND_TAX)
    story.work("tiep_nhan")
    story.work("van_phong_dang_ky")
    tax = official(P.tax)
    story.claim("xac_dinh_nghia_vu", tax)
    offer = task_offer(story, who(P.tax), "xac_dinh_nghia_vu")
    assert offer["actions"] == ["obligation", "result", "forward", "return", "supplement"]
    assert offer["ends_with_obligation"] is True
    # Completing leads past the citizen's payment to the desk's last step.
    assert [n["step_id"] for n in offer["next_steps"]] == ["tra_ket_qua"]
    # Return targets are earlier steps, never a payment step.
    assert offer["return_targets"] == ["tiep_nhan", "van_phong_dang_ky"]
    task = story.task("xac_dinh_nghia_vu")
    assert "obligation" in story.rejected(cmd.Complete(task_id=task, official=tax))
    story.do(cmd.RequestObligation(task_id=task, official=tax, amount_vnd=12_500_000))

    # While the citizen pays, nobody is offered work; the page shows the wait.
    for operator in (who(P.tax), who(P.commune), who(P.commune, "unit_head")):
        paused = offered(story, operator)
        assert all(not t["actions"] for t in paused["tasks"])
    started = story.dossier.steps["nop_nghia_vu"].started_at
    assert started is not None
    waits = offered(story, who(P.commune))["waits"]
    assert waits == [
        {
            "party": "citizen",
            "what": "payment",
            "step_id": "nop_nghia_vu",
            "amount_vnd": 12_500_000,
            "since": started.isoformat(),
        }
    ]
    # The head may still stop it (form 05); nothing else is the desk's to sign.
    assert offered(story, who(P.commune, "unit_head"))["dossier"] == ["stop"]


def test_a_claimed_task_is_offered_to_its_holder_only() -> None:
    story = Story.start("three_level", BIRTH)
    story.claim("khai_sinh", official(P.commune))
    holder = task_offer(story, who(P.commune), "khai_sinh")
    assert holder["actions"] == ["complete", "result", "forward", "return", "supplement"]
    colleague = task_offer(story, who(P.commune, name="b"), "khai_sinh")
    assert colleague["actions"] == []
    # The dossier is in processing: the desk's head may no longer refuse it.
    assert offered(story, who(P.commune, "unit_head"))["dossier"] == ["stop"]
    refusal = cmd.Refuse(official=official(P.commune, "lanhdao"), reasons=("x",))
    assert "only a dossier not yet in processing can be refused" in story.rejected(refusal)


def test_a_pending_supplement_offers_nothing_and_names_the_papers() -> None:
    story = Story.start("three_level", BIRTH)
    clerk = official(P.commune)
    story.claim("khai_sinh", clerk)
    documents = offered(story, who(P.commune))["documents"]
    assert {d["code"] for d in documents} == {"TK_KS", "GCS"}
    task = story.task("khai_sinh")
    story.do(
        cmd.RequestSupplement(task_id=task, official=clerk, missing_documents=("GCS",), reason="x")
    )
    now = offered(story, who(P.commune))
    assert task_offer(story, who(P.commune), "khai_sinh")["actions"] == []
    assert now["waits"] == [
        {"party": "citizen", "what": "supplement", "task_id": task, "missing_documents": ["GCS"]}
    ]


def test_an_agency_step_is_shown_as_a_wait_since_it_started() -> None:
    story = Story.start("three_level", BIRTH_CHAIN, BIRTH, "1.002183")
    story.work("khai_sinh")
    run = story.dossier.steps["the_bhyt"]
    procedure = story.ref.procedure(BIRTH_CHAIN)
    assert procedure.workflow(story.dossier.workflow_version).step("the_bhyt").kind is (
        StepKind.EXTERNAL
    )
    [wait] = offered(story, who(P.commune))["waits"]
    assert wait["party"] == "agency" and wait["correlation_id"] == run.correlation_id
    assert wait["unit_code"] == P.social_insurance
    assert run.started_at is not None
    assert wait["since"] == run.started_at.isoformat()


def test_the_result_is_returned_by_the_desks_head_only() -> None:
    story = Story.start("three_level", BIRTH)
    story.work("khai_sinh")
    assert offered(story, who(P.commune))["dossier"] == []
    assert offered(story, who(P.commune))["head_signs"] == ["return_result"]
    assert offered(story, who(P.commune, "unit_head"))["dossier"] == ["return_result"]
    assert offered(story, who(P.other_commune, "unit_head"))["dossier"] == []
    assert offered(story, who(P.commune, "province_supervisor"))["dossier"] == ["return_result"]
    story.return_result()
    closed = offered(story, who(P.commune, "unit_head"))
    assert closed["tasks"] == [] and closed["dossier"] == [] and closed["waits"] == []


def test_every_offer_along_the_death_chain_is_accepted_by_the_core() -> None:
    story = Story.start("three_level", DEATH_CHAIN, "1.000656", "1.004206", "1.001776", "1.002128")
    units = {
        "khai_tu": P.commune,
        "xoa_thuong_tru": P.police,
        "tro_cap_mai_tang": P.labour,
        "tu_tuat": P.social_insurance,
    }
    for step, unit in units.items():
        offer = task_offer(story, who(unit), step)
        assert offer["actions"] == ["claim"]
        story.claim(step, official(unit))
        offer = task_offer(story, who(unit), step)
        assert "complete" in offer["actions"]
        # The offer is what the core accepts, on a copy of the dossier.
        forward = cmd.Forward(
            task_id=story.task(step), official=official(unit), to_official_id=f"lanhdao@{unit}"
        )
        execute(story.dossier, forward, story.now, story.ref)
        story.do(cmd.Complete(task_id=story.task(step), official=official(unit)))
    assert offered(story, who(P.commune, "unit_head"))["dossier"] == ["return_result"]


def test_chosen_sub_procedures_are_seen_by_the_desk_and_by_each_unit_for_its_own() -> None:
    story = Story.start("three_level", DEATH_CHAIN, "1.000656", "1.004206", "1.002128")
    story.work("khai_tu")
    workflow = story.ref.procedure(DEATH_CHAIN).workflow(story.dossier.workflow_version)
    everything = ["1.000656", "1.004206", "1.002128"]
    assert visible_subprocedures(who(P.commune), story.dossier, workflow) == everything
    assert visible_subprocedures(who("x", "province_supervisor"), story.dossier, workflow) == (
        everything
    )
    assert visible_subprocedures(who(P.police), story.dossier, workflow) == ["1.004206"]
    assert visible_subprocedures(who(P.social_insurance), story.dossier, workflow) == ["1.002128"]
    assert visible_subprocedures(who(P.other_commune), story.dossier, workflow) == []
    single = Story.start("three_level", BIRTH)
    plain = single.ref.procedure(BIRTH).workflow(single.dossier.workflow_version)
    assert visible_subprocedures(who(P.commune), single.dossier, plain) is None


def test_an_offered_return_is_accepted_and_an_unoffered_one_is_refused() -> None:
    story = Story.start("three_level", LAND_TAX)
    story.work("tiep_nhan")
    land = official(P.land_registry)
    story.claim("van_phong_dang_ky", land)
    offer = task_offer(story, who(P.land_registry), "van_phong_dang_ky")
    assert offer["return_targets"] == ["tiep_nhan"]
    task = story.task("van_phong_dang_ky")
    later = cmd.ReturnTo(task_id=task, official=land, target_step="tra_ket_qua", reason="x")
    assert "is not an earlier step" in story.rejected(later)
    story.do(cmd.ReturnTo(task_id=task, official=land, target_step="tiep_nhan", reason="x"))
    assert task_offer(story, who(P.commune), "tiep_nhan")["actions"] == ["claim"]
