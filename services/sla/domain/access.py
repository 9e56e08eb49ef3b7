"""Who may read what SLA knows of a dossier (pure rules, unit-tested).

A dossier's deadlines, its apology letter (form 04) and the figures of a report name
citizens' dossiers, so they are read only by the console and the province's operators
(their service credentials, ``None`` here), a province supervisor, or an operator of a
unit the dossier passed through (its receiving unit, the unit holding it, the units of
its step deadlines, the unit that apologised).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.principal import Principal


def is_supervisor(who: Principal | None) -> bool:
    """``None`` is a trusted service (the console, the operators' scripts)."""
    return who is None or who.role == "province_supervisor"


def may_read_dossier(who: Principal | None, units: Iterable[str | None]) -> bool:
    """An operator reads a dossier that passed through their unit; services and the
    province supervisor read every dossier."""
    return is_supervisor(who) or (who is not None and who.unit_code in set(units))


def may_read_report(who: Principal | None, unit: str | None) -> bool:
    """An official or unit head reads their own unit's figures (``unit`` must name it); the
    supervisor reads any unit's and the province's (``unit`` None)."""
    return is_supervisor(who) or (who is not None and unit == who.unit_code)
