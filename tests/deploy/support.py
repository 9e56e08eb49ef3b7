"""Running the deployment tools that deploy/tools.sh installs into .cache."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
BIN = CACHE / "bin"
CHART = REPO / "deploy" / "helm" / "onestop"
CI_VALUES = CHART / "ci" / "secrets-values.yaml"
K8S_VERSIONS = ("1.30.0", "1.37.0")
CUSTOM_GROUPS = ("kafka.strimzi.io", "postgresql.cnpg.io")
SERVICES = ("intake", "routing", "sla", "notify")


def tool(name: str) -> Path:
    path = BIN / name
    assert path.exists(), f"{path} is missing: run deploy/tools.sh (make test does)"
    return path


def run(*args: str | Path, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        input=input_text,
        timeout=300,
        check=False,
        cwd=REPO,
    )


def render(*extra: str, kube_version: str = K8S_VERSIONS[-1]) -> str:
    done = run(
        tool("helm"), "template", "onestop", CHART, "--namespace", "onestop",
        "--kube-version", kube_version, *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def custom_resources(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"].split("/")[0] in CUSTOM_GROUPS]


def to_json(docs: list[dict[str, Any]], path: Path) -> Path:
    path.write_text(json.dumps(docs), encoding="utf-8")
    return path
