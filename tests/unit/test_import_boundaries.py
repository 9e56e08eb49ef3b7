"""Services meet only through Kafka and REST: no service imports another. Shared code is
the runtime, the working calendar, the contracts and the reference data, each in one place;
none of those imports a service."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "sla", "notify")
SHARED = {
    "services/runtime": ("services.runtime", "services.workcal", "contracts"),
    "services/workcal": ("services.workcal", "contracts"),
    "contracts": ("contracts",),
    "reference": ("reference", "services.workcal", "contracts"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in (
        "services",
        "contracts",
        "reference",
        "tests",
        "bench",
    )


def test_no_service_imports_another() -> None:
    offences = []
    for service in SERVICES:
        for path in (REPO / "services" / service).rglob("*.py"):
            for line, module in imported_modules(path):
                parts = module.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
                    if parts[1] in ("runtime", "workcal"):
                        continue
                    offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
                elif parts[0] in ("tests", "bench"):
                    offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offences == []


def test_shared_code_imports_no_service() -> None:
    offences = []
    for folder, allowed in SHARED.items():
        for path in (REPO / folder).rglob("*.py"):
            for line, module in imported_modules(path):
                if ours(module) and not module.startswith(allowed):
                    offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offences == []


def test_only_tools_import_several_services() -> None:
    """Code outside the four services that builds them all (the schema export) is a tool,
    never part of services/ or of the shared packages."""
    offences = []
    for path in (REPO / "services").glob("*.py"):
        for line, module in imported_modules(path):
            if module.split(".")[:2][-1] in SERVICES and module.startswith("services."):
                offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offences == []


def test_the_walk_sees_every_service_and_would_catch_an_offence(tmp_path: Path) -> None:
    for service in SERVICES:
        assert list((REPO / "services" / service).rglob("*.py")), service
    probe = tmp_path / "probe.py"
    probe.write_text("from services.intake.handlers import IntakeContext\nimport json\n")
    assert imported_modules(probe) == [(1, "services.intake.handlers"), (2, "json")]
