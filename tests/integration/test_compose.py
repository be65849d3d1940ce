"""docker-compose.kafka.yml is complete and consistent (Docker cannot run on this machine,
so the file is checked statically: services, images, healthchecks, depends_on, settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.stages import ROLES, STAGE_NAMES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.kafka.yml"
# One worker service per role the registry names (but the role of every stage at once);
# together they run every stage once.
DEPLOYED = tuple(r for r in ROLES if r.name != "all")
SERVERS = {
    "kafka": "apache/kafka:3.9.1",
    "cassandra": "cassandra:5.0",
    "weaviate": "semitechnologies/weaviate:1.39.0",
}
APP_SERVICES = ("edge", *(f"worker-{role.name}" for role in DEPLOYED))
SETTINGS = {
    "CHATSTREAM_BROKER": "kafka://kafka:9092",
    "CHATSTREAM_STORE": "cassandra://cassandra:9042/chatstream",
    "CHATSTREAM_VECTORS": "weaviate://weaviate:8080",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...] form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_expected_service_is_declared(services: dict[str, dict[str, Any]]) -> None:
    expected = {*SERVERS, *APP_SERVICES, "prometheus", "grafana"}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


@pytest.mark.parametrize(("name", "image"), sorted(SERVERS.items()))
def test_servers_use_the_pinned_images(
    services: dict[str, dict[str, Any]], name: str, image: str
) -> None:
    assert services[name]["image"] == image


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if service.get("restart") == "no":  # one-shot jobs (topic creation) exit when done
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        test = check.get("test")
        assert test, f"{name}: healthcheck without a test"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: {test}"
            assert len(test) > 1


def test_kafka_runs_kraft_single_node(services: dict[str, dict[str, Any]]) -> None:
    env = env_of(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "kafka:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert "ZOOKEEPER" not in " ".join(env).upper()


def test_weaviate_has_no_modules(services: dict[str, dict[str, Any]]) -> None:
    env = env_of(services["weaviate"])
    assert env["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert env["ENABLE_MODULES"] == ""
    assert env["CLUSTER_HOSTNAME"]  # fixed: the raft node id is persisted in the volume
    assert "50051" in " ".join(services["weaviate"]["ports"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_are_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    build = services[name]["build"]
    assert build["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / build.get("context", ".") / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_command_settings_and_dependencies(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    command = service["command"]
    command = command.split() if isinstance(command, str) else command
    if name == "edge":
        assert command == ["chatstream", "edge"]
    else:
        assert command == ["chatstream", "worker", name.removeprefix("worker-")]

    env = env_of(service)
    for key, value in SETTINGS.items():
        assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}"

    depends = service["depends_on"]
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
    for server in SERVERS:
        assert depends[server]["condition"] == "service_healthy", f"{name} -> {server}"


def test_topics_are_created_before_the_app_starts(services: dict[str, dict[str, Any]]) -> None:
    topics = services["topics"]
    assert topics["command"] == ["chatstream", "topics", "create"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        condition = services[name]["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully"


def test_monitoring_services(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    mounts = [str(v).split(":")[0] for v in prometheus["volumes"]]
    assert "./deploy/prometheus/prometheus.yml" in mounts
    assert "edge" in prometheus["depends_on"]
    assert "prometheus" in services["grafana"]["depends_on"]
    for mount in mounts + [str(v).split(":")[0] for v in services["grafana"]["volumes"]]:
        assert (ROOT / mount).exists(), mount


def test_prometheus_scrapes_the_edge_and_every_worker() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = job.get("metrics_path", "/metrics")
    assert targets.get("edge:8000") == "/metrics"
    for role in DEPLOYED:
        assert targets.get(f"worker-{role.name}:9100") == "/metrics", role.name


def test_the_workers_run_every_stage_once() -> None:
    stages = [s for role in DEPLOYED for s in role.stages]
    assert sorted(stages) == sorted(STAGE_NAMES)


def test_prometheus_scrapes_with_the_metrics_token(compose: dict[str, Any],
                                                   services: dict[str, dict[str, Any]]) -> None:
    """/metrics answers another container only with the token (#26.9): the app requires
    it from .env, and Prometheus reads the same value from a file compose mounts."""
    for name in APP_SERVICES:
        token = env_of(services[name])["CHATSTREAM_METRICS_TOKEN"]
        assert token.startswith("${CHATSTREAM_METRICS_TOKEN:?"), name
    assert compose["configs"]["metrics-token"]["content"].startswith(
        "${CHATSTREAM_METRICS_TOKEN:?")
    [mounted] = services["prometheus"]["configs"]
    assert mounted == {"source": "metrics-token", "target": "/etc/prometheus/metrics-token"}
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        if job["job_name"] != "prometheus":
            assert job["authorization"] == {"credentials_file": mounted["target"]}, job


def test_dockerfile_installs_the_project() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert text.count("FROM ") == 1
    assert "FROM python:3.11-slim" in text
    assert "pip install -c requirements.lock ." in text  # the locked versions


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_authenticate_with_a_secret_from_the_env_file(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    """No open-by-default stack: AUTH=jwt everywhere, and the JWT secret is a required
    variable (from .env), never a value written in the file."""
    env = env_of(services[name])
    assert env["CHATSTREAM_AUTH"] == "jwt"
    assert env["CHATSTREAM_JWT_SECRET"].startswith("${CHATSTREAM_JWT_SECRET:?")


@pytest.mark.parametrize("name", [*SERVERS, "prometheus", "grafana"])
def test_servers_without_authentication_listen_on_loopback_only(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    for port in services[name]["ports"]:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"
