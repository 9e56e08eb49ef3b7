"""axe-core in the console's browser tests: each screen is checked, and a serious or
critical violation fails the test, listed rule by rule with the elements concerned.

axe-core comes from npm through ``deploy/axe.sh`` (pinned, into ``.cache/axe/``), never
from a CDN; it is injected into the page by Playwright. Each check also leaves its full
result in ``test-artifacts/axe/<screen>.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.infra import REPO

AXE_VERSION = os.environ.get("AXE_CORE_VERSION", "4.14.1")
AXE = REPO / ".cache" / "axe" / f"axe-{AXE_VERSION}.min.js"
RESULTS = REPO / "test-artifacts" / "axe"
FAILING = ("serious", "critical")


def axe_script() -> Path:
    """The pinned axe-core, fetched by the project's own script when missing."""
    if not AXE.exists():
        subprocess.run([str(REPO / "deploy" / "axe.sh")], check=True, timeout=300)
    return AXE


def violations(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (all impacts)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    found: list[dict[str, Any]] = result["violations"]
    return found


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:6])
        more = f" (+{len(v['nodes']) - 6})" if len(v["nodes"]) > 6 else ""
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} -> {targets}{more}")
    return "\n".join(lines)


def check_axe(
    page: Any, screen: str, waive: Mapping[str, tuple[str, ...]] | None = None
) -> list[dict[str, Any]]:
    """Fail on any serious or critical axe violation of the screen; return the minor and
    moderate ones (also saved with the rest of the result).

    ``waive`` names a violation known and reported to the owner of the screen, narrowly:
    a rule id and the exact elements (axe's selector) it may flag; any other element or
    rule still fails. Each waiver is a debt with an owner, not a pass."""
    found = violations(page)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{screen}.json").write_text(
        json.dumps(found, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    allowed = waive or {}
    bad = []
    for v in found:
        if v["impact"] not in FAILING:
            continue
        nodes = [n for n in v["nodes"] if " ".join(n["target"]) not in allowed.get(v["id"], ())]
        if nodes:
            bad.append({**v, "nodes": nodes})
    assert not bad, f"axe on the {screen} screen:\n{describe(bad)}"
    return [v for v in found if v["impact"] not in FAILING]
