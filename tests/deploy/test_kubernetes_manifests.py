"""deploy/kubernetes: valid against the Kubernetes schemas (offline, kubernetes-validate),
buildable by kustomize, and consistent with the server they deploy (ports, settings,
probes, shutdown timing, metric names)."""

from __future__ import annotations

from pathlib import Path

import gatewise.gateway.metrics  # noqa: F401 - registers the gatewise_* metrics
import kubernetes_validate
import pytest
from prometheus_client import REGISTRY

from deploy.manifests import (
    KUBERNETES,
    documents,
    env,
    kustomizations,
    kustomize_build,
    resources_by_kind,
    serve_envvars,
)

# 1.27: native gRPC probes are GA from here; 1.37: the newest schemas kubernetes-validate has.
VERSIONS = ["1.27", kubernetes_validate.latest_version()]
BASE = KUBERNETES / "base"
KUBERNETES_FILES = sorted(
    path for path in KUBERNETES.rglob("*.yaml")
    if path.name != "kustomization.yaml" and "prometheus-adapter" not in path.parts
)  # fmt: skip


def validate(document: dict, version: str) -> None:
    kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", KUBERNETES_FILES, ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_each_file_is_valid_against_the_kubernetes_schema(path: Path, version: str) -> None:
    """Strict: an unknown or misspelt field fails, not only a wrong type."""
    for document in documents(path):
        if path.parent.name == "models-pvc" and path.name == "models-volume.yaml":
            continue  # a strategic-merge patch, checked once kustomize has applied it
        validate(document, version)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = resources_by_kind(BASE)["Deployment"]
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError, match="terminationGracePeriod"):
        validate(deployment, VERSIONS[-1])


def test_kustomization_lists_every_base_file() -> None:
    listed = set(documents(BASE / "kustomization.yaml")[0]["resources"])
    assert listed == {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_kustomize_builds_valid_resources(folder: Path) -> None:
    built = kustomize_build(folder)
    if built is None:
        pytest.skip("no kubectl on PATH to run kustomize (each file is still validated on its own)")
    for document in built:
        for version in VERSIONS:
            validate(document, version)
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/name"] == "gatewise" for doc in built)


def test_pvc_overlay_mounts_the_claim_read_only_at_models() -> None:
    built = kustomize_build(KUBERNETES / "overlays" / "models-pvc")
    if built is None:
        pytest.skip("no kubectl on PATH to run kustomize")
    deployment = next(doc for doc in built if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    claim = next(volume for volume in pod["volumes"] if "persistentVolumeClaim" in volume)
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == claim["name"])
    assert (mount["mountPath"], mount["readOnly"]) == ("/models", True)
    assert claim["persistentVolumeClaim"]["claimName"] in {doc["metadata"]["name"] for doc in built}


# ------------------------------------------------------------------ consistency with the server


@pytest.fixture
def base() -> dict[str, dict]:
    return resources_by_kind(BASE)


def container(base: dict[str, dict]) -> dict:
    return base["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_every_environment_variable_is_read_by_gatewise_serve(base: dict[str, dict]) -> None:
    """A misspelt GATEWISE_* variable would be silently ignored by the server."""
    variables = env(container(base))
    assert sorted(set(variables) - serve_envvars()) == []


def test_probes_are_grpc_health_checks_on_the_served_port(base: dict[str, dict]) -> None:
    spec = container(base)
    port = int(env(spec)["GATEWISE_GRPC_PORT"])
    named = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert named["grpc"] == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert spec[probe]["grpc"]["port"] == port, probe
    # Liveness asks about the server only: a model that fails must not restart the pod.
    assert spec["livenessProbe"]["grpc"]["service"] == ""


def test_termination_grace_covers_drain_delay_and_grace_period(base: dict[str, dict]) -> None:
    variables = env(container(base))
    drain, grace = float(variables["GATEWISE_DRAIN_DELAY_S"]), float(variables["GATEWISE_GRACE_PERIOD_S"])
    assert drain > 0, "without a drain delay clients still routing here would get UNAVAILABLE"
    termination = base["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert termination >= drain + grace + 2, "kubelet's SIGKILL would cut the drain short"


def test_metrics_annotations_point_at_the_metrics_port(base: dict[str, dict]) -> None:
    annotations = base["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == env(container(base))["GATEWISE_METRICS_PORT"]


def test_service_is_headless_and_selects_the_pods(base: dict[str, dict]) -> None:
    service, pod_labels = base["Service"], base["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"] for p in container(base)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    assert base["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_autoscaler_metric_is_served_by_the_adapter_rule_and_exported_by_the_gateway(base: dict[str, dict]) -> None:
    hpa = base["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == base["Deployment"]["metadata"]["name"]
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    rules = documents(KUBERNETES / "prometheus-adapter" / "values.yaml")[0]["rules"]["custom"]
    served = {rule["name"]["as"] for rule in rules}
    assert wanted and wanted <= served
    exported = {metric.name for metric in REGISTRY.collect()}
    for rule in rules:
        series = rule["seriesQuery"].split("{")[0]
        assert series in exported, f"{series} is not a metric the gateway exports"


# ------------------------------------------------------------------ secure by default


def test_the_api_key_file_comes_from_a_secret_the_server_accepts(base: dict[str, dict]) -> None:
    """GATEWISE_AUTH_KEYS_FILE is a file of the Secret volume, mounted read-only, mode 0440
    (root-owned, group fsGroup: the only group-readable form the server accepts)."""
    pod = base["Deployment"]["spec"]["template"]["spec"]
    spec = container(base)
    keys_file = Path(env(spec)["GATEWISE_AUTH_KEYS_FILE"])
    mount = next(m for m in spec["volumeMounts"] if keys_file.is_relative_to(m["mountPath"]))
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    secret = volume["secret"]
    assert secret["defaultMode"] == 0o440, "owner and group read only: the server refuses a key file others may read"
    assert keys_file.relative_to(mount["mountPath"]).as_posix() in [item["path"] for item in secret["items"]]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert "GATEWISE_ALLOW_UNAUTHENTICATED" not in env(spec)
    assert "GATEWISE_REPOSITORY_CONTROL" not in env(spec)


def test_the_network_policy_admits_clients_to_grpc_and_http_and_monitoring_to_metrics(base: dict[str, dict]) -> None:
    policy, pod_labels = base["NetworkPolicy"], base["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    named_ports = {p["name"] for p in container(base)["ports"]}
    rules = {port["port"]: rule["from"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert set(rules) == named_ports == {"http", "grpc", "metrics"}
    clients = [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"gatewise-client": "true"}}}]
    assert rules["grpc"] == rules["http"] == clients
    service_ports = {port["name"]: port["targetPort"] for port in base["Service"]["spec"]["ports"]}
    assert service_ports == {"http": "http", "grpc": "grpc", "metrics": "metrics"}
    assert all("namespaceSelector" in peer and peer["namespaceSelector"] for peer in rules["metrics"])


def test_metrics_listen_on_the_pod_address_for_prometheus(base: dict[str, dict]) -> None:
    """The server's default is loopback; the pod is scraped at its IP, so the manifest says 0.0.0.0."""
    assert env(container(base))["GATEWISE_METRICS_HOST"] == "0.0.0.0"
