"""The Helm chart renders, validates, and says what the services really read and serve.

helm lint and helm template run on the chart; kubeconform checks every built-in
resource strictly against the Kubernetes schemas of the oldest and newest supported
releases; the Strimzi and CloudNativePG resources are checked against their CRD schemas
(deploy/helm/validate). Then the rendered objects are held against the code: every
setting is one the service reads, no secret sits in a ConfigMap, the production
settings the chart gives pass the services' own start-up refusals, the probes hit routes
the apps serve, the NetworkPolicies open exactly the REST calls the settings point at,
and the topics are those of contracts/topics.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from contracts.topics import DLQ_SUFFIX, TOPICS
from services.intake.config import IntakeSettings
from services.notify.app import NotifySettings
from services.routing.app import RoutingSettings
from services.routing.console.common import ConsoleSettings
from services.runtime.settings import ServiceSettings
from services.sla.app import SlaSettings
from tests.deploy.support import (
    CACHE,
    CHART,
    CI_VALUES,
    K8S_VERSIONS,
    SERVICES,
    by_kind,
    custom_resources,
    documents,
    render,
    run,
    to_json,
    tool,
)
from tools import helm_topics

SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "intake": (IntakeSettings,),
    "routing": (RoutingSettings, ConsoleSettings),
    "sla": (SlaSettings,),
    "notify": (NotifySettings,),
}
PRIMARY: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "sla": SlaSettings,
    "notify": NotifySettings,
}
SECRET_ENDINGS = ("password", "secret", "secret_key", "api_key", "access_token", "receipt_token")


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    """The chart as the province installs it: Secrets made elsewhere, named only."""
    return documents(render())


@pytest.fixture(scope="module")
def staged() -> list[dict[str, Any]]:
    """The chart rendering its own Secrets (staging and these tests)."""
    return documents(render("-f", str(CI_VALUES)))


def config_of(docs: list[dict[str, Any]], service: str) -> dict[str, str]:
    data: dict[str, str] = by_kind(docs, "ConfigMap")[f"onestop-{service}-config"]["data"]
    return data


def secret_env(docs: list[dict[str, Any]], service: str) -> dict[str, str]:
    data: dict[str, str] = by_kind(docs, "Secret")[f"onestop-{service}-secrets"]["stringData"]
    return data


def container(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    spec = by_kind(docs, "Deployment")[f"onestop-{service}"]["spec"]["template"]["spec"]
    found: dict[str, Any] = spec["containers"][0]
    return found


def known_settings(service: str) -> set[str]:
    return {name.upper() for cls in SETTINGS[service] for name in cls.model_fields}


def secret_settings(service: str) -> set[str]:
    """Settings holding secrets: declared as such, typed SecretStr, or named like one."""
    names: set[str] = set()
    for cls in SETTINGS[service]:
        names.update(getattr(cls, "secret_settings", ()))
        for name, field in cls.model_fields.items():
            # TRUSTED_SERVICE_TOKENS holds digests only: configuration (docs/SECURITY.md).
            if (
                field.annotation is SecretStr
                or name == "service_token"
                or name.endswith(SECRET_ENDINGS)
            ):
                names.add(name)
    return {n.upper() for n in names}


# --- the tools -------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, CI_VALUES], ids=["production", "staged"])
def test_helm_lint_passes_strictly(values: Path | None) -> None:
    extra = ["-f", str(values)] if values else []
    done = run(tool("helm"), "lint", "--strict", CHART, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("kube_version", K8S_VERSIONS)
@pytest.mark.parametrize("values", [None, CI_VALUES], ids=["production", "staged"])
def test_kubeconform_accepts_every_builtin_resource(
    kube_version: str, values: Path | None, tmp_path: Path
) -> None:
    extra = ["-f", str(values)] if values else []
    rendered = tmp_path / "chart.yaml"
    rendered.write_text(render(*extra, kube_version=kube_version), encoding="utf-8")
    schemas = CACHE / "k8s-schemas" / f"v{kube_version}"
    assert (schemas / ".done").exists(), "run deploy/tools.sh"
    done = run(
        tool("kubeconform"), "-strict", "-summary", "-output", "text",
        "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        # The operators' kinds are checked against their CRDs below, not skipped unseen.
        "-skip", "Kafka,KafkaNodePool,KafkaTopic,KafkaUser,Cluster",
        rendered,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    docs = documents(rendered.read_text(encoding="utf-8"))
    builtin = len(docs) - len(custom_resources(docs))
    assert f"Valid: {builtin}, Invalid: 0, Errors: 0" in done.stdout, done.stdout


def test_kubeconform_refuses_an_unknown_field(tmp_path: Path) -> None:
    """The schemas are strict: a misspelt probe field is an error, not ignored."""
    docs = documents(render())
    deployment = by_kind(docs, "Deployment")["onestop-intake"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    schemas = CACHE / "k8s-schemas" / f"v{K8S_VERSIONS[-1]}"
    done = run(
        tool("kubeconform"), "-strict",
        "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", bad,
    )  # fmt: skip
    assert done.returncode == 1
    assert "periodSecond" in done.stdout


def crd_check(docs: list[dict[str, Any]], tmp_path: Path) -> tuple[int, str]:
    validator = CACHE / "crd-validate" / "validate.mjs"
    assert validator.exists(), "run deploy/tools.sh"
    # The copy next to its node_modules must be the committed script.
    committed = (CHART.parent / "validate" / "validate.mjs").read_text(encoding="utf-8")
    validator.write_text(committed, encoding="utf-8")
    done = run("node", validator, to_json(docs, tmp_path / "crs.json"))
    return done.returncode, done.stdout + done.stderr


def test_operator_resources_match_their_crds(staged: list[dict[str, Any]], tmp_path: Path) -> None:
    crs = custom_resources(staged)
    kinds = {d["kind"] for d in crs}
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"}
    code, out = crd_check(crs, tmp_path)
    assert code == 0, out
    assert f"{len(crs)} custom resources checked, 0 problem(s)" in out


def test_crd_check_refuses_a_misspelt_or_mistyped_field(
    staged: list[dict[str, Any]], tmp_path: Path
) -> None:
    staged = copy.deepcopy(staged)
    kafka = by_kind(staged, "Kafka")["onestop-kafka"]
    kafka["spec"]["kafka"]["autorization"] = kafka["spec"]["kafka"].pop("authorization")
    cluster = by_kind(staged, "Cluster")["onestop-pg"]
    cluster["spec"]["instances"] = "three"
    code, out = crd_check([kafka, cluster], tmp_path)
    assert code == 1
    assert "autorization" in out
    assert "Cluster/onestop-pg: data/spec/instances must be integer" in out


# --- settings ------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_the_chart_gives_is_read_by_the_service(
    staged: list[dict[str, Any]], service: str
) -> None:
    given = set(config_of(staged, service)) | set(secret_env(staged, service))
    given |= {e["name"] for e in container(staged, service)["env"]}
    unknown = given - known_settings(service)
    assert not unknown, f"{service} reads no setting named {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_secret_sits_in_a_config_map(staged: list[dict[str, Any]], service: str) -> None:
    config = config_of(staged, service)
    leaked = {k for k, v in config.items() if v} & secret_settings(service)
    assert not leaked, f"secrets in {service}'s ConfigMap: {sorted(leaked)}"
    env = container(staged, service)["env"]
    assert all("valueFrom" in e for e in env), "env values come from Secrets only"


def test_a_secret_in_config_is_refused_at_render() -> None:
    done = run(
        tool("helm"), "template", "onestop", CHART, "--kube-version", K8S_VERSIONS[-1],
        "--set", "services.notify.config.ESMS_API_KEY=abc123abc123abc123abc123abc",
    )  # fmt: skip
    assert done.returncode != 0
    assert "ESMS_API_KEY is a secret" in done.stderr


def mount_secrets(docs: list[dict[str, Any]], service: str, root: Path) -> dict[str, str]:
    """Write the files of the Secrets the pod mounts under ``root``, as the kubelet
    would (each volume's items, or every key); mount path -> where they are here."""
    spec = by_kind(docs, "Deployment")[f"onestop-{service}"]["spec"]["template"]["spec"]
    secrets = by_kind(docs, "Secret")
    volumes = {v["name"]: v for v in spec["volumes"]}
    placed: dict[str, str] = {}
    for mount in spec["containers"][0]["volumeMounts"]:
        source = volumes[mount["name"]].get("secret")
        if source is None or source["secretName"] not in secrets:
            continue  # made by an operator (CloudNativePG, Strimzi): not read at start
        data = secrets[source["secretName"]]["stringData"]
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        here = root / mount["name"]
        here.mkdir()
        for item in items:
            (here / item["path"]).write_text(data[item["key"]], encoding="utf-8")
        placed[mount["mountPath"]] = str(here)
    return placed


@pytest.mark.parametrize("service", SERVICES)
def test_the_charts_production_settings_pass_the_services_own_refusals(
    staged: list[dict[str, Any]], service: str, tmp_path: Path
) -> None:
    env = config_of(staged, service) | secret_env(staged, service)
    # Files the settings name are read from the Secrets the pod mounts.
    for mount_path, here in mount_secrets(staged, service, tmp_path).items():
        env = {k: v.replace(mount_path + "/", here + "/") for k, v in env.items()}
    assert env["ENVIRONMENT"] == "production"
    # What the operators put in their Secrets: CloudNativePG's DSN, the KafkaUser password.
    env["DATABASE_URL"] = (
        "postgresql://onestop:N8vQ2xLr5Tw9Kp3Hm6Yb@onestop-pg-rw.onestop:5432/onestop"
    )
    env["KAFKA_SASL_PASSWORD"] = "Pq7Wr2Lx9Nv4Tk6Hb3Ym8Jd"
    settings = PRIMARY[service].model_validate({k.lower(): v for k, v in env.items()})
    assert settings.insecure_settings() == []
    assert settings.kafka_uses_tls
    assert "sslmode=verify-full" in settings.database_dsn


def test_routing_reads_its_signing_key_from_a_mounted_secret(staged: list[dict[str, Any]]) -> None:
    config = config_of(staged, "routing")
    assert config["SEED_DEMO_OFFICIALS"] == "false"
    mount = next(
        m for m in container(staged, "routing")["volumeMounts"] if m["name"] == "signing-key"
    )
    assert config["JWT_SIGNING_KEY_FILE"].startswith(mount["mountPath"] + "/")
    assert "signing.pem" in by_kind(staged, "Secret")["onestop-routing-signing-key"]["stringData"]


def test_production_renders_no_secret_of_its_own(production: list[dict[str, Any]]) -> None:
    assert by_kind(production, "Secret") == {}
    for service in SERVICES:
        refs = [e["secretRef"]["name"] for e in container(production, service)["envFrom"]
                if "secretRef" in e]  # fmt: skip
        assert refs == [f"onestop-{service}-secrets"]


# --- probes, scaling, disruption -------------------------------------------------------


def app_paths(service: str) -> set[str]:
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    app = module.build_app()
    return set(app.openapi()["paths"])


@pytest.mark.parametrize("service", SERVICES)
def test_probes_hit_routes_the_service_serves(staged: list[dict[str, Any]], service: str) -> None:
    c = container(staged, service)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz", "/metrics"} <= app_paths(service)
    port = int(config_of(staged, service)["PORT"])
    assert c["ports"][0]["containerPort"] == port
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_scales_on_cpu_and_consumer_lag(
    staged: list[dict[str, Any]], service: str
) -> None:
    hpa = by_kind(staged, "HorizontalPodAutoscaler")[f"onestop-{service}"]
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "consumer_lag"
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = by_kind(staged, "PodDisruptionBudget")[f"onestop-{service}"]
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == service


def test_consumer_lag_is_the_gauge_the_services_export() -> None:
    from services.runtime.metrics import CONSUMER_LAG

    assert CONSUMER_LAG._name == "consumer_lag"  # what prometheus-adapter serves to the HPA


# --- network policies --------------------------------------------------------------------


def pod_peers(rules: list[dict[str, Any]], key: str) -> dict[str, set[int]]:
    """Service name -> ports, for the rules naming a service's pods."""
    found: dict[str, set[int]] = {}
    for rule in rules:
        ports = {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get(key, []):
            name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if name in SERVICES and "namespaceSelector" not in peer:
                found.setdefault(name, set()).update(ports)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_network_policies_open_exactly_the_rest_calls_the_settings_make(
    staged: list[dict[str, Any]], service: str
) -> None:
    policies = by_kind(staged, "NetworkPolicy")
    ports = {s: int(config_of(staged, s)["PORT"]) for s in SERVICES}
    called: dict[str, set[int]] = {}
    for key, value in config_of(staged, service).items():
        if not key.endswith("_URL") or not value.startswith("http://onestop-"):
            continue
        host = urlsplit(value)
        callee = str(host.hostname).removeprefix("onestop-")
        called.setdefault(callee, set()).add(int(host.port or 80))
    assert "routing" in called  # the JWKS, at least
    egress = pod_peers(policies[f"onestop-{service}"]["spec"]["egress"], "to")
    assert egress == called
    for callee, callee_ports in called.items():
        assert callee_ports == {ports[callee]}
        ingress = pod_peers(policies[f"onestop-{callee}"]["spec"]["ingress"], "from")
        assert service in ingress, f"{callee} does not admit {service}"


def test_only_intake_and_notify_reach_beyond_the_cluster(staged: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        egress = by_kind(staged, "NetworkPolicy")[f"onestop-{service}"]["spec"]["egress"]
        blocks = [p["ipBlock"] for r in egress for p in r["to"] if "ipBlock" in p]
        if service == "intake":  # portals' callbacks: public addresses only
            assert blocks and all("10.0.0.0/8" in b["except"] for b in blocks)
        else:
            assert blocks == [], f"{service} reaches outside: {blocks}"


def test_intake_reaches_vnpay_and_the_national_portal_where_they_are_listed() -> None:
    """And routing the postal service: each partner only from the service that calls it."""
    listed = (
        "--set", "networkPolicy.paymentEgress.cidrs={203.0.113.0/24}",
        "--set", "networkPolicy.dvcqgEgress.cidrs={10.50.0.0/16}",
        "--set", "networkPolicy.postalEgress.cidrs={198.51.100.0/24}",
    )  # fmt: skip
    docs = documents(render("-f", str(CI_VALUES), *listed))
    for service in SERVICES:
        egress = by_kind(docs, "NetworkPolicy")[f"onestop-{service}"]["spec"]["egress"]
        https = {
            p["ipBlock"]["cidr"]
            for r in egress
            if {"port": 443, "protocol": "TCP"} in r.get("ports", [])
            for p in r["to"]
            if "ipBlock" in p and not p["ipBlock"].get("except")
        }
        expected = {
            "intake": {"203.0.113.0/24", "10.50.0.0/16"},
            "routing": {"198.51.100.0/24"},
        }.get(service, set())
        assert https == expected, service


# --- Kafka and PostgreSQL through the operators ------------------------------------------


def test_kafka_is_a_three_node_kraft_cluster_that_keeps_acknowledged_writes(
    staged: list[dict[str, Any]],
) -> None:
    pool = by_kind(staged, "KafkaNodePool")["onestop-kafka-nodes"]["spec"]
    assert pool["replicas"] == 3
    assert set(pool["roles"]) == {"controller", "broker"}  # KRaft, no ZooKeeper
    config = by_kind(staged, "Kafka")["onestop-kafka"]["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["default.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False


def test_topics_are_those_of_the_contracts(staged: list[dict[str, Any]]) -> None:
    assert helm_topics.main(["--check"]) == 0, "run python -m tools.helm_topics"
    topics = {t["spec"]["topicName"]: t["spec"] for t in by_kind(staged, "KafkaTopic").values()}
    wanted = {s.name: s.partitions for s in TOPICS} | {s.name + DLQ_SUFFIX: 1 for s in TOPICS}
    assert {name: spec["partitions"] for name, spec in topics.items()} == wanted
    assert all(spec["replicas"] == 3 for spec in topics.values())
    assert all(spec["config"]["min.insync.replicas"] == 2 for spec in topics.values())


def test_each_service_may_use_only_its_own_topics(staged: list[dict[str, Any]]) -> None:
    users = {u["metadata"]["name"]: u["spec"] for u in by_kind(staged, "KafkaUser").values()}
    for spec in TOPICS:
        consumers = {g.split("-")[0] for g in spec.consumers}
        for service in SERVICES:
            acls = users[f"onestop-{service}"]["authorization"]["acls"]
            reads = {a["resource"]["name"] for a in acls if "Read" in a["operations"]}
            writes = {a["resource"]["name"] for a in acls if "Write" in a["operations"]}
            assert (spec.name in reads) == (service in consumers)
            # The producer, and a consumer replaying a dead letter, write the topic.
            assert (spec.name in writes) == (service == spec.producer or service in consumers)
            assert (spec.name + DLQ_SUFFIX in writes) == (service in consumers)
    for service in SERVICES:
        config = config_of(staged, service)
        assert config["KAFKA_SASL_USERNAME"] == f"onestop-{service}"
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_postgres_is_a_replicated_cloudnativepg_cluster(staged: list[dict[str, Any]]) -> None:
    cluster = by_kind(staged, "Cluster")["onestop-pg"]["spec"]
    assert cluster["instances"] == 3
    for service in SERVICES:
        (url,) = [e for e in container(staged, service)["env"] if e["name"] == "DATABASE_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "onestop-pg-app", "key": "uri"}


def test_the_migration_job_runs_before_an_upgrade(staged: list[dict[str, Any]]) -> None:
    (job,) = by_kind(staged, "Job").values()
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert "pre-upgrade" in hooks and "post-install" in hooks
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["python", "-m", "services.runtime.migrate"]
    assert set(command[3:]) == set(SERVICES)
