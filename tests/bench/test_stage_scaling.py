"""The stage scale-out benchmark runs (quick mode: scoring with 1 and 2 workers on the
real Kafka) and every event it loads comes out once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.servers import KAFKA, require

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.kafka
def test_quick_stage_scaling_reports_a_rate_per_worker_count(tmp_path: Path) -> None:
    require(KAFKA, "Kafka")
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "bench.stage_scaling", "--quick",
                           "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| stage   | workers |" in done.stdout
    results = json.loads(out.read_text())
    assert [(r["stage"], r["workers"]) for r in results] == [("scoring", 1), ("scoring", 2)]
    for r in results:
        assert r["messages"] == 100  # one score per response: nothing lost or doubled
        assert r["rate"] > 0
