"""Intake's view of the province's reference data (what a desk needs at receipt)."""

from __future__ import annotations

from decimal import Decimal

from reference import load_unit_calendars, reference
from services.intake.domain.catalog import Catalog, ChainChoice, ProcedureInfo, UnitInfo


def intake_catalog(profile: str) -> Catalog:
    ref = reference(profile)
    calendars = load_unit_calendars(profile)
    units = {
        code: UnitInfo(
            code=code,
            name=unit.name,
            level=unit.level.value,
            # Unit codes already are agency codes in the national V1V2V3.Z1Z2.Y1Y2.MX1X2 form.
            agency_code=code,
            calendar=calendars[code],
        )
        for code, unit in ((u.code, u) for u in ref.units)
    }
    procedures = {
        code: ProcedureInfo(
            code=code,
            name=proc.name,
            field_code=proc.field,
            field_name=ref.fields[proc.field].name,
            legal_hours=Decimal(proc.processing_hours),
            online_hours=(
                Decimal(proc.online_processing_hours)
                if proc.online_processing_hours is not None
                else None
            ),
            hours_if={k: Decimal(v) for k, v in proc.processing_hours_if.items()},
            conditions=frozenset(proc.conditions),
            required_documents={d.code: d.name for d in proc.documents},
            optional_documents=frozenset(d.code for d in proc.documents if d.optional),
            subprocedure_documents={
                d.code: d.subprocedures for d in proc.documents if d.subprocedures
            },
            national_documents=dict(proc.dvcqg_components),
            active_levels=frozenset(level.value for level in proc.active_at),
            cut_off=proc.cut_off,
            chain=(
                ChainChoice(
                    options=tuple(o.code for o in proc.chain.options),
                    min_choices=proc.chain.min_choices,
                    max_choices=proc.chain.max_choices,
                    mandatory=proc.chain.mandatory,
                )
                if proc.chain is not None
                else None
            ),
        )
        for code, proc in ref.procedures.items()
    }
    return Catalog(units=units, procedures=procedures)
