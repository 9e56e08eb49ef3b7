"""Console: the human names of units, procedures, fields and workflow steps.

The page shows names, never bare codes; it reads this map once after sign-in. The names
are the province's reference data, public, so any signed-in operator may read them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Request

from reference import reference
from reference.workflow import StepKind
from services.routing.console.common import PrincipalDep, runtime_of

api = APIRouter()


@cache
def names_of(profile: str) -> dict[str, Any]:
    """Code -> name for units, procedures and fields; procedure -> step id -> name (every
    workflow version, the newest name winning)."""
    ref = reference(profile)
    steps: dict[str, dict[str, str]] = {}
    # Steps that end by recording the financial obligation (a payment step follows them),
    # so the inbox sends the official to the dossier page instead of offering "complete".
    assessing: dict[str, list[str]] = {}
    for code, procedure in ref.procedures.items():
        by_id: dict[str, str] = {}
        ends: set[str] = set()
        for workflow in sorted(procedure.workflows, key=lambda w: w.version):
            by_id.update({step.id: step.name for step in workflow.steps})
            ends |= {s.after[0].step for s in workflow.steps if s.kind is StepKind.PAYMENT}
        steps[code] = by_id
        if ends:
            assessing[code] = sorted(ends)
    return {
        "units": {unit.code: unit.name for unit in ref.units},
        "procedures": {code: p.name for code, p in ref.procedures.items()},
        "fields": {code: f.name for code, f in ref.fields.items()},
        "steps": steps,
        "assesses_payment": assessing,
    }


@api.get("/names")
async def names(request: Request, who: PrincipalDep) -> dict[str, Any]:
    del who  # signed in is enough: the reference data is public
    return names_of(runtime_of(request).settings.reference_profile)
