"""The benchmark scripts keep working: each runs in its quick mode (seconds) and prints
its table. The full runs, which produce the published figures, are not tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("module", "header"), [
    ("bench.pipeline_latency", "TTFT p50 ms"),
    ("bench.overhead", "added p50"),
    ("bench.ingestion", "every accepted stored"),
    ("bench.streams", "relay p50 ms"),
    ("bench.litellm_compare", "req/s"),
    ("bench.profile", "inclusive time"),
    ("bench.analytics_cost", "edge decodes"),
    ("bench.relay_memory", "KB held per answer"),
    pytest.param("bench.quota_writes", "conditional writes in all",
                 marks=pytest.mark.cassandra),
])
def test_quick_mode_prints_its_table(module: str, header: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert header in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) >= 2, done.stdout  # header and at least one measured row
    assert "NO" not in done.stdout.split()  # ingestion: every accepted message stored
