"""The alert rules pass promtool, every alert has a promtool test, and the rules and the
Grafana dashboard name only metrics the services really export."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.support import REPO, run, tool

RULES = REPO / "deploy" / "prometheus"
RULE_FILES = (RULES / "alerts.yaml", RULES / "platform-alerts.yaml")
RULE_TESTS = RULES / "tests" / "platform-alerts.test.yaml"
DASHBOARD = REPO / "deploy" / "monitoring" / "grafana-platform.json"
ADAPTER = REPO / "deploy" / "monitoring" / "prometheus-adapter-rules.yaml"
# Modules whose import registers the services' metrics (prometheus_client's registry).
METRIC_MODULES = (
    "services.runtime.metrics",
    "services.runtime.data_access",
    "services.runtime.retention",
    "services.intake.groupcommit",
    "services.intake.adapters.webhook_sender",
    "services.intake.adapters.national_sender",
)
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "irate",
    "delta", "deriv", "histogram_quantile", "absent", "time", "offset", "and", "or",
    "unless", "bool", "on", "ignoring", "group_left", "group_right", "topk", "bottomk",
    "label_values", "clamp_min", "clamp_max", "vector", "scalar",
}  # fmt: skip


def exported_metrics() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (labels, strings, ranges removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e\d+)?(?:ms|[smhdwy])?\b", "", text)  # numbers, durations
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {w for w in words if w not in PROMQL_WORDS}


def alerts(path: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(re.sub(r"label_values\((\w+),.*\)", r"\1", variable["query"]))
    return exprs


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_checks_the_rules(path: Path) -> None:
    done = run(tool("promtool"), "check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    done = run(tool("promtool"), "test", "rules", RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_test_fails_when_an_alert_stops_firing(tmp_path: Path) -> None:
    """The tests decide: raise a threshold and the expected alert no longer comes."""
    rules = (RULES / "platform-alerts.yaml").read_text(encoding="utf-8")
    rules = rules.replace("(outbox_oldest_age_seconds) > 120", "(outbox_oldest_age_seconds) > 1e9")
    (tmp_path / "platform-alerts.yaml").write_text(rules, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    test_file = tmp_path / "tests" / RULE_TESTS.name
    test_file.write_text(RULE_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    done = run(tool("promtool"), "test", "rules", test_file)
    assert done.returncode != 0
    assert "OutboxStalled" in done.stdout + done.stderr


def test_every_platform_alert_has_a_promtool_test() -> None:
    declared = {rule["alert"] for rule in alerts(RULES / "platform-alerts.yaml")}
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert declared == firing, f"alerts without a firing test: {sorted(declared - firing)}"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_name_only_exported_metrics(path: Path) -> None:
    exported = exported_metrics()
    for rule in alerts(path):
        unknown = metric_names(str(rule["expr"])) - exported
        assert not unknown, f"{rule['alert']} uses metrics nobody exports: {sorted(unknown)}"


def test_dashboard_parses_and_names_only_exported_metrics() -> None:
    exported = exported_metrics()
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["uid"] == "onestop-platform"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"not exported: {sorted(names - exported)} in {expr!r}"
        used |= names
    # The panels cover what the alerts watch.
    for watched in (
        "consumer_lag",
        "outbox_oldest_age_seconds",
        "dead_letters_total",
        "parked_records_pending",
        "webhook_delivery_attempts_total",
        "deadlines",
    ):
        assert watched in used  # fmt: skip


def test_the_metric_parser_finds_names_and_ignores_labels() -> None:
    expr = 'sum by (job) (rate(http_request_duration_seconds_count{status=~"5.."}[5m])) / 2'
    assert metric_names(expr) == {"http_request_duration_seconds_count"}
    assert metric_names("max by (kind) (deadlines) - max (deadlines offset 1h)") == {"deadlines"}
    numbers = "max (outbox_oldest_age_seconds) > 1e9 * 2.5"
    assert metric_names(numbers) == {"outbox_oldest_age_seconds"}


def test_the_adapter_serves_the_gauge_the_autoscalers_read() -> None:
    rule = yaml.safe_load(ADAPTER.read_text(encoding="utf-8"))["rules"]["custom"][0]
    assert rule["name"]["as"] == "consumer_lag"
    assert metric_names(rule["seriesQuery"]) == {"consumer_lag"} <= exported_metrics()
