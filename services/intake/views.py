"""What portals and citizens see of a dossier: shaped here, times in Vietnam time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.vietnam import VN_TZ
from services.intake.domain.catalog import Catalog
from services.intake.domain.personal_data import mask_citizen_id
from services.intake.domain.status import status_name


def vn(moment: datetime) -> datetime:
    return moment.astimezone(VN_TZ)


def _vn_text(value: Any) -> Any:
    """Timeline details carry ISO strings; show any that parse as aware times in +07:00."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return vn(parsed).isoformat() if parsed.tzinfo is not None else value
    return value


def status_callback(
    dossier_id: UUID,
    code: str,
    status: int,
    version: int,
    current_unit: str | None,
    changed_at: datetime,
) -> dict[str, Any]:
    return {
        "dossier_id": str(dossier_id),
        "dossier_code": code,
        "status": status,
        "status_name": status_name(status),
        "version": version,
        "current_unit": current_unit,
        "changed_at": vn(changed_at).isoformat(),
    }


def deadlines_of(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": e["details"].get("kind", ""),
            "unit_code": e["details"].get("unit_code", ""),
            "task_id": e["details"].get("task_id"),
            "starts_at": _vn_text(e["details"].get("starts_at")),
            "due_at": _vn_text(e["details"].get("due_at")),
        }
        for e in timeline
        if e["event_type"] == "deadline.opened"
    ]


def dossier_view(
    catalog: Catalog, row: dict[str, Any], timeline: list[dict[str, Any]]
) -> dict[str, Any]:
    procedure = catalog.procedures.get(row["procedure_code"])
    unit = catalog.units.get(row["current_unit"] or "")
    return {
        "id": row["id"],
        "code": row["code"],
        "status": row["status"],
        "status_name": status_name(row["status"]),
        "status_version": row["status_version"],
        "procedure_code": row["procedure_code"],
        "procedure_name": procedure.name if procedure else row["procedure_code"],
        "receiving_unit": row["receiving_unit"],
        "current_unit": row["current_unit"],
        "current_unit_detail": (
            {"code": unit.code, "name": unit.name, "level": unit.level} if unit else None
        ),
        "received_at": vn(row["received_at"]),
        "clock_started_at": vn(row["clock_started_at"]),
        "appointment_at": vn(row["appointment_at"]),
        "deadlines": deadlines_of(timeline),
        "timeline": [
            {
                **e,
                "occurred_at": vn(e["occurred_at"]),
                "details": {k: _vn_text(v) for k, v in e["details"].items()},
            }
            for e in timeline
        ],
    }


def citizen_view(catalog: Catalog, row: dict[str, Any]) -> dict[str, Any]:
    procedure = catalog.procedures.get(row["procedure_code"])
    receiving = catalog.units.get(row["receiving_unit"])
    current = catalog.units.get(row["current_unit"] or "")
    return {
        "code": row["code"],
        "status": row["status"],
        "status_name": status_name(row["status"]),
        "procedure_name": procedure.name if procedure else row["procedure_code"],
        "receiving_unit_name": receiving.name if receiving else row["receiving_unit"],
        "current_unit_name": current.name if current else None,
        "received_at": vn(row["received_at"]),
        "appointment_at": vn(row["appointment_at"]),
    }


def particulars(row: dict[str, Any]) -> dict[str, Any]:
    """The applicant with the citizen ID masked (never the whole number outside intake),
    the summary and the fees paid at submission."""
    applicant = json.loads(row["applicant"]) if row.get("applicant") else {}
    request = json.loads(row["request"]) if row.get("request") else {}
    person = None
    if applicant.get("full_name"):
        person = {
            "full_name": applicant["full_name"],
            "citizen_id_masked": mask_citizen_id(str(applicant.get("citizen_id") or "")),
            "phone": str(applicant.get("phone") or ""),
            "email": applicant.get("email"),
            "address": str(applicant.get("address") or ""),
        }
    return {
        "code": row["code"],
        "applicant": person,
        "summary": str(request.get("summary") or ""),
        "channel": int(row["channel"]),
        "fees": [
            {"code": str(f.get("code", "")), "amount_vnd": int(f.get("amount_vnd", 0))}
            for f in json.loads(row["fees"] or "[]")
        ],
    }
