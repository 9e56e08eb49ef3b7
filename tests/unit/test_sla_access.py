"""Who may read SLA's dossier data: the attacker is an operator of another unit."""

from __future__ import annotations

from services.runtime.principal import Principal
from services.sla.domain.access import may_read_dossier, may_read_report

COMMUNE, DISTRICT, ELSEWHERE = "000.01.01.H99", "000.00.01.H99", "000.02.02.H99"
HISTORY = {COMMUNE, DISTRICT}


def operator(unit: str, role: str = "official") -> Principal:
    return Principal(user_id=f"canbo@{unit}", unit_code=unit, role=role)  # type: ignore[arg-type]


def test_a_unit_the_dossier_passed_through_reads_it_and_another_unit_does_not() -> None:
    assert may_read_dossier(operator(COMMUNE), HISTORY)
    assert may_read_dossier(operator(DISTRICT, "unit_head"), HISTORY)
    assert not may_read_dossier(operator(ELSEWHERE), HISTORY)
    assert not may_read_dossier(operator(ELSEWHERE, "unit_head"), HISTORY)
    # A dossier SLA does not know has no units: only the supervisor and services read it.
    assert not may_read_dossier(operator(COMMUNE), set())
    assert not may_read_dossier(operator(COMMUNE), {None})


def test_the_supervisor_and_trusted_services_read_every_dossier() -> None:
    assert may_read_dossier(operator("000.00.00.H99", "province_supervisor"), set())
    assert may_read_dossier(None, set())  # the console or the operators' scripts


def test_reports_are_read_for_ones_own_unit_only_unless_supervisor() -> None:
    assert may_read_report(operator(COMMUNE), COMMUNE)
    assert may_read_report(operator(COMMUNE, "unit_head"), COMMUNE)
    assert not may_read_report(operator(COMMUNE, "unit_head"), ELSEWHERE)
    assert not may_read_report(operator(COMMUNE), None)  # the whole province
    assert may_read_report(operator(COMMUNE, "province_supervisor"), None)
    assert may_read_report(operator(COMMUNE, "province_supervisor"), ELSEWHERE)
    assert may_read_report(None, None)
