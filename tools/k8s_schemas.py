"""Standalone, strict JSON schemas of the Kubernetes kinds the chart renders, for kubeconform.

kubeconform reads one schema file per kind (``deployment-apps-v1.json``: kind, group's first
word, version) and would download them; CI has no such network. PyPI's
``kubernetes-validate`` ships the schemas of each Kubernetes release, generated from the
API's OpenAPI document, in a layout whose ``$ref``s point into one shared
``_definitions.json`` by URL. This tool makes each wanted kind's file self-contained: the
definitions it reaches are copied under ``$defs`` and the references rewritten to them, so
kubeconform resolves everything locally. The ``-strict`` flavour is used: unknown fields
are errors (``additionalProperties: false``), as with kubeconform's own strict schemas.

``python -m tools.k8s_schemas WHEEL VERSION OUT`` (deploy/tools.sh runs it).
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

# The kinds the chart renders (a new kind fails kubeconform until it is listed here).
KINDS = (
    "configmap-v1",
    "secret-v1",
    "service-v1",
    "serviceaccount-v1",
    "deployment-apps-v1",
    "job-batch-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "poddisruptionbudget-policy-v1",
    "networkpolicy-networking-v1",
)
DEFS_REF = "/api/_definitions.json#/$defs/"  # from a kind's file into the shared file
LOCAL_REF = "#/$defs/"  # within the shared file


def _name(ref: str) -> str | None:
    for prefix in (DEFS_REF, LOCAL_REF):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return None


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        name = _name(ref) if isinstance(ref, str) else None
        if name is not None:
            found.add(name)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v) for k, v in node.items() if k != "$id"}
        ref = out.get("$ref")
        name = _name(ref) if isinstance(ref, str) else None
        if name is not None:
            out["$ref"] = LOCAL_REF + name
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def standalone(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """The schema with every definition it reaches, transitively, under its own $defs."""
    wanted: set[str] = set()
    _refs(schema, wanted)
    todo = list(wanted)
    while todo:
        name = todo.pop()
        found: set[str] = set()
        _refs(definitions[name], found)
        for ref in found - wanted:
            wanted.add(ref)
            todo.append(ref)
    out: dict[str, Any] = _rewrite(schema)
    out["$defs"] = {name: _rewrite(definitions[name]) for name in sorted(wanted)}
    return out


def extract(wheel: Path, version: str, out: Path) -> list[Path]:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with zipfile.ZipFile(wheel) as archive:
        definitions = json.loads(archive.read(prefix + "_definitions.json"))["$defs"]
        for kind in KINDS:
            schema = json.loads(archive.read(f"{prefix}{kind}.json"))
            path = out / f"{kind}.json"
            path.write_text(json.dumps(standalone(schema, definitions)), encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m tools.k8s_schemas WHEEL VERSION OUT\n")
        return 2
    written = extract(Path(argv[0]), argv[1], Path(argv[2]))
    print(f"{len(written)} schemas in {argv[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
