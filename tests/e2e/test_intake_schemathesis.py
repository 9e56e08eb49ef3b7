"""Property-based run of intake's exported OpenAPI spec against the live service: no 5xx,
and every response matches its own documented schema.

Uses schemathesis' Python API (its pytest plugin does not load under pytest 9): one test
per operation, each drawing a bounded number of generated requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.credentials import portal_headers, service_headers
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e
SPEC = Path(__file__).resolve().parents[2] / "contracts" / "openapi" / "intake.json"
OPS_ROUTES = ("/healthz", "/readyz", "/metrics")  # the shared runtime's; /metrics is text
CREDENTIALS = {**portal_headers(), **service_headers("ops")}
OPERATIONS = [
    (method.upper(), path)
    for path, methods in json.loads(SPEC.read_text(encoding="utf-8"))["paths"].items()
    if path not in OPS_ROUTES
    for method in methods
]


@pytest.fixture(scope="module")
def intake_api(system: dict[str, ServiceProcess]) -> Any:
    schema = schemathesis.openapi.from_path(SPEC)
    schema.config.update(base_url=system["intake"].url, headers=CREDENTIALS)
    return schema


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_intake_answers_generated_requests_without_5xx_and_per_its_schema(
    intake_api: Any, method: str, path: str
) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operation = intake_api[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def exercise(case: Any) -> None:
        case.call_and_validate(
            headers=CREDENTIALS, checks=[not_a_server_error, response_schema_conformance]
        )

    exercise()
