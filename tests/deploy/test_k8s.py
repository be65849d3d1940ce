"""The Kubernetes manifests in deploy/k8s: valid against the Kubernetes schemas bundled by
kubernetes-validate (offline), KEDA ScaledObjects limited to the fields KEDA documents,
and one Deployment and one ScaledObject per role (schemas/stages.py), on the role's
consumer group, the roles running every stage once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from kernel.settings import Settings
from schemas.stages import ROLES, STAGE_NAMES, group_name

# The roles deployed: every registered role but the one of every stage at once.
DEPLOYED = [r for r in ROLES if r.name != "all"]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUSTOMIZATIONS = [K8S / "base", *sorted((K8S / "overlays").iterdir())]
# The oldest Kubernetes the manifests target (preStop `sleep` is 1.30) and the newest
# whose schemas kubernetes-validate bundles.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# KEDA's documented ScaledObject spec (keda.sh/docs/2.x/reference/scaledobject-spec/)
# and the metadata of its Apache Kafka scaler (keda.sh/docs/2.x/scalers/apache-kafka/).
SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback",
                      "advanced", "triggers"}
SCALE_TARGET_REF = {"name", "kind", "apiVersion", "envSourceContainerName"}
FALLBACK = {"failureThreshold", "replicas"}
ADVANCED = {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig",
            "scalingModifiers"}
TRIGGER = {"type", "metadata", "authenticationRef", "name", "useCachedMetrics", "metricType"}
KAFKA_METADATA = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                  "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
                  "scaleToZeroOnInvalidOffset", "excludePersistentLag", "version",
                  "partitionLimitation", "sasl", "tls"}
KAFKA_REQUIRED = {"bootstrapServers", "consumerGroup"}


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _render(directory: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = _render_module().render(directory)
    return docs


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _config(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = _by_kind(docs, "ConfigMap")["chatstream-config"]["data"]
    return data


def test_every_manifest_file_is_part_of_a_kustomization() -> None:
    listed: set[Path] = set()
    for k in KUSTOMIZATIONS:
        spec = yaml.safe_load((k / "kustomization.yaml").read_text())
        listed |= {(k / r).resolve() for r in spec.get("resources", [])}
        listed |= {(k / p["path"]).resolve() for p in spec.get("patches", [])}
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert files <= listed, f"not in any kustomization: {sorted(files - listed)}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes(kustomization: Path, version: str) -> None:
    docs = _render(kustomization)
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked against KEDA's documented spec below
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']}: "
                                 f"{exc.message} at {list(exc.path)}") from None
        checked += 1
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "Secret",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"} <= kinds
    assert checked >= 16


def test_the_validator_rejects_what_kubernetes_would() -> None:
    """The check has teeth: a misspelt field and a wrong type both fail offline."""
    deployment = _by_kind(_render(K8S / "base"), "Deployment")["chatstream-edge"]
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def _check_scaled_object(so: dict[str, Any]) -> None:
    name = so["metadata"]["name"]
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC, (name, set(spec) - SCALED_OBJECT_SPEC)
    assert set(spec["scaleTargetRef"]) <= SCALE_TARGET_REF
    assert set(spec.get("fallback", {})) <= FALLBACK
    assert set(spec.get("advanced", {})) <= ADVANCED
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        assert isinstance(spec.get(key, 0), int), (name, key)
    assert 0 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]
    assert spec["triggers"]
    for trigger in spec["triggers"]:
        assert set(trigger) <= TRIGGER, (name, set(trigger) - TRIGGER)
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert set(meta) <= KAFKA_METADATA, (name, set(meta) - KAFKA_METADATA)
        assert set(meta) >= KAFKA_REQUIRED
        # KEDA reads trigger metadata as strings.
        assert all(isinstance(v, str) for v in meta.values()), (name, meta)
        assert meta["offsetResetPolicy"] in ("earliest", "latest")
        int(meta["lagThreshold"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_each_role_scales_on_its_own_consumer_group(kustomization: Path) -> None:
    docs = _render(kustomization)
    config = _config(docs)
    partitions = int(config["CHATSTREAM_PARTITIONS"])
    prefix = config.get("CHATSTREAM_TOPIC_PREFIX", "")
    bootstrap = config["CHATSTREAM_BROKER"].removeprefix("kafka://")
    deployments = _by_kind(docs, "Deployment")
    scaled = _by_kind(docs, "ScaledObject")
    targets = set()
    for role in DEPLOYED:
        so = scaled[f"chatstream-{role.name}"]
        _check_scaled_object(so)
        target = so["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment"
        deployment = deployments[target["name"]]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        # The target runs exactly this role, so the group's lag is its own work.
        assert container["args"] == ["chatstream", "worker", role.name]
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
        # One trigger: the lag of the role's group ({prefix}chatstream-{role}) over every
        # topic it reads.
        [trigger] = so["spec"]["triggers"]
        assert trigger["metadata"]["consumerGroup"] == group_name(role.name, prefix)
        assert "topic" not in trigger["metadata"]
        assert trigger["metadata"]["bootstrapServers"] == bootstrap
        # A consumer beyond the partition count gets no partition: it would cost a pod
        # and a rebalance and add nothing.
        assert so["spec"]["maxReplicaCount"] <= partitions, role.name
        assert trigger["metadata"].get("allowIdleConsumers", "false") == "false"
        targets.add(target["name"])
    assert len(targets) == len(DEPLOYED)
    assert set(scaled) == {f"chatstream-{r.name}" for r in DEPLOYED}
    assert sorted(s for r in DEPLOYED for s in r.stages) == sorted(STAGE_NAMES)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_probes_and_disruption_budgets(kustomization: Path) -> None:
    docs = _render(kustomization)
    pdbs = _by_kind(docs, "PodDisruptionBudget")
    for name, d in _by_kind(docs, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        container = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        # The edge serves HTTP on 8000; workers /healthz /readyz /metrics on 9100.
        expected = 8000 if name == "chatstream-edge" else 9100
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                            ("startupProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert ports[get["port"]] == expected, (name, probe)
        labels = d["spec"]["selector"]["matchLabels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == labels
        assert {"configMapRef": {"name": "chatstream-config"}} in container["envFrom"]


def test_the_ingress_streams_sse_unbuffered() -> None:
    ingress = _by_kind(_render(K8S / "base"), "Ingress")["chatstream-edge"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


def test_overlays_patch_what_they_mean_to() -> None:
    prod = _render(K8S / "overlays/production")
    assert _config(prod)["CHATSTREAM_PARTITIONS"] == "24"
    assert all(d["metadata"]["namespace"] == "chatstream" for d in prod)
    edge = _by_kind(prod, "Deployment")["chatstream-edge"]
    container = edge["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/chatstream:0.1.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # merged, not lost
    inference = _by_kind(prod, "ScaledObject")["chatstream-inference"]
    assert inference["spec"]["maxReplicaCount"] == 24
    assert len(inference["spec"]["triggers"]) == 1


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_process_authenticates_with_keys_from_a_secret(kustomization: Path) -> None:
    """AUTH=jwt (dev mode has no credentials); the JWT secret is in the Secret, not the
    ConfigMap, and no container starts without that Secret."""
    docs = _render(kustomization)
    config = _config(docs)
    assert config["CHATSTREAM_AUTH"] == "jwt"
    assert "CHATSTREAM_JWT_SECRET" not in config
    secret = _by_kind(docs, "Secret")["chatstream-secrets"]
    assert "CHATSTREAM_JWT_SECRET" in secret["stringData"]
    for name, deployment in _by_kind(docs, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            refs = [e["secretRef"] for e in container.get("envFrom", []) if "secretRef" in e]
            assert any(r["name"] == "chatstream-secrets" and not r.get("optional")
                       for r in refs), f"{name}: the Secret is missing or optional"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_secure_defaults_at_the_edge(kustomization: Path) -> None:
    """#26: a metrics token from the Secret (its placeholder refused at start, so nobody
    runs with a guessable one and /metrics is never open), the ingress trusted for
    X-Forwarded-For, whole requests buffered by the ingress, and the edge keeping idle
    connections longer than the ingress reuses them."""
    docs = _render(kustomization)
    config = _config(docs)
    secret = _by_kind(docs, "Secret")["chatstream-secrets"]["stringData"]
    assert "CHATSTREAM_METRICS_TOKEN" not in config
    placeholder = secret["CHATSTREAM_METRICS_TOKEN"]
    assert placeholder
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token=placeholder)
    trusted = Settings.model_validate({"trusted_proxies": json.loads(
        config["CHATSTREAM_TRUSTED_PROXIES"])}).trusted_proxies
    assert trusted
    assert int(config["CHATSTREAM_KEEP_ALIVE_TIMEOUT_S"]) > 60  # ingress-nginx: 60 s
    ingress = _by_kind(docs, "Ingress")["chatstream-edge"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
