"""Schemathesis over routing's, SLA's and notify's exported OpenAPI specs, against live
services: no 5xx, and every response is documented (status and content type) and
matches its documented schema.

The attacker's view of threat 9 (input bounds): the specs' examples, then the coverage
phase (boundary values: the longest and shortest strings, the largest integers, NUL
bytes, wrong types, missing fields), then random valid and invalid requests, all with
credentials so they reach the handlers. The services run in a system of their own:
generated requests change state (calendar overrides, opt-outs) that the session's other
tests must not see.

Runs schemathesis' command line (its phases are its own; the pytest plugin does not load
under pytest 9), one run per service.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.credentials import api_headers
from tests.support.infra import Infra
from tests.support.officials import DONG_LAM, Official, application, submit
from tests.support.processes import ServiceProcess
from tests.support.story import eventually
from tests.support.system import running_system

pytestmark = pytest.mark.e2e
SPECS = Path(__file__).resolve().parents[2] / "contracts" / "openapi"
CLI = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 100  # per operation and phase: about a minute for the three on this machine
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@pytest.fixture(scope="module")
def fuzzed_system(infra: Infra) -> Iterator[dict[str, ServiceProcess]]:
    with running_system(infra) as processes:
        yield processes


@pytest.fixture(scope="module")
def config_file(fuzzed_system: dict[str, ServiceProcess], tmp_path_factory: Any) -> Path:
    """A dossier with an open task, so generated actions reach the handlers (and the
    database) instead of stopping at 404: its ids fill the path parameters."""
    receipt = submit(fuzzed_system["intake"].url, application("1.001193"))
    official = Official(fuzzed_system["routing"].url, DONG_LAM)

    def its_task() -> dict[str, Any] | None:
        return next((t for t in official.inbox() if t["dossier_id"] == receipt["id"]), None)

    task = eventually(its_task)
    lines = [
        "[parameters]",
        f"task_id = {json.dumps(task['task_id'])}",
        f"dossier_id = {json.dumps(receipt['id'])}",
        f"correlation_id = {json.dumps(task['task_id'])}",
    ]
    path: Path = tmp_path_factory.mktemp("schemathesis") / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def schemathesis_run(
    service: str, url: str, headers: dict[str, str], config: Path, seed: int
) -> list[str]:
    """The command line of one run over a service's spec."""
    command = [
        str(CLI),
        "--config-file",
        str(config),
        "run",
        str(SPECS / f"{service}.json"),
        "--url",
        url,
        "--phases",
        "examples,coverage,fuzzing",
        "--mode",
        "all",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(seed),
        # One worker: schemathesis' coverage phase parses Python concurrently, which
        # CPython 3.11 does not survive (SystemError: AST recursion depth mismatch).
        "--workers",
        "1",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--generation-allow-x00",
        "true",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--no-color",
        # The shared runtime's probes and Prometheus text: not part of the API.
        "--exclude-path-regex",
        "^/(healthz|readyz|metrics)$",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return command


@pytest.mark.parametrize("service", ["routing", "sla", "notify"])
def test_generated_requests_get_no_5xx_and_documented_answers(
    fuzzed_system: dict[str, ServiceProcess], config_file: Path, service: str
) -> None:
    headers = api_headers(service, fuzzed_system["routing"].url)
    url = fuzzed_system[service].url
    command = schemathesis_run(service, url, headers, config_file, seed=20261122)
    run = subprocess.run(  # in a scratch directory: schemathesis leaves a cache behind
        command, capture_output=True, text=True, timeout=600, check=False, cwd=config_file.parent
    )
    report = run.stdout[-20000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert " generated, " in run.stdout and " passed" in run.stdout, report
