"""Form 01 (receipt and appointment) as data and as a printable Vietnamese page."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.intake.domain.catalog import Catalog
from services.intake.views import vn

CHANNEL_NAMES = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Qua dịch vụ bưu chính công ích"}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def receipt_form(catalog: Catalog, row: dict[str, Any]) -> dict[str, Any]:
    procedure = catalog.procedures.get(row["procedure_code"])
    unit = catalog.units.get(row["receiving_unit"])
    applicant = json.loads(row["applicant"])
    documents = [
        {"type_code": d["type_code"], "name": d["name"]}
        for d in json.loads(row["documents"])
        if not d.get("supplement")
    ]
    return {
        "code": row["code"],
        "procedure_code": row["procedure_code"],
        "procedure_name": procedure.name if procedure else row["procedure_code"],
        "receiving_unit": row["receiving_unit"],
        "receiving_unit_name": unit.name if unit else row["receiving_unit"],
        "applicant_name": applicant.get("full_name", ""),  # gone once anonymised
        "channel": row["channel"],
        "documents": documents,
        "received_at": vn(row["received_at"]),
        "appointment_at": vn(row["appointment_at"]),
    }


def _vn_time(moment: datetime) -> str:
    local = vn(moment)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def receipt_html(form: dict[str, Any]) -> str:
    return _templates.get_template("receipt.html").render(
        r=form,
        channel_name=CHANNEL_NAMES.get(int(form["channel"]), str(form["channel"])),
        received=_vn_time(form["received_at"]),
        appointment=_vn_time(form["appointment_at"]),
    )
