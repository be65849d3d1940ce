"""The Grafana dashboards and their provisioning: valid, wired into compose, and every
query names a metric chatstream exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.registry import REGISTRY

import kernel.telemetry.metrics  # noqa: F401  (registers the metrics)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))


def _exported() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else ():
            names |= {family.name, f"{family.name}_total", f"{family.name}_bucket",
                      f"{family.name}_count", f"{family.name}_sum"}
    return names


def test_dashboards_parse_and_query_exported_metrics() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"pipeline", "models"}
    exported = _exported()
    seen = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"]
        for panel in board["panels"]:
            for target in panel["targets"]:
                for name in re.findall(r"\bchatstream_[a-z_]+", target["expr"]):
                    assert name in exported, f"{path.name}: {panel['title']}: {name}"
                    seen.add(re.sub(r"_(bucket|total)$", "", name))
    assert seen >= {"chatstream_stage_handle_seconds", "chatstream_consumer_lag",
                    "chatstream_tokens_out", "chatstream_stage_events",
                    "chatstream_dead_letters", "chatstream_breaker_state",
                    "chatstream_failovers", "chatstream_quota_refusals",
                    "chatstream_ttft_seconds"}


def test_compose_provisions_the_dashboards() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/chatstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"]}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] in uids
