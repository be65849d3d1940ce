"""The side-by-side suite keeps working end to end: its quick profile measures every part
(direct upstream, embedded, Kafka in the production shape, ingestion, relay) in seconds and
rewrites a copy of docs/benchmarks.md. What it measures is checked for sense, never for
speed: each process's CPU is read, and every server sent the client the same chunking."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]


# Starting seven chatstream processes is slow on a busy machine; the suite has its own
# 20-minute deadline.
@pytest.mark.timeout(1500)
def test_quick_suite_measures_every_part_and_rewrites_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    shutil.copy(ROOT / "docs/benchmarks.md", doc)
    done = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--quick", "--doc", str(doc),
         "--img", str(tmp_path / "suite.png"), "--results-dir", str(tmp_path / "results")],
        cwd=ROOT, capture_output=True, text=True, timeout=1400,
        env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == 0, done.stdout + done.stderr
    [raw] = (tmp_path / "results").glob("suite-*-quick.json")
    res = json.loads(raw.read_text())
    assert res["failures"] == []

    rows = {(r["stack"], r["streams"]): r for r in res["side_by_side"]}
    # Closed loop at 1 and 2 streams, then open loop (streams 0) on every stack.
    assert set(rows) == {(s, n) for s in ("direct", "embedded", "kafka") for n in (0, 1, 2)}
    for row in rows.values():
        assert row["errors"] == 0 and row["answers"] > 0
        # The same chunking everywhere: one frame per upstream chunk.
        assert row["frames_per_answer"] == rows[("direct", 1)]["frames_per_answer"] == 50
        assert row["window"]["procs"]["load generator"]["cpu_s"] > 0
    kafka = rows[("kafka", 2)]
    for process in ("edge", "worker retrieval", "worker inference", "worker (others)",
                    "kafka", "cassandra"):
        assert process in kafka["ours"]
    assert kafka["window"]["procs"]["edge"]["cpu_s"] > 0
    assert kafka["server_ms_per_answer"] > 0

    # Every answer's records: one request, context, response and score record each, a
    # token record per frame (and the end), and the answer stored without a Paxos round.
    counted = res["records"]["kafka"]
    per_topic = {t: v["records"] for t, v in counted["topics"].items()}
    for topic in ("chat.requests.v1", "chat.contexts.v1", "chat.responses.v1",
                  "chat.scores.v1"):
        assert per_topic[topic] == 1, (topic, per_topic)
    assert per_topic["chat.tokens.v1"] >= 50
    assert counted["statements"] and not any(k.endswith("+if") for k in counted["statements"])
    assert "### Every answer's records" in doc.read_text()

    assert res["ingestion"]["accepted"] > 0
    assert res["ingestion"]["stored"] == res["ingestion"]["accepted"]
    assert res["ingestion"]["edge_ms_per_post"] > 0
    assert res["relay"] and res["relay"][0]["frames"] > 0

    text = doc.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    section = text[text.index(BEGIN):text.index(END)]
    assert "### Targets" in section and "Edge CPU per accepted POST" in section
    assert (tmp_path / "suite.png").stat().st_size > 0
    # Everything outside the markers is left as it was.
    original = (ROOT / "docs/benchmarks.md").read_text()

    def outside(t: str) -> str:
        if BEGIN not in t:
            return " ".join(t.split())
        return " ".join((t.split(BEGIN)[0] + t.split(END)[1]).split())

    assert outside(text) == outside(original)
