"""Threat 5: what a province deploys by default is safe. Without ENVIRONMENT a service is
in production; there it refuses to start with any known default or short secret, naming
each setting, and refuses while development accounts or the development portal exist."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.intake.app import build_app as build_intake
from services.intake.config import IntakeSettings
from services.routing.app import RoutingSettings
from services.routing.app import build_app as build_routing
from services.runtime.credentials import CALLERS
from services.runtime.tokens import SigningKey
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra, isolated_env
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.e2e
SERVICES = ("intake", "routing", "sla", "notify")
# The services that sign documents need the province's key, certificate and trust roots.
SIGNING = ["DOCUMENT_SIGNING_KEY_FILE", "DOCUMENT_SIGNING_CERT_FILE", "DOCUMENT_TRUST_ROOTS_FILE"]
# What each service must name when started with nothing but the defaults.
EXPECTED = {
    "intake": ["SERVICE_TOKEN", "TRUSTED_SERVICE_TOKENS", "DATABASE_URL", *SIGNING],
    "routing": [
        "SERVICE_TOKEN",
        "TRUSTED_SERVICE_TOKENS",
        "DATABASE_URL",
        "JWT_SIGNING_KEY_FILE",
        "SEED_DEMO_OFFICIALS",
        *SIGNING,
    ],
    "sla": ["SERVICE_TOKEN", "TRUSTED_SERVICE_TOKENS", "DATABASE_URL", *SIGNING],
    "notify": ["SERVICE_TOKEN", "TRUSTED_SERVICE_TOKENS", "DATABASE_URL", "RECEIPT_TOKEN_SECRET"],
}


def start_with(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO), "PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_start_with_the_defaults_is_production_and_refuses_naming_each_setting(
    service: str,
) -> None:
    answer = start_with(f"services.{service}", {})  # no ENVIRONMENT at all
    assert answer.returncode == 2, answer.stderr[-2000:]
    assert "refusing to start with ENVIRONMENT=production" in answer.stderr
    for setting in EXPECTED[service]:
        assert setting in answer.stderr, (setting, answer.stderr)
    assert "Traceback" not in answer.stderr  # a message for people, not a crash


def test_known_defaults_are_refused_even_when_set_explicitly() -> None:
    dev_digests = ",".join(
        f"{c}={hashlib.sha256(f'dev-{c}-token-change-me'.encode()).hexdigest()}" for c in CALLERS
    )
    answer = start_with(
        "services.sla",
        {
            "ENVIRONMENT": "production",
            "SERVICE_TOKEN": "dev-only-secret-change-me",
            "TRUSTED_SERVICE_TOKENS": dev_digests,
            "DATABASE_URL": "postgresql://onestop:short@127.0.0.1:5432/onestop",
        },
    )
    assert answer.returncode == 2
    assert "SERVICE_TOKEN is a known default value" in answer.stderr
    assert "TRUSTED_SERVICE_TOKENS accepts development tokens" in answer.stderr
    assert "DATABASE_URL has a default or short password" in answer.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_production_refuses_an_accelerated_clock(service: str) -> None:
    """Someone starts a production service with the simulation's clock (business time
    running 600 times faster, from a chosen epoch): deadlines and received times would be
    fiction. The service refuses to start, naming each clock setting."""
    answer = start_with(
        f"services.{service}",
        {
            "ENVIRONMENT": "production",
            "CLOCK_RATE": "600",
            "CLOCK_EPOCH": "2025-01-01T00:00:00+07:00",
            "CLOCK_ANCHOR": "2026-12-02T03:00:00+00:00",
        },
    )
    assert answer.returncode == 2, answer.stderr[-2000:]
    assert "CLOCK_RATE must be 1 in production" in answer.stderr
    assert "CLOCK_EPOCH must be unset in production" in answer.stderr
    assert "CLOCK_ANCHOR must be unset in production" in answer.stderr
    assert "Traceback" not in answer.stderr


class _SecretsChecked:
    """The secrets check has its own tests above; these are about the database's state."""

    def insecure_settings(self) -> list[str]:
        return []


class CheckedRouting(_SecretsChecked, RoutingSettings):
    pass


class CheckedIntake(_SecretsChecked, IntakeSettings):
    pass


async def test_production_refuses_while_development_accounts_or_the_dev_portal_exist(
    infra: Infra, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    admin = await asyncpg.connect(infra.database_url)
    try:
        # A developer ran the system once on this database: demo accounts, the dev portal.
        dev = {
            name: ServiceProcess(name, f"services.{name}", isolated_env(infra, prefix), free_port())
            for name in ("intake", "routing")
        }
        for proc in dev.values():
            proc.start()
        try:
            for proc in dev.values():
                proc.wait_ready()
        finally:
            for proc in dev.values():
                proc.stop()
        key = tmp_path / "signing.pem"
        key.write_bytes(SigningKey.generate().to_pem())
        common: dict[str, Any] = {
            "environment": "production",
            "database_url": infra.database_url,
            "kafka_bootstrap_servers": infra.kafka_bootstrap,
            "topic_prefix": prefix,
            "schema_prefix": prefix,
        }
        routing = build_routing(
            CheckedRouting(**common, seed_demo_officials=False, jwt_signing_key_file=str(key))
        )
        with pytest.raises(RuntimeError, match="development accounts exist"):
            async with routing.router.lifespan_context(routing):
                pass
        intake = build_intake(CheckedIntake(**common))
        with pytest.raises(RuntimeError, match="development portal exists"):
            async with intake.router.lifespan_context(intake):
                pass
        demo = await admin.fetchval(f'SELECT count(*) FROM "{prefix}routing".officials WHERE demo')
        assert demo > 0  # nothing was silently deleted either: the operator decides
    finally:
        for schema in ("intake", "routing"):
            await admin.execute(f'DROP SCHEMA IF EXISTS "{prefix}{schema}" CASCADE')
        await admin.close()
